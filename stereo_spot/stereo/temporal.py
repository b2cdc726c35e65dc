"""Temporal smoothing of per-frame depth, reset at scene cuts.

Per-frame depth cues jitter from frame to frame; an exponential moving average calms them
(DESIGN.md: per-frame normalisation flickers). Across a scene cut the previous shot's depth is
meaningless, so the average restarts there. One :class:`DepthSmoother` per stream: it holds that
stream's state and is not shared between streams.
"""

from __future__ import annotations

import cv2
import numpy as np

# Weight of the new frame in the moving average (0.3: a ~3-frame time constant).
DEFAULT_ALPHA = 0.3
# A scene cut: mean absolute difference of 32x18 grey thumbnails (0..255) above this. Between
# consecutive bigbuckbunny frames it is 0.7 (median) to 3.4 (max); not tuned on real cuts yet.
DEFAULT_CUT_THRESHOLD = 24.0
_THUMB = (32, 18)


def frame_thumbnail(frame: np.ndarray) -> np.ndarray:
    """A tiny float32 grey thumbnail used to compare consecutive frames."""
    small = cv2.resize(frame, _THUMB, interpolation=cv2.INTER_AREA)
    if small.ndim == 3:
        small = small.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return small.astype(np.float32)


def is_scene_cut(previous: np.ndarray, current: np.ndarray, threshold: float) -> bool:
    """Whether two thumbnails from :func:`frame_thumbnail` belong to different shots."""
    return float(np.mean(np.abs(previous - current))) > threshold


class DepthSmoother:
    """Exponential moving average of depth maps that restarts at scene cuts."""

    def __init__(
        self, alpha: float = DEFAULT_ALPHA, cut_threshold: float = DEFAULT_CUT_THRESHOLD
    ) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError("alpha must be in (0, 1]")
        self.alpha = float(alpha)
        self.cut_threshold = float(cut_threshold)
        self._depth: np.ndarray | None = None
        self._thumb: np.ndarray | None = None
        self.cuts = 0

    def prime(self, depths: list[np.ndarray], frames: list[np.ndarray]) -> None:
        """Warm start: run the average backwards over the first frames of a stream (depth cues
        and frames in stream order), so the stream's first frame starts from a settled state.

        A segment cut out of a longer video otherwise starts from its first frame's raw cue
        while the same frame in the one-piece run carries the average of the frames before it;
        the backward run stands in for that history (a scene cut inside it stops it there, as
        the forward run would). The forward run then starts at the first frame again.
        """
        for depth, frame in zip(reversed(depths), reversed(frames), strict=True):
            self.update(depth, frame)
        self.cuts = 0

    def update(self, depth: np.ndarray, frame: np.ndarray) -> np.ndarray:
        """Blend ``depth`` (the cue for ``frame``) into the running average and return it.

        ``frame`` is only compared with the previous one for scene cuts: any size, RGB or grey
        (a reduced copy of the picture is as good and cheaper)."""
        thumb = frame_thumbnail(frame)
        restart = (
            self._depth is None
            or self._depth.shape != depth.shape
            or is_scene_cut(self._thumb, thumb, self.cut_threshold)
        )
        if restart:
            if self._depth is not None:
                self.cuts += 1
            self._depth = depth.astype(np.float32, copy=True)
        else:
            self._depth += np.float32(self.alpha) * (depth - self._depth)
        self._thumb = thumb
        return self._depth.copy()
