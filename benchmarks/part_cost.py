"""What converting a part costs over converting the same frames whole.

A part that does not start on a keyframe and run to the end is re-encoded once by the chunk
step (near-lossless x264, a keyframe at every segment boundary) before it is split. This
converts a clip whole and as the part from its second frame (all but one frame, so the
conversions do the same work but for that cut), rounds alternating, and prints each time, the
cut alone (in this process), and the part's cost over the whole as a ratio of medians.

    python benchmarks/part_cost.py [--seconds 30] [--height 720] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from pipeline_speed import make_clip, timed

from stereo_spot.domain import Part
from stereo_spot.media.excerpt import cut_part
from stereo_spot.media.probe import probe_source
from stereo_spot.settings import Settings


def timed_convert(clip: Path, output: Path, data: Path, part: tuple[str, ...]) -> float:
    """``stereo-spot convert`` as a user runs it (the virtual environment's bin on PATH)."""
    command = ["stereo-spot", "convert", str(clip), "-o", str(output), "--data-dir", str(data)]
    seconds, _ = timed([*command, *part], os.environ.copy())
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="part-cost-") as tmp:
        work = Path(tmp)
        clip = work / "clip.mp4"
        make_clip(clip, args.height * 16 // 9, args.height, args.seconds)
        info = probe_source(clip, Settings())
        second_frame = f"{1 / info.fps:.6f}"
        began = time.perf_counter()
        cut_part(clip, info, Part(start=1 / info.fps), work / "part.mkv", 10.0)
        cut = time.perf_counter() - began
        whole, part = [], []
        for number in range(args.rounds):
            runs = [("whole", whole, ()), ("part", part, ("--start", second_frame))]
            for name, times, extra in runs if number % 2 == 0 else reversed(runs):
                data = work / f"data-{name}-{number}"
                times.append(timed_convert(clip, work / f"{name}-{number}.mp4", data, extra))
                print(f"round {number + 1}: {name} {times[-1]:.1f} s", flush=True)
        print(f"{info.frames} frames at {info.width}x{info.height}, {info.fps:g} fps")
        print(f"the cut alone, in this process: {cut:.1f} s ({info.frames / cut:.0f} fps)")
        ratio = statistics.median(part) / statistics.median(whole)
        print(f"whole {statistics.median(whole):.1f} s, part {statistics.median(part):.1f} s: "
              f"the part costs {ratio:.2f} x the whole")  # fmt: skip


if __name__ == "__main__":
    main()
