"""YUV 4:2:0 to RGB for the engines and back for the encoder, each in one compiled pass.

RGB to YUV: PyAV hands an RGB frame to swscale, which converts it on one thread: 3 ms a 720p
frame and 21 ms a 3840 x 1080 side-by-side frame, a sixth of the CPU a full-SBS conversion
spends. This kernel gives the same result (limited range in the stream's matrix,
:mod:`stereo_spot.media.colour`; luma within one level of swscale's, chroma the 2 x 2 average as
swscale takes it) in parallel, without the GIL. OpenCV's ``COLOR_RGB2YUV_I420`` is as fast but
takes each block's top-left chroma sample, which aliases the red/cyan edges of an anaglyph, and
knows BT.601 only.

YUV to RGB: swscale's fast path for 8-bit 4:2:0 truncates where it should round, so every
decoded picture came out about one level darker (Y -1.06 on average over bigbuckbunny after the
round trip), and the right eye of a side by side, which goes through RGB, was a level darker
than the left, whose YUV is copied. swscale rounds exactly only with ``ACCURATE_RND`` and
``FULL_CHR_H_INT`` together, at ~2.5 times the CPU. This kernel rounds each pixel exactly, takes
the chroma of the pixel's 2 x 2 block as swscale's fast path does, and runs in parallel.
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


def yuv420p_to_rgb(
    y: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    width: int,
    height: int,
    matrix: int = BT470BG,
    full_range: bool = False,
) -> np.ndarray:
    """The ``height`` x ``width`` x 3 uint8 RGB picture of 8-bit YUV 4:2:0 planes in ``matrix``
    (limited range unless ``full_range``). The planes are 2-D uint8 arrays holding at least the
    picture's samples from their top-left corner (a decoder's rows may be padded past its
    width); chroma has ``ceil(height / 2)`` rows of ``ceil(width / 2)`` samples."""
    chroma_rows, chroma_columns = (height + 1) // 2, (width + 1) // 2
    for plane, rows, columns in ((y, height, width), (u, chroma_rows, chroma_columns),
                                 (v, chroma_rows, chroma_columns)):  # fmt: skip
        if (
            plane.dtype != np.uint8
            or plane.ndim != 2
            or plane.shape[0] < rows
            or (plane.shape[1] < columns)
        ):
            raise ValueError(
                f"a {rows} x {columns} uint8 plane is needed, got {plane.dtype} {plane.shape}"
            )
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    _yuv420p_to_rgb(y, u, v, rgb, rgb_coefficients(matrix, full_range), 0 if full_range else 16)
    return rgb


def rgb_coefficients(matrix: int, full_range: bool = False) -> np.ndarray:
    """The five fixed-point coefficients (``COEFFICIENT_BITS`` fractional bits) of YUV to RGB
    in ``matrix``: luma's scale, V's weight in red, U's and V's in green (subtracted), U's in
    blue."""
    kr, kb = LUMA_WEIGHTS[matrix]
    kg = 1.0 - kr - kb
    luma = 1.0 if full_range else 255.0 / 219.0
    chroma = 1.0 if full_range else 255.0 / 224.0
    weights = (
        luma,
        chroma * 2 * (1 - kr),
        chroma * 2 * (1 - kb) * kb / kg,
        chroma * 2 * (1 - kr) * kr / kg,
        chroma * 2 * (1 - kb),
    )
    return np.array([round(w * (1 << COEFFICIENT_BITS)) for w in weights], dtype=np.int32)


@njit(cache=True, parallel=True, nogil=True)
def _yuv420p_to_rgb(y_plane, u_plane, v_plane, rgb, coefficients, black):  # pragma: no cover
    # Two pixels a chroma sample, written out, their chroma terms computed once: 5 times faster
    # than a loop over pixels that indexes the chroma by x // 2 (1.2 ms of CPU a 720p frame,
    # against 0.5-0.8 for swscale's truncating fast path).
    height, width = rgb.shape[:2]
    for row in prange(height):
        out = rgb[row].reshape(width * 3)
        u_row = u_plane[row // 2]
        v_row = v_plane[row // 2]
        luma_row = y_plane[row]
        for pair in range(width // 2):
            x = 2 * pair
            second = np.int32(luma_row[x + 1])
            _two_pixels(out, x, luma_row[x], second, u_row[pair], v_row[pair], coefficients, black)
        if width % 2:  # the last column alone
            x = width - 1
            alone, pair = np.int32(-1), x // 2
            _two_pixels(out, x, luma_row[x], alone, u_row[pair], v_row[pair], coefficients, black)


@njit(inline="always", nogil=True)
def _two_pixels(
    out, x, luma_0, luma_1, u_sample, v_sample, coefficients, black
):  # pragma: no cover
    """RGB of pixels ``x`` and ``x + 1`` of a row (``luma_1`` < 0: pixel ``x`` alone)."""
    luma_scale, v_red, u_green, v_green, u_blue = coefficients
    u = np.int32(u_sample) - 128
    v = np.int32(v_sample) - 128
    red = v_red * v + _ROUND
    green = _ROUND - u_green * u - v_green * v
    blue = u_blue * u + _ROUND
    luma = luma_scale * (np.int32(luma_0) - black)
    out[3 * x] = np.uint8(min(max((luma + red) >> COEFFICIENT_BITS, 0), 255))
    out[3 * x + 1] = np.uint8(min(max((luma + green) >> COEFFICIENT_BITS, 0), 255))
    out[3 * x + 2] = np.uint8(min(max((luma + blue) >> COEFFICIENT_BITS, 0), 255))
    if luma_1 >= 0:
        luma = luma_scale * (np.int32(luma_1) - black)
        out[3 * x + 3] = np.uint8(min(max((luma + red) >> COEFFICIENT_BITS, 0), 255))
        out[3 * x + 4] = np.uint8(min(max((luma + green) >> COEFFICIENT_BITS, 0), 255))
        out[3 * x + 5] = np.uint8(min(max((luma + blue) >> COEFFICIENT_BITS, 0), 255))
