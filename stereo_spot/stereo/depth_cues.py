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


def work_grey(frame: np.ndarray, work_width: int = WORK_WIDTH) -> np.ndarray:
    """The frame reduced to the work resolution, as uint8 grey."""
    height, width = frame.shape[:2]
    w, h = work_size(width, height, work_width)
    if width > 2 * w and height > 2 * h:
        # Area averaging at a non-integer ratio (1280 -> 192) costs ~1.9 ms a 720p frame; a
        # bilinear step to twice the work size first, then an exact 2:1 average, costs 0.4 ms and
        # differs from it by under one grey level on average (the grey only guides the depth).
        frame = cv2.resize(frame, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    small = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)


def depth_from_grey(grey: np.ndarray, nearness: np.ndarray | None = None, weight: float = 0.0):
    """Depth at the work resolution from the work-size grey picture: the prior, blended with a
    motion ``nearness`` map (0..1) by ``weight``, edge-aligned to the picture."""
    h, w = grey.shape
    guide = grey.astype(np.float32) * np.float32(1 / 255)
    cue = prior_depth(w, h)
    if nearness is not None and weight > 0.0:
        cue = cue + np.float32(weight) * (nearness - cue)
    depth = _guided_filter(guide, cue, GUIDE_RADIUS, GUIDE_EPS)
    return np.clip(depth, 0.0, 1.0).astype(np.float32)


def estimate_depth_small(frame: np.ndarray, work_width: int = WORK_WIDTH) -> np.ndarray:
    """Weight-free depth of an H x W x 3 uint8 RGB frame at the reduced work resolution
    (float32, [0, 1], 1 = nearest). Static cues only (one picture has no motion)."""
    return depth_from_grey(work_grey(frame, work_width))


