"""From a frame and its disparity to the packed stereo frame the encoder takes.

The default output, a Dubois anaglyph, is rendered in one pass per scanline: where each right-eye
pixel comes from (:func:`~stereo_spot.stereo.view_synthesis.splat_frame_row`), the right eye
resampled exactly as :func:`~stereo_spot.stereo.view_synthesis.render_right_view` resamples it and
looked up straight into linear light, then Dubois' matrices
(:func:`~stereo_spot.stereo.layouts.dubois_row`). The result is bit for bit the anaglyph of the
rendered eye; the right eye just never goes through memory as an image (~12 -> ~10.4 ms a 720p
frame on one thread). Resampling in linear light instead was measured too (with the linear
resample of the time): 0.1 dB worse on the motorcycle pair's real right eye (23.78 / 27.59 dB
against 23.86 / 27.69), so the eye is resampled from the 8-bit values as everywhere else. Every
other layout renders the right eye, then packs the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
from numba import njit, prange

from stereo_spot.domain import AnaglyphMode, Layout, StereoParams
from stereo_spot.stereo.disparity import disparity_from_depth
from stereo_spot.stereo.layouts import (
    DUBOIS_MATRICES,
    TO_LINEAR,
    TO_SRGB,
    dubois_row,
    pack_stereo,
)
from stereo_spot.stereo.view_synthesis import (
    FEET_ARRAY,
    HOLE_TEXTURE,
    MAX_STRETCH,
    RESAMPLED_LEVELS,
    checked_view_inputs,
    level_index,
    render_right_view,
    resample_row,
    splat_frame_row,
)

# Each level_index of a resampled pixel straight to linear light.
_LEVELS_TO_LINEAR = TO_LINEAR[RESAMPLED_LEVELS]


def render_stereo(
    left: np.ndarray,
    disparity: np.ndarray,
    layout: Layout,
    anaglyph_mode: AnaglyphMode = AnaglyphMode.DUBOIS,
    *,
    upsample: bool = False,
) -> np.ndarray:
    """The packed stereo frame (``layout.output_size(W, H)``, uint8 RGB) of the left eye ``left``
    (H x W x 3 uint8 RGB) and its disparity in pixels (H x W, or any size with ``upsample``, as
    :func:`render_right_view`)."""
    layout = Layout(layout)
    if layout is Layout.ANAGLYPH and AnaglyphMode(anaglyph_mode) in DUBOIS_MATRICES:
        left, disparity, grid = checked_view_inputs(left, disparity, upsample=upsample)
        out = np.empty_like(left)
        _splat_dubois(
            left,
            disparity,
            grid,
            np.float32(MAX_STRETCH),
            np.float32(HOLE_TEXTURE),
            FEET_ARRAY,
            *DUBOIS_MATRICES[AnaglyphMode(anaglyph_mode)],
            TO_LINEAR,
            _LEVELS_TO_LINEAR,
            TO_SRGB,
            out,
        )
        return out
    right = render_right_view(left, disparity, upsample=upsample)
    return pack_stereo(left, right, layout, anaglyph_mode)


def render_depth_stream(
    frame_depths: Iterable[tuple[np.ndarray, np.ndarray]], layout: Layout, params: StereoParams
) -> Iterator[np.ndarray]:
    """The packed stereo frame of each (frame, depth in [0, 1] at any resolution) of a stream:
    the back end the classical and depth-anything engines share; they differ only in depth."""
    layout = Layout(layout)
    for frame, depth in frame_depths:
        # At the depth's resolution: the splat follows its bilinear upsampling without building it.
        disparity = disparity_from_depth(depth, params, frame.shape[1])
        yield render_stereo(frame, disparity, layout, params.anaglyph_mode, upsample=True)


def right_view_stream(
    frame_depths: Iterable[tuple[np.ndarray, np.ndarray]], params: StereoParams
) -> Iterator[np.ndarray]:
    """The right eye alone of each (frame, depth) of a stream, as :func:`render_depth_stream`
    renders it: for side-by-side and top-bottom output, whose left eye is the frame itself and
    need not be packed here (the encoder takes the eyes as they are, see
    ``SegmentWriter.write_eyes``)."""
    for frame, depth in frame_depths:
        disparity = disparity_from_depth(depth, params, frame.shape[1])
        yield render_right_view(frame, disparity, upsample=True)


@njit(cache=True, parallel=True, fastmath=True, nogil=True)
def _splat_dubois(
    left,
    disparity,
    grid,
    max_stretch,
    texture,
    feet,
    m_left,
    m_right,
    to_linear,
    levels_to_linear,
    to_srgb,
    out,
):  # pragma: no cover - compiled
    height, width = left.shape[:2]
    for y in prange(height):
        srcpos = np.empty(width, dtype=np.float32)
        mirror = np.empty(width, dtype=np.float32)
        covered = np.empty(width, dtype=np.bool_)
        resampled = np.empty(width, dtype=np.int64)
        splat_frame_row(disparity, y, grid, max_stretch, feet, srcpos, mirror, covered)
        src = left[y]
        # Rows 0-2: the left eye in linear light; rows 3-5: the right eye, resampled as
        # render_right_view resamples it (the same 8-bit values), then looked up likewise.
        linear = np.empty((6, width), dtype=np.float32)
        for x in range(width):
            for c in range(3):
                linear[c, x] = to_linear[src[x, c]]
        resample_row(src, srcpos, mirror, texture, resampled)
        for x in range(width):
            for c in range(3):
                linear[3 + c, x] = levels_to_linear[level_index(resampled[x], c)]
        dubois_row(linear, m_left, m_right, to_srgb, out[y])
