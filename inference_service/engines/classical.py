"""The ``classical`` engine: weight-free depth cues + temporal smoothing + DIBR, on the CPU.

The embedded default and what CI exercises end to end (DESIGN.md, Inference service). All the
maths lives in :mod:`stereo_spot.stereo`; this class streams frames through it. Per-stream state
(the temporal smoother) lives inside one ``convert`` / ``estimate_depth`` call, so one engine
instance can serve any number of streams one after another.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

import numpy as np

from stereo_spot.domain import Layout, StereoParams
from stereo_spot.errors import EngineError
from stereo_spot.stereo.depth_cues import (
    WORK_WIDTH,
    MotionParallax,
    depth_from_grey,
    upsample_depth,
    work_grey,
)
from stereo_spot.stereo.render import render_depth_stream, right_view_stream
from stereo_spot.stereo.temporal import (
    DEFAULT_ALPHA,
    DEFAULT_CUT_THRESHOLD,
    DepthSmoother,
    frame_thumbnail,
    is_scene_cut,
)

# Frames the temporal average is warm-started on (run backwards) before a stream's first frame:
# with smoothing 0.3 the weight left on the cold start after 12 frames is 0.7**12 = 1.4 %.
WARM_START_FRAMES = 12


def check_frame(frame: object, index: int, size: tuple[int, int] | None) -> np.ndarray:
    """The frame as an H x W x 3 uint8 array, or an EngineError saying what is wrong with it."""
    if not isinstance(frame, np.ndarray):
        raise EngineError(
            f"Frame {index} is a {type(frame).__name__}, not an H x W x 3 uint8 RGB image."
        )
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise EngineError(
            f"Frame {index} is a {frame.dtype} array of shape {frame.shape}, "
            "not an H x W x 3 uint8 RGB image."
        )
    height, width = frame.shape[:2]
    if height < 2 or width < 2:
        raise EngineError(f"Frame {index} is {width}x{height} pixels, too small to convert.")
    if size is not None and (width, height) != size:
        raise EngineError(
            f"Frame {index} is {width}x{height} but the stream started at "
            f"{size[0]}x{size[1]}; every frame of a stream must have the same size."
        )
    return np.ascontiguousarray(frame)


class ClassicalEngine:
    """Weight-free 2D-to-3D conversion (implements ``StereoEngine``)."""

    name = "classical"

    def __init__(
        self,
        *,
        work_width: int = WORK_WIDTH,
        smoothing: float = DEFAULT_ALPHA,
        cut_threshold: float = DEFAULT_CUT_THRESHOLD,
        motion: bool = True,
        warm_start: int = WARM_START_FRAMES,
    ) -> None:
        self.work_width = int(work_width)
        self.smoothing = float(smoothing)
        self.cut_threshold = float(cut_threshold)
        self.motion = bool(motion)
        self.warm_start = int(warm_start)

    def _cue_stream(
        self, frames: Iterable[np.ndarray], motion: MotionParallax
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(frame, its work-size grey, raw depth cue at the work resolution: static prior +
        motion parallax measured by ``motion``) per frame; the motion cue restarts at scene
        cuts."""
        thumb = None
        for frame in frames:
            grey = work_grey(frame, self.work_width)
            # Scene cuts are judged on the work-size grey: the same picture, a fraction of the
            # cost of thumbnailing the full frame.
            previous, thumb = thumb, frame_thumbnail(grey)
            if previous is not None and is_scene_cut(previous, thumb, self.cut_threshold):
                motion.reset()
            if self.motion:
                yield frame, grey, depth_from_grey(grey, *motion.update(grey))
            else:
                yield frame, grey, depth_from_grey(grey)

    def _depth_stream(
        self, frames: Iterable[np.ndarray]
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(frame, smoothed depth at the work resolution) per frame of one stream."""
        smoother = DepthSmoother(self.smoothing, self.cut_threshold)
        checked = self._checked(frames)
        head = list(itertools.islice(checked, max(1, self.warm_start)))
        warm = len(head) > 1
        motion = MotionParallax()
        if warm:
            # The motion cue's averages are warm-started too: those of the backward run stand
            # for the shot before the stream's first frame (the cue has no direction sign, so
            # frames run backwards measure as forwards). Started cold, the cue ramped up from
            # nothing in every segment: on a travelling camera the depth jumped at each
            # boundary (5.7 px at 640 px on a pan the cue then misread as parallax).
            backward = MotionParallax()
            _, greys, backwards = zip(*self._cue_stream(head[::-1], backward), strict=True)
            smoother.prime(list(backwards[::-1]), list(greys[::-1]))
            motion.take_averages_from(backward)
        # The first frame's motion is measured against the second (the cue has no direction
        # sign), so every frame of a stream carries the motion cue, its first included.
        cues = self._cue_stream(itertools.chain(head[1:2], head, checked), motion)
        if warm:
            next(cues)
        for frame, grey, cue in cues:
            yield frame, smoother.update(cue, grey)

    @staticmethod
    def _checked(frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        size: tuple[int, int] | None = None
        for index, raw in enumerate(frames):
            frame = check_frame(raw, index, size)
            size = (frame.shape[1], frame.shape[0])
            yield frame

    def estimate_depth(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for frame, depth in self._depth_stream(frames):
            yield upsample_depth(depth, frame.shape[1], frame.shape[0])

    def convert(
        self, frames: Iterable[np.ndarray], layout: Layout, params: StereoParams
    ) -> Iterator[np.ndarray]:
        return render_depth_stream(self._depth_stream(frames), layout, params)

    def right_views(
        self, frames: Iterable[np.ndarray], params: StereoParams
    ) -> Iterator[np.ndarray]:
        return right_view_stream(self._depth_stream(frames), params)
