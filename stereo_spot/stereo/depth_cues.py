"""Weight-free depth: priors about where near and far things sit in a picture.

No learned model: the ``classical`` engine's depth is a fixed geometric prior (the ground plane:
lower in the frame is nearer; and the subject: the centre of the frame is nearer than its sides),
aligned to the picture's own edges with a guided filter so depth steps follow object outlines.
Every cue maps to depth through fixed ranges, never a per-frame or per-segment min/max, so every
frame and every segment of a video maps depth the same way (no flicker, no seams).

Measured rank correlation with the true disparity of the Middlebury motorcycle pair
(``benchmarks/render_view_quality.py``): vertical ramp alone 0.666, with the centre prior 0.694,
after the guided filter 0.693 (no measurable change: the filter is there so depth steps follow
object outlines, not for the score). Cues tried and left out because they lowered it there:
local sharpness (-0.14 alone), colour saturation (-0.28 alone), ground-contact propagation along
columns (0.66 -> 0.62..0.66).
"""

from __future__ import annotations

import cv2
import numpy as np

# Width of the image the cues are computed on; depth is smooth, so this is plenty and keeps the
# cue stage well under a millisecond per frame.
WORK_WIDTH = 192

# Depth at the top and at the bottom of the frame (the ground plane prior).
TOP_DEPTH = 0.0
BOTTOM_DEPTH = 0.85
# Extra depth of the frame's centre column over its sides (the subject prior). 0.15 of the 0..1
# range lifts the rank correlation on the motorcycle pair from 0.666 to 0.694.
CENTRE_WEIGHT = 0.15
# Guided filter: radius in work pixels and regularisation (grey levels in 0..1).
GUIDE_RADIUS = 6
GUIDE_EPS = 2e-3


def work_size(width: int, height: int, work_width: int = WORK_WIDTH) -> tuple[int, int]:
    """(w, h) of the reduced image the cues are computed on, keeping the aspect ratio."""
    w = max(2, min(width, work_width))
    h = max(2, round(height * w / width))
    return w, h


def prior_depth(width: int, height: int) -> np.ndarray:
    """The picture-independent depth prior (ground plane + subject) at ``width`` x ``height``."""
    rows = np.linspace(TOP_DEPTH, BOTTOM_DEPTH, height, dtype=np.float32)
    cols = 1.0 - np.abs(np.linspace(-1.0, 1.0, width, dtype=np.float32))
    return (rows[:, None] + np.float32(CENTRE_WEIGHT) * cols[None, :]).astype(np.float32)


def _guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter (grey guide): ``src`` smoothed, with edges taken from ``guide``."""
    size = (2 * radius + 1, 2 * radius + 1)
    mean_i = cv2.blur(guide, size)
    mean_p = cv2.blur(src, size)
    cov_ip = cv2.blur(guide * src, size) - mean_i * mean_p
    var_i = cv2.blur(guide * guide, size) - mean_i * mean_i
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    return cv2.blur(a, size) * guide + cv2.blur(b, size)


def estimate_depth_small(frame: np.ndarray, work_width: int = WORK_WIDTH) -> np.ndarray:
    """Weight-free depth of an H x W x 3 uint8 RGB frame at the reduced work resolution
    (float32, [0, 1], 1 = nearest)."""
    height, width = frame.shape[:2]
    w, h = work_size(width, height, work_width)
    small = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(1 / 255)
    depth = _guided_filter(grey, prior_depth(w, h), GUIDE_RADIUS, GUIDE_EPS)
    return np.clip(depth, 0.0, 1.0).astype(np.float32)


def upsample_depth(depth: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize of a depth map to the frame size."""
    if depth.shape == (height, width):
        return depth
    return cv2.resize(depth, (width, height), interpolation=cv2.INTER_LINEAR)


def estimate_depth(frame: np.ndarray, work_width: int = WORK_WIDTH) -> np.ndarray:
    """Weight-free depth of one frame at full resolution (no temporal smoothing)."""
    height, width = frame.shape[:2]
    return upsample_depth(estimate_depth_small(frame, work_width), width, height)
