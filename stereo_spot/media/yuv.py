"""RGB to YUV 4:2:0 for the encoder, in one compiled pass.

PyAV hands an RGB frame to swscale, which converts it on one thread: 3 ms a 720p frame and 21 ms
a 3840 x 1080 side-by-side frame, a sixth of the CPU a full-SBS conversion spends. This kernel
gives the same result (limited range in the stream's matrix, :mod:`stereo_spot.media.colour`;
luma within one level of swscale's, chroma the 2 x 2 average as swscale takes it) in parallel,
without the GIL. OpenCV's ``COLOR_RGB2YUV_I420`` is as fast but takes each block's top-left
chroma sample, which aliases the red/cyan edges of an anaglyph, and knows BT.601 only.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from stereo_spot.media.colour import BT470BG, LUMA_WEIGHTS

# Fixed-point scale of the kernel's coefficients (here, beside the kernel, which compiles it
# in: numba's cache is keyed by this file): 16 bits, so every level is exact to within
# rounding, and a 2 x 2 block's sum times a coefficient still fits an int32.
COEFFICIENT_BITS = 16


def rgb_to_yuv420p(rgb: np.ndarray, matrix: int = BT470BG) -> np.ndarray:
    """Planar YUV 4:2:0 (Y, then U, then V, as PyAV's ``yuv420p`` ndarray: (H * 3/2) x W) of an
    H x W x 3 uint8 RGB frame with even H and W, in ``matrix`` (an FFmpeg colour-space code of
    :data:`~stereo_spot.media.colour.LUMA_WEIGHTS`; BT.601 by default)."""
    height, width = _checked_size(rgb)
    out = np.empty((height * 3 // 2, width), dtype=np.uint8)
    flat = out.reshape(-1)
    luma, quarter = height * width, (height // 2) * (width // 2)
    chroma_shape = (height // 2, width // 2)
    u = flat[luma : luma + quarter].reshape(chroma_shape)
    v = flat[luma + quarter :].reshape(chroma_shape)
    _rgb_to_yuv420p(
        np.ascontiguousarray(rgb, dtype=np.uint8),
        out[:height],
        u,
        v,
        yuv_coefficients(matrix),
        0,
        0,
    )
    return out


def rgb_to_yuv420p_planes(
    rgb: np.ndarray,
    y: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    matrix: int = BT470BG,
    at: tuple[int, int] = (0, 0),
) -> None:
    """Write the same conversion into three planes the caller holds, such as an encoder frame's
    (``av.VideoFrame`` planes, whose rows may be padded past the picture's width): C-contiguous
    uint8, the picture's luma written from row and column ``at`` (even) of ``y`` on, its chroma
    from half those of ``u`` and ``v``. An offset rather than a view of part of a plane: the
    kernel is compiled for contiguous planes, ~10 % faster than for strided views."""
    height, width = _checked_size(rgb)
    row, column = at
    if row % 2 or column % 2 or row < 0 or column < 0:
        raise ValueError(f"the offset must be even and not negative, got {at}")
    for plane, rows, columns in (
        (y, row + height, column + width),
        (u, (row + height) // 2, (column + width) // 2),
        (v, (row + height) // 2, (column + width) // 2),
    ):
        if (
            plane.dtype != np.uint8
            or plane.ndim != 2
            or not plane.flags.c_contiguous
            or plane.shape[0] < rows
            or plane.shape[1] < columns
        ):
            raise ValueError(
                f"a C-contiguous {rows} x {columns} uint8 plane is needed, "
                f"got {plane.dtype} {plane.shape}"
            )
    _rgb_to_yuv420p(
        np.ascontiguousarray(rgb, dtype=np.uint8),
        y,
        u,
        v,
        yuv_coefficients(matrix),
        row,
        column,
    )


def yuv_coefficients(matrix: int) -> np.ndarray:
    """The nine fixed-point coefficients (Y, U, V rows of R, G, B weights, ``COEFFICIENT_BITS``
    fractional bits) of 8-bit limited-range YUV (Y 16..235, U and V 16..240) in ``matrix``.

    Rounded so that each row sums exactly to its ideal total: white lands on 235 and every grey
    on U = V = 128."""
    kr, kb = LUMA_WEIGHTS[matrix]
    kg = 1.0 - kr - kb
    scale = float(1 << COEFFICIENT_BITS)
    luma = 219.0 / 255.0
    chroma = 224.0 / 255.0
    rows = [
        (luma * kr, luma * kg, luma * kb),
        (-chroma * kr / (2 * (1 - kb)), -chroma * kg / (2 * (1 - kb)), chroma / 2),
        (chroma / 2, -chroma * kg / (2 * (1 - kr)), -chroma * kb / (2 * (1 - kr))),
    ]
    coefficients = []
    for row in rows:
        red, blue = round(row[0] * scale), round(row[2] * scale)
        # Green takes the rounding, so the row's sum is the rounded ideal sum.
        green = round(sum(row) * scale) - red - blue
        coefficients += [red, green, blue]
    return np.array(coefficients, dtype=np.int32)


def _checked_size(rgb: np.ndarray) -> tuple[int, int]:
    height, width = rgb.shape[:2]
    if rgb.ndim != 3 or rgb.shape[2] != 3 or height % 2 or width % 2:
        raise ValueError(f"expected an even-sized H x W x 3 image, got shape {rgb.shape}")
    return height, width


_ROUND = 1 << (COEFFICIENT_BITS - 1)
# Chroma is computed from the sum of a 2 x 2 block: two more bits to shift out.
_BLOCK_SHIFT = COEFFICIENT_BITS + 2
_BLOCK_ROUND = 1 << (_BLOCK_SHIFT - 1)


@njit(cache=True, parallel=True, nogil=True)
def _rgb_to_yuv420p(
    rgb, y_plane, u_plane, v_plane, coefficients, row, column
):  # pragma: no cover - compiled
    # Limited range: Y 16..235, U/V 16..240 (the coefficients carry the 219/255 and 224/255).
    height, width = rgb.shape[:2]
    yr, yg, yb, ur, ug, ub, vr, vg, vb = coefficients
    chroma_row, chroma_column = row // 2, column // 2
    for by in prange(height // 2):
        for bx in range(width // 2):
            sum_r = 0
            sum_g = 0
            sum_b = 0
            for dy in range(2):
                y = 2 * by + dy
                for dx in range(2):
                    x = 2 * bx + dx
                    r = np.int32(rgb[y, x, 0])
                    g = np.int32(rgb[y, x, 1])
                    b = np.int32(rgb[y, x, 2])
                    luma = (yr * r + yg * g + yb * b + _ROUND) >> COEFFICIENT_BITS
                    y_plane[row + y, column + x] = np.uint8(luma + 16)
                    sum_r += r
                    sum_g += g
                    sum_b += b
            # The block's mean colour.
            u = ((ur * sum_r + ug * sum_g + ub * sum_b + _BLOCK_ROUND) >> _BLOCK_SHIFT) + 128
            v = ((vr * sum_r + vg * sum_g + vb * sum_b + _BLOCK_ROUND) >> _BLOCK_SHIFT) + 128
            u_plane[chroma_row + by, chroma_column + bx] = np.uint8(u)
            v_plane[chroma_row + by, chroma_column + bx] = np.uint8(v)
