"""Depth to disparity (DESIGN.md, Stereo engine notes).

Disparity in pixels is ``divergence / 100 * width * (depth - convergence)``
(:meth:`stereo_spot.domain.StereoParams.disparity`): content nearer than
the convergence depth gets a positive disparity (``x_right = x_left - d``: it shifts left in the
right eye and appears in front of the screen), farther content a negative one.
"""

from __future__ import annotations

import numpy as np

from stereo_spot.domain import StereoParams

# With edges_at_screen the disparity fades to zero over this fraction of the frame at each
# border, so nothing in front of the screen is cut by the frame (a window violation).
EDGE_TAPER_FRACTION = 0.05


def _taper(n: int, margin: int) -> np.ndarray:
    """1 in the middle, ramping linearly to 0 at both ends over ``margin`` samples."""
    if margin <= 0 or n <= 1:
        return np.ones(n, dtype=np.float32)
    pos = np.arange(n, dtype=np.float32)
    dist = np.minimum(pos, n - 1 - pos)
    return np.clip(dist / margin, 0.0, 1.0).astype(np.float32)


def disparity_from_depth(
    depth: np.ndarray, params: StereoParams, width: int | None = None
) -> np.ndarray:
    """Float32 disparity in pixels (H x W) for a depth map in [0, 1] (1 = nearest).

    ``width`` is the frame width the disparity is expressed in; it defaults to the depth map's
    own width (pass the full frame width when the depth map is at a reduced resolution).
    """
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f"expected a 2-D depth map, got shape {depth.shape}")
    height, depth_width = depth.shape
    width = depth_width if width is None else int(width)
    disparity = params.disparity(depth, width)
    if params.edges_at_screen:
        columns = _taper(depth_width, round(EDGE_TAPER_FRACTION * depth_width))
        rows = _taper(height, round(EDGE_TAPER_FRACTION * height))
        disparity *= rows[:, None] * columns[None, :]
    return disparity.astype(np.float32, copy=False)
