"""How well the weight-free depth ranks like the truth, on a still picture and on video.

Still picture: rank (Spearman) correlation of the classical engine's depth with the true
disparity of the Middlebury motorcycle pair (scikit-image), against the vertical prior alone.

Video: a synthetic travelling shot with known depth. Frame k is the motorcycle left view seen
from a camera moved sideways by ``k - N/2`` steps: rendered from the left image and the true
disparity scaled by the camera offset (``render_right_view``), plus, for the "pan" case, a
global shift on top (a camera that also turns). Its true disparity is the true disparity carried
along the same warp. The engine's depth of every frame is compared with it, with the motion cue
on and off. Run: ``python benchmarks/depth_quality.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from inference_service.engines.classical import ClassicalEngine
from stereo_spot.stereo.depth_cues import estimate_depth, prior_depth
from stereo_spot.stereo.view_synthesis import fill_invalid_disparity, render_right_view


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a)).astype(np.float64)
    rb = np.argsort(np.argsort(b)).astype(np.float64)
    return float(np.corrcoef(ra, rb)[0, 1])


def motorcycle() -> tuple[np.ndarray, np.ndarray]:
    data = Path(importlib.util.find_spec("skimage").submodule_search_locations[0]) / "data"
    left = cv2.cvtColor(cv2.imread(str(data / "motorcycle_left.png")), cv2.COLOR_BGR2RGB)
    return left, np.load(data / "motorcycle_disp.npz")["arr_0"]


def travelling_shot(
    left: np.ndarray, disparity: np.ndarray, frames: int, step: float, pan: float
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames of a sideways camera move over the pair's scene and their true disparity."""
    filled = fill_invalid_disparity(disparity)
    # Disparity carried through the same warp as the picture: encoded in 8 bits (x4, max 60).
    code = np.repeat(np.clip(filled * 4, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    pictures, truths = [], []
    for k in range(frames):
        offset = k - (frames - 1) / 2
        shift = filled * np.float32(step * offset) + np.float32(pan * offset)
        pictures.append(render_right_view(left, shift))
        truths.append(render_right_view(code, shift)[..., 0].astype(np.float32) / 4)
    return pictures, truths


def score(depths, truths, margin: int) -> float:
    """Mean rank correlation over the frames, away from the borders the camera move uncovers."""
    values = []
    for depth, truth in zip(depths, truths, strict=True):
        d, t = depth[:, margin:-margin], truth[:, margin:-margin]
        values.append(rank_correlation(d.ravel()[::7], t.ravel()[::7]))
    return float(np.mean(values))


def main() -> None:
    left, disparity = motorcycle()
    valid = np.isfinite(disparity)
    height, width = disparity.shape
    rows = [
        ("still: vertical ramp alone", np.indices((height, width))[0]),
        ("still: vertical + centre prior", prior_depth(width, height)),
        ("still: classical engine (static cues)", estimate_depth(left)),
    ]
    for name, depth in rows:
        print(f"{name:<68} {rank_correlation(depth[valid], disparity[valid]):.3f}")
    for label, step, pan in [
        ("travel", 0.08, 0.0),
        ("travel + pan", 0.08, 3.0),
        ("pan only (no parallax)", 0.0, 3.0),
        ("slow travel (below the cue's threshold)", 0.03, 0.0),
    ]:
        pictures, truths = travelling_shot(left, disparity, 24, step, pan)
        margin = int(abs(pan) * 12 + 60 * step * 12) + 1
        for motion in (False, True):
            engine = ClassicalEngine(motion=motion)
            rho = score(list(engine.estimate_depth(pictures)), truths, margin)
            cue = "prior + motion parallax" if motion else "static cues only"
            print(f"{'video, ' + label + ': ' + cue:<68} {rho:.3f}")


if __name__ == "__main__":
    main()
