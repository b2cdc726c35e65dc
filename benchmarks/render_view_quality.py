"""Quality of the stereo maths on the Middlebury motorcycle pair (shipped in scikit-image).

Prints PSNR of the right eye rendered from the left eye and the TRUE disparity (all pixels, and
non-occluded = right-view pixels that received a splat from a visible left pixel), the
right := left baseline, and the rank correlation of the weight-free depth with the true
disparity.  Run: ``python benchmarks/render_view_quality.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from stereo_spot.stereo.depth_cues import estimate_depth, prior_depth
from stereo_spot.stereo.view_synthesis import render_right_view


def _psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    error = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    if mask is not None:
        error = error[mask]
    return float(10 * np.log10(255.0**2 / error.mean()))


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a)).astype(np.float64)
    rb = np.argsort(np.argsort(b)).astype(np.float64)
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    data = Path(importlib.util.find_spec("skimage").submodule_search_locations[0]) / "data"
    left = cv2.cvtColor(cv2.imread(str(data / "motorcycle_left.png")), cv2.COLOR_BGR2RGB)
    right = cv2.cvtColor(cv2.imread(str(data / "motorcycle_right.png")), cv2.COLOR_BGR2RGB)
    disparity = np.load(data / "motorcycle_disp.npz")["arr_0"]
    valid = np.isfinite(disparity)

    rendered, covered = render_right_view(left, disparity, return_covered=True)
    rows = [
        ("render-view, true disparity: PSNR all", f"{_psnr(rendered, right):.2f} dB"),
        ("render-view: PSNR non-occluded", f"{_psnr(rendered, right, covered):.2f} dB"),
        ("  non-occluded share of the frame", f"{covered.mean():.1%}"),
        ("right := left: PSNR all", f"{_psnr(left, right):.2f} dB"),
    ]
    height, width = disparity.shape
    for name, depth in [
        ("vertical + centre prior only", prior_depth(width, height)),
        ("weight-free depth (classical engine)", estimate_depth(left)),
    ]:
        rho = _rank_correlation(depth[valid], disparity[valid])
        rows.append((f"rank correlation, {name}", f"{rho:.3f}"))
    rows.append(
        (
            "rank correlation, vertical ramp alone",
            f"{_rank_correlation(np.indices((height, width))[0][valid], disparity[valid]):.3f}",
        )
    )
    label = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{label}}  {value:>9}")


if __name__ == "__main__":
    main()