class MotionParallax:
    """Nearness from motion parallax: optical flow between consecutive frames of one stream.

    When the camera travels, near things move across the picture faster than far ones; so do
    subjects moving on their own (motion segmentation for free). DIS optical flow on the
    work-size grey frames (~0.4 ms at 192 x 108) gives per-pixel motion, turned into nearness
    as :meth:`update` explains. The weight of the cue
    grows with the spread of the parallax (how much depth the motion actually reveals) up to
    ``MAX_WEIGHT``; a static camera or a pure pan gives weight 0 and the static prior alone.
    One instance per stream.
    """

    FAR_PERCENTILE = 10.0
    SAMPLE_STEP = 7
    # The spread of parallax (work pixels per frame, FAR_PERCENTILE to its mirror) over which
    # the cue's weight ramps from 0 to MAX_WEIGHT.
    SPREAD_START, SPREAD_FULL = 0.15, 0.6
    MAX_WEIGHT = 0.7
    # Trust in the flow: the share of the frame-to-frame change it explains, ramped from
    # GAIN_START to GAIN_FULL; below MIN_CHANGE grey levels of mean change nothing moved.
    GAIN_START, GAIN_FULL = 0.3, 0.6
    MIN_CHANGE = 0.5
    # Parallax in the flow: the share of what the median shift leaves unexplained that the flow
    # explains, ramped from PARALLAX_START to PARALLAX_FULL (see :meth:`_trust`).
    PARALLAX_START, PARALLAX_FULL = 0.03, 0.12
    # OpenCV's DIS flow crashes the process (a segfault, not an exception) on some images under
    # 32 pixels high or wide: 192 x 31 does, 64 x 31 does not. A video wider than 6:1 has a
    # work image that low, and gets the static cues alone.
    MIN_FLOW_SIZE = 32
    # Correlation between the motion axis and the prior above which its near end is sure.
    SURE_AGREEMENT = 0.2

    # The cue's weight is averaged over time (time constant ~12 frames, half a second at 24 fps):
    # measured per frame it jumps with the flow's noise, and the depth with it. On bikes (a real
    # moving camera) this took the flicker from 0.0485 to 0.0197 px and the worst seam between
    # 1-second pieces and one piece from 36.0 to 43.0 dB; 0.15 gave 0.0250 px / 38.1 dB, 0.04
    # 0.0155 px / 44.0 dB at the price of a cue that takes over a second to follow the camera.
    WEIGHT_ALPHA = 0.08
    # The nearness map is averaged too, more briefly (~4 frames): on bikes the flicker went on
    # from 0.0197 to 0.0154 px and the worst seam from 43.0 to 44.8 dB, and the synthetic
    # travelling shot scored slightly better (0.705 -> 0.708). 0.15 measured the same within
    # noise, with more lag.
    NEARNESS_ALPHA = 0.25

    def __init__(self) -> None:
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._previous: np.ndarray | None = None
        self.reset()

    def reset(self) -> None:
        self._previous = None
        self._weight: float | None = None
        self._nearness: np.ndarray | None = None
        # Measurements in each average so far: until there are 1 / ALPHA of them the average is
        # their plain mean, so it starts from what the shot shows rather than from one frame.
        self._weights_seen = 0
        self._nearness_seen = 0

    def take_averages_from(self, other: MotionParallax) -> None:
        """Start this stream's averages (weight and nearness) where ``other``'s stand, its
        frames not included: the warm start of a stream cut out of a longer one, from a run
        over its first frames (see ``ClassicalEngine``). Without it the cue starts cold in every
        segment and the depth jumps at each boundary where the camera travels."""
        self._weight = other._weight
        self._nearness = None if other._nearness is None else other._nearness.copy()
        self._weights_seen = other._weights_seen
        self._nearness_seen = other._nearness_seen

    def _measurable(self, grey: np.ndarray) -> bool:
        """Whether :meth:`measure` can measure this frame: it has a previous frame of its size,
        big enough for the flow. Otherwise it returns (None, 0) but has measured nothing."""
        previous = self._previous
        return (
            previous is not None
            and previous.shape == grey.shape
            and min(grey.shape) >= self.MIN_FLOW_SIZE
        )

    def update(self, grey: np.ndarray) -> tuple[np.ndarray | None, float]:
        """(nearness in 0..1 or None, weight) for this work-size grey frame: time averages of
        what :meth:`measure` finds frame by frame. A frame with nothing to measure against (a
        stream's first) leaves the averages as they are: counted as a 0 it would start every
        stream's cue from nothing, ramping up over a second."""
        measurable = self._measurable(grey)
        nearness, weight = self.measure(grey)
        if not measurable:
            if self._weight is None or self._nearness is None:
                return None, 0.0
            return self._nearness.copy(), self._weight
        self._weights_seen += 1
        alpha = max(self.WEIGHT_ALPHA, 1.0 / self._weights_seen)
        self._weight = (
            weight if self._weight is None else self._weight + alpha * (weight - self._weight)
        )
        if nearness is None:
            return None, 0.0
        if self._nearness is not None and self._nearness.shape != nearness.shape:
            self._nearness, self._nearness_seen = None, 0
        self._nearness_seen += 1
        alpha = max(self.NEARNESS_ALPHA, 1.0 / self._nearness_seen)
        if self._nearness is None:
            self._nearness = nearness.copy()
        else:
            self._nearness += np.float32(alpha) * (nearness - self._nearness)
        return self._nearness.copy(), self._weight

    @staticmethod
    def _unexplained(
        previous: np.ndarray, grey: np.ndarray, dx, dy, border: int = cv2.BORDER_CONSTANT
    ) -> float:
        """Mean grey-level difference left between ``grey`` and ``previous`` moved by the flow
        (dx, dy: arrays, or one vector). The flow maps previous -> current: the current pixel x
        came from x - flow (approximately)."""
        h, w = grey.shape
        grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        warped = cv2.remap(previous, grid_x - dx, grid_y - dy, cv2.INTER_LINEAR, borderMode=border)
        return float(np.mean(cv2.absdiff(warped, grey)))

    def _trust(self, previous: np.ndarray, grey: np.ndarray, flow: np.ndarray) -> float:
        """0..1: how far the flow is real motion, and that motion parallax.

        Two shares, each ramped to 0..1, multiplied. Of the frame-to-frame change, the share the
        flow explains (against no motion at all): flow fitted to noise or grain explains little,
        real motion most of the change. Of what one global shift (the median flow: a pan or a
        tilt) leaves unexplained, the share the flow explains: a pan over a flat picture is
        explained best by the shift itself, and the flow's own error on a sub-pixel pan reads
        as parallax otherwise. Per frame, -0.1 to -0.65 on ffmpeg crop pans over scikit-image
        pictures (where that error had given the cue weights of 0.3-0.7); +0.24 to +0.30 for the
        camera travelling over the motorcycle scene (benchmarks/depth_quality.py), +0.37 at the
        median on bikes. That comparison repeats the borders outward, where a pan brings in
        picture the previous frame lacks: a black border counts it as error of both warps and
        dilutes the share (bikes' median +0.01). The first keeps its black border, with which
        its ramp was tuned (repeated, bikes' cue was on in 30 % of the frames instead of 13 %).
        """
        still = float(np.mean(cv2.absdiff(previous, grey)))
        if still < self.MIN_CHANGE:
            return 0.0
        moved = self._unexplained(previous, grey, flow[..., 0], flow[..., 1])
        motion = (1.0 - moved / still - self.GAIN_START) / (self.GAIN_FULL - self.GAIN_START)
        if motion <= 0.0:
            return 0.0
        shift = np.median(flow.reshape(-1, 2), axis=0)
        repeat = cv2.BORDER_REPLICATE
        shifted = self._unexplained(previous, grey, float(shift[0]), float(shift[1]), repeat)
        if shifted <= 0.0:
            return 0.0
        moved = self._unexplained(previous, grey, flow[..., 0], flow[..., 1], repeat)
        beyond = 1.0 - moved / shifted
        parallax = (beyond - self.PARALLAX_START) / (self.PARALLAX_FULL - self.PARALLAX_START)
        return float(min(motion, 1.0) * np.clip(parallax, 0.0, 1.0))

    def measure(self, grey: np.ndarray) -> tuple[np.ndarray | None, float]:
        """(nearness in 0..1 or None, weight) measured on this work-size grey frame alone."""
        previous, self._previous = self._previous, grey
        if previous is None or previous.shape != grey.shape:
            return None, 0.0
        if min(grey.shape) < self.MIN_FLOW_SIZE:
            return None, 0.0
        flow = self._flow.calc(previous, grey, None)
        trust = self._trust(previous, grey, flow)
        if trust <= 0.0:
            return None, 0.0
        # Parallax from a travelling camera runs along one direction (that of the travel), with
        # a size that grows with nearness; a pan or tilt adds the same vector everywhere. So:
        # remove the median flow and project on the main axis of what remains. Which end of
        # that axis is near is decided by the static prior (the ground under the camera moves
        # more than the sky).
        flow -= np.median(flow.reshape(-1, 2), axis=0)
        flow = cv2.blur(flow, (5, 5))
        vectors = flow.reshape(-1, 2)[:: self.SAMPLE_STEP]
        _, _, axes = np.linalg.svd(vectors - vectors.mean(axis=0), full_matrices=False)
        along = flow[..., 0] * axes[0, 0] + flow[..., 1] * axes[0, 1]
        samples = along.ravel()[:: self.SAMPLE_STEP]
        prior = prior_depth(grey.shape[1], grey.shape[0]).ravel()[:: self.SAMPLE_STEP]
        agreement = float(np.corrcoef(samples, prior)[0, 1]) if samples.std() > 0 else 0.0
        if agreement < 0:
            along = -along
        # Where the prior barely tells the ends apart the cue fades out, rather than remember
        # which end was near in earlier frames (a segment's depth would then depend on where it
        # starts).
        trust *= min(1.0, abs(agreement) / self.SURE_AGREEMENT)
        low, high = np.percentile(
            along.ravel()[:: self.SAMPLE_STEP], [self.FAR_PERCENTILE, 100.0 - self.FAR_PERCENTILE]
        )
        spread = float(high - low)
        weight = (
            trust
            * self.MAX_WEIGHT
            * float(
                np.clip((spread - self.SPREAD_START) / (self.SPREAD_FULL - self.SPREAD_START), 0, 1)
            )
        )
        if weight <= 0.0:
            return None, 0.0
        # Scale-free above SPREAD_FULL (camera speed does not matter); fixed below it, so a
        # nearly static shot's noise is not stretched into depth.
        nearness = np.clip((along - low) / np.float32(max(spread, self.SPREAD_FULL)), 0.0, 1.0)
        return nearness.astype(np.float32), weight


def upsample_depth(depth: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize of a depth map to the frame size."""
    if depth.shape == (height, width):
        return depth
    return cv2.resize(depth, (width, height), interpolation=cv2.INTER_LINEAR)


def estimate_depth(frame: np.ndarray, work_width: int = WORK_WIDTH) -> np.ndarray:
    """Weight-free depth of one frame at full resolution (no temporal smoothing)."""
    height, width = frame.shape[:2]
    return upsample_depth(estimate_depth_small(frame, work_width), width, height)
