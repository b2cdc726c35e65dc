"""Packing two eyes into one frame: anaglyph, side by side, top and bottom.

Every packer returns uint8 RGB of exactly ``layout.output_size(W, H)`` for any W x H, odd sizes
included (the half layouts give the left eye the extra column or row).
"""

from __future__ import annotations

import cv2
import numpy as np
from numba import njit, prange

from stereo_spot.domain import DUBOIS_MIXES, AnaglyphMode, Layout

# Dubois' least-squares matrices for each kind of glasses (domain.DUBOIS_MIXES), as the
# kernels take them.
DUBOIS_MATRICES = {
    mode: (np.array(left, dtype=np.float32), np.array(right, dtype=np.float32))
    for mode, (left, right) in DUBOIS_MIXES.items()
}

# sRGB <-> linear light through lookup tables: 256 entries in, 4096 out (finer than 8 bits
# in the darks, where the sRGB curve is steep).
_LINEAR_STEPS = 4096


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1 / 2.4) - 0.055)


TO_LINEAR = _srgb_to_linear(np.arange(256, dtype=np.float64) / 255.0).astype(np.float32)
TO_SRGB = np.round(
    _linear_to_srgb(np.linspace(0.0, 1.0, _LINEAR_STEPS, dtype=np.float64)) * 255.0
).astype(np.uint8)


@njit(cache=True, fastmath=True, inline="always")
def dubois_row(linear, m_left, m_right, to_srgb, out_row):  # pragma: no cover
    """One anaglyph row from ``linear``, a 6 x W float32 scratch holding the left eye's R, G, B
    then the right eye's, in linear light: Dubois' matrices, clipped, back to sRGB into
    ``out_row`` (W x 3 uint8). The compiled building block of :func:`anaglyph` and of the fused
    anaglyph in :mod:`stereo_spot.stereo.render`."""
    width = out_row.shape[0]
    top = np.float32(to_srgb.shape[0] - 1)
    # Planar passes (the matrices, then the lookups back to sRGB): simple loops the compiler
    # vectorises, 30 % cheaper than one pass doing everything per pixel.
    index = np.empty((3, width), dtype=np.int32)
    for c in range(3):
        l0, l1, l2 = m_left[c, 0], m_left[c, 1], m_left[c, 2]
        r0, r1, r2 = m_right[c, 0], m_right[c, 1], m_right[c, 2]
        for x in range(width):
            v = (
                l0 * linear[0, x]
                + l1 * linear[1, x]
                + l2 * linear[2, x]
                + r0 * linear[3, x]
                + r1 * linear[4, x]
                + r2 * linear[5, x]
            )
            v = min(max(v, np.float32(0.0)), np.float32(1.0))
            index[c, x] = np.int32(v * top + np.float32(0.5))
    for x in range(width):
        for c in range(3):
            out_row[x, c] = to_srgb[index[c, x]]


@njit(cache=True, parallel=True, fastmath=True, nogil=True)
def _dubois(left, right, m_left, m_right, to_linear, to_srgb, out):  # pragma: no cover
    # 3.4 ms a 720p frame on one thread (4.8 when each pixel went through all three steps).
    height, width = left.shape[:2]
    for y in prange(height):
        linear = np.empty((6, width), dtype=np.float32)
        for x in range(width):
            for c in range(3):
                linear[c, x] = to_linear[left[y, x, c]]
                linear[3 + c, x] = to_linear[right[y, x, c]]
        dubois_row(linear, m_left, m_right, to_srgb, out[y])


def _luma(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def anaglyph(
    left: np.ndarray, right: np.ndarray, mode: AnaglyphMode = AnaglyphMode.DUBOIS
) -> np.ndarray:
    """An anaglyph of two same-size uint8 RGB eyes.

    For red-cyan glasses (red = left eye): ``dubois`` applies Dubois' matrices in linear light
    (least ghosting, some colour loss); ``color`` takes red from the left and green/blue from
    the right; ``half-color`` uses the left eye's luma for red; ``gray`` uses luma for both
    eyes. ``green-magenta`` and ``amber-blue`` apply Dubois' matrices for those glasses.
    """
    mode = AnaglyphMode(mode)
    left, right = np.ascontiguousarray(left), np.ascontiguousarray(right)
    if mode in DUBOIS_MATRICES:
        out = np.empty_like(left)
        _dubois(left, right, *DUBOIS_MATRICES[mode], TO_LINEAR, TO_SRGB, out)
        return out
    # The other modes put the left eye (or its luma) in the red channel of the right eye (or of
    # its luma); cv2.mixChannels copies one channel across in 0.4 ms a 720p frame, numpy's
    # strided channel assignment in 3.4.
    if mode is AnaglyphMode.GRAY:
        out = cv2.cvtColor(_luma(right), cv2.COLOR_GRAY2RGB)
    else:
        out = right.copy()
    red = left if mode is AnaglyphMode.COLOR else _luma(left)
    cv2.mixChannels([red], [out], [0, 0])
    return out


def _squeeze(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if (image.shape[1], image.shape[0]) in ((2 * width, height), (width, 2 * height)):
        # An exact halving: bilinear sampling lands midway between each pair of pixels, which
        # is their average (what INTER_AREA computes, within rounding), at a third of the cost.
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def pack_stereo(
    left: np.ndarray,
    right: np.ndarray,
    layout: Layout,
    anaglyph_mode: AnaglyphMode = AnaglyphMode.DUBOIS,
) -> np.ndarray:
    """Pack two H x W x 3 uint8 RGB eyes into one frame of ``layout.output_size(W, H)``."""
    if left.shape != right.shape or left.ndim != 3 or left.shape[2] != 3:
        raise ValueError(f"eyes must be equal H x W x 3 images, got {left.shape} and {right.shape}")
    layout = Layout(layout)
    height, width = left.shape[:2]
    if layout is Layout.ANAGLYPH:
        return anaglyph(left, right, anaglyph_mode)
    if layout is Layout.SBS:
        return np.concatenate([left, right], axis=1)
    if layout is Layout.TAB:
        return np.concatenate([left, right], axis=0)
    if layout is Layout.HALF_SBS:
        out = np.empty_like(left)
        left_width = (width + 1) // 2
        out[:, :left_width] = _squeeze(left, left_width, height).reshape(height, left_width, 3)
        if width - left_width:
            out[:, left_width:] = _squeeze(right, width - left_width, height).reshape(
                height, width - left_width, 3
            )
        return out
    # half-tab
    out = np.empty_like(left)
    top_height = (height + 1) // 2
    out[:top_height] = _squeeze(left, width, top_height).reshape(top_height, width, 3)
    if height - top_height:
        out[top_height:] = _squeeze(right, width, height - top_height).reshape(
            height - top_height, width, 3
        )
    return out
