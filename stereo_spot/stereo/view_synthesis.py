"""The right eye from the left eye and a disparity map (depth-image-based rendering).

Forward splatting with a z-buffer, then hole filling from the background side (DESIGN.md, Stereo
engine notes). Each scanline of the left image is treated as a piecewise-linear surface: two
neighbouring pixels that stay close after the shift are joined and every right-view pixel centre
that falls between them takes its source position by linear interpolation (sub-pixel accurate,
no cracks on stretched surfaces). Where the shift tears the surface apart (a disocclusion) or
folds it (an occlusion), the pixels on either side keep only their own footprint (``FEET``). The
nearer surface (larger disparity) wins each right-view pixel. What is left uncovered was hidden
behind a foreground object in the left eye; it is filled from the farther of its two neighbours
on the scanline, by mirroring that background's texture into the hole and blending it towards the
background edge colour, rather than smearing one colour. Colours are resampled from the left
scanline by Keys' cubic convolution (``KEYS_A``), which keeps the right eye as sharp as the left.

Engines estimate depth at a fraction of the frame's size. Their disparity map reaches the kernels
at that size and stands for its bilinear upsampling (``upsample=True``): each scanline of it is
linear between knots, so where no piece folds or tears, each piece maps affinely to the right
view and is splatted as a whole (:func:`splat_frame_row`), without a full-size map.

Convention: ``x_right = x_left - d``, ``d`` in pixels; nearer content has larger ``d``.
Measured on the Middlebury motorcycle pair with its true disparity: see
``benchmarks/render_view_quality.py`` (23.83 dB all / 27.68 dB non-occluded; with half-pixel
footprints everywhere and background-only gap filling it was 23.61 / 27.12).
"""

from __future__ import annotations

import cv2
import numpy as np
from numba import njit, prange

# Two neighbouring left pixels whose right-view positions end up more than this many pixels apart
# are treated as torn apart (a disocclusion between them) rather than one stretched surface.
# On the motorcycle pair 1.5, 2 and 3 are within 0.1 dB of each other.
MAX_STRETCH = 2.0

# Weight of the mirrored background texture in hole fills (the rest is the edge colour): on the
# motorcycle pair 0 -> 23.15 dB, 0.5 -> 23.61 dB, 1 -> 23.21 dB over all pixels.
HOLE_TEXTURE = 0.5

# Unknown disparities between two known values at most this far apart are interpolated (one
# surface); wider gaps take the background value. Motorcycle pair: 0 -> 27.51, 2 -> 27.70 dB
# non-occluded, 4 -> 27.66, 8 -> 27.59.
SMOOTH_GAP = 2.0

# How far (in right-view pixels) the end of a surface reaches past its last pixel centre:
# (left end at an occlusion, left end at a disocclusion, right end at an occlusion, right end at a
# disocclusion). An occluding surface's leading edge takes a whole pixel over the background it
# covers: edge pixels mix the two, and the nearer one dominates how they look. Motorcycle pair,
# non-occluded PSNR: all half-pixel 27.12 dB; (1.0, 0.5, 0.5, 0.5) 27.36; (1.0, 0.25, 0.25, 0.5)
# 27.51 (with linear gap filling 27.70).
FEET = (0.9999, 0.25, 0.25, 0.4999)
FEET_ARRAY = np.array(FEET, dtype=np.float32)  # as the kernels take it

# Disparities smaller than this are "no data" (the z-buffer's empty value).
_EMPTY = -1.0e30


@njit(cache=True, fastmath=True, inline="always")
def _foot(zbuf, srcpos, lo, hi, x0, z0, width):  # pragma: no cover - compiled
    """Claim the right-view pixel centres in [lo, hi] for left pixel ``x0`` (disparity ``z0``)
    alone, where its surface ends; nearer (larger disparity) wins."""
    for xr in range(max(int(np.ceil(lo)), 0), min(int(np.floor(hi)), width - 1) + 1):
        if z0 > zbuf[xr]:
            zbuf[xr] = z0
            srcpos[xr] = x0


@njit(cache=True, fastmath=True, inline="always")
def _splat_unbroken(d, max_stretch, zbuf, srcpos):  # pragma: no cover - compiled
    """The forward splat of a scanline where no two neighbours fold over or tear apart (every
    span between their right-view positions in (0, max_stretch]), or False as soon as it finds
    two that do, having written part of ``zbuf`` and ``srcpos``.

    Such a scanline maps monotonically, so one walk over the right-view pixels finds the left
    segment [a_x, a_x+1) each falls in, and computes what :func:`_splat_general` computes (to
    the last bit but for ~0.1 % of positions, where the compiler orders the same arithmetic
    differently) without its depth test (no pixel is claimed twice here) or its unpredictable
    branch on how many pixels each segment covers. Every scanline of the classical engine's
    smooth depth takes it (docs/BENCHMARKS.md): the splat of a 720p frame went from 4.9 to
    3.5 ms on one thread."""
    width = d.shape[0]
    x = 0
    a0 = np.float32(0.0) - d[0]
    a1 = np.float32(1.0) - d[1]
    span = a1 - a0
    if span <= 0.0 or span > max_stretch:
        return False
    inv_span = np.float32(1.0) / span
    # Past the last left pixel's position only its foot and hole filling claim pixels. The walk
    # never reads past it: a right-view pixel below it lies below some segment's end.
    stop = min(int(np.ceil(np.float32(width - 1) - d[width - 1])), width)
    for xr in range(max(int(np.ceil(a0)), 0), stop):
        xrf = np.float32(xr)
        while a1 <= xrf:
            x += 1
            a0 = a1
            a1 = np.float32(x + 1) - d[x + 1]
            span = a1 - a0
            if span <= 0.0 or span > max_stretch:
                return False
            inv_span = np.float32(1.0) / span
        t = (xrf - a0) * inv_span
        zbuf[xr] = d[x] + (d[x + 1] - d[x]) * t
        srcpos[xr] = np.float32(x) + t
    # The segments the walk did not reach (mapped past the right edge) may still fold back.
    for rest in range(x + 1, width - 1):
        span = (np.float32(rest + 1) - d[rest + 1]) - (np.float32(rest) - d[rest])
        if span <= 0.0 or span > max_stretch:
            return False
    return True


@njit(cache=True, fastmath=True, inline="always")
def _splat_general(d, max_stretch, feet, zbuf, srcpos):  # pragma: no cover - compiled
    """Forward splat of any scanline, one piecewise-linear surface, torn and folded where the
    disparity says so; the nearer surface wins each right-view pixel."""
    width = d.shape[0]
    prev_torn = True
    prev_fold = False
    for x in range(width):
        xf = np.float32(x)
        a = xf - d[x]
        right_torn = True
        right_fold = False
        if x < width - 1:
            a_next = np.float32(x + 1) - d[x + 1]
            span = a_next - a
            right_fold = span <= 0.0
            right_torn = right_fold or span > max_stretch
            if not right_torn:
                # Half-open [a, a_next): the pixel centre at a_next belongs to the next
                # pixel's segment or foot, which always claims it with the same values.
                inv_span = np.float32(1.0) / span
                dz = d[x + 1] - d[x]
                z0 = d[x]
                for xr in range(max(int(np.ceil(a)), 0), min(int(np.ceil(a_next)), width)):
                    t = (np.float32(xr) - a) * inv_span
                    z = z0 + dz * t
                    if z > zbuf[xr]:
                        zbuf[xr] = z
                        srcpos[xr] = xf + t
        # A torn side keeps the pixel's own footprint (the end of a surface).
        if prev_torn:
            _foot(zbuf, srcpos, a - (feet[0] if prev_fold else feet[1]), a, xf, d[x], width)
        if right_torn:
            _foot(zbuf, srcpos, a, a + (feet[2] if right_fold else feet[3]), xf, d[x], width)
        prev_torn = right_torn
        prev_fold = right_fold


@njit(cache=True, fastmath=True, inline="always")
def splat_scanline(d, max_stretch, feet, srcpos, mirror, covered):  # pragma: no cover
    """Where each right-view pixel of one scanline samples the left scanline, given the
    scanline's disparities ``d``: ``srcpos`` (a fractional source column), ``mirror`` (a second
    source column blended in with weight ``HOLE_TEXTURE``: the mirrored background texture in a
    filled hole; -1 elsewhere) and ``covered`` (splatted from a visible left pixel rather than
    filled). Every entry of the three is written."""
    width = d.shape[0]
    zbuf = np.full(width, _EMPTY, dtype=np.float32)
    srcpos[:] = 0.0
    mirror[:] = -1.0
    if width > 1 and _splat_unbroken(d, max_stretch, zbuf, srcpos):
        _end_feet(zbuf, srcpos, d[0], d[width - 1], feet)
        _fill_end_holes(zbuf, srcpos, mirror, covered)
    else:
        # The walk may have written part of the row before it met the fold or tear.
        zbuf[:] = _EMPTY
        srcpos[:] = 0.0
        _splat_general(d, max_stretch, feet, zbuf, srcpos)
        _fill_holes(zbuf, srcpos, mirror, covered)


@njit(cache=True, fastmath=True, inline="always")
def _end_feet(zbuf, srcpos, d_first, d_last, feet):  # pragma: no cover - compiled
    """The feet of a scanline that neither folds nor tears: its two ends are its only torn
    sides."""
    width = zbuf.shape[0]
    a_first = np.float32(0.0) - d_first
    _foot(zbuf, srcpos, a_first - feet[1], a_first, np.float32(0.0), d_first, width)
    last = np.float32(width - 1)
    a_last = last - d_last
    _foot(zbuf, srcpos, a_last, a_last + feet[3], last, d_last, width)


@njit(cache=True, fastmath=True, inline="always")
def _fill_holes(zbuf, srcpos, mirror, covered):  # pragma: no cover - compiled
    """Hole filling from the background side, and the covered mask, in one pass over a splatted
    scanline."""
    width = zbuf.shape[0]
    x = 0
    while x < width:
        if zbuf[x] > _EMPTY:
            covered[x] = True
            x += 1
            continue
        start = x
        while x < width and zbuf[x] <= _EMPTY:
            covered[x] = False
            x += 1
        stop = x  # exclusive
        has_left = start > 0
        has_right = stop < width
        if not has_left and not has_right:
            break  # nothing on this scanline was splatted; it stays the source row
        from_right = has_right and (not has_left or zbuf[stop] < zbuf[start - 1])
        _fill_hole(zbuf, srcpos, mirror, start, stop, from_right)
    if zbuf[0] <= _EMPTY:
        for x in range(width):
            srcpos[x] = np.float32(x)


@njit(cache=True, fastmath=True, inline="always")
def _fill_end_holes(zbuf, srcpos, mirror, covered):  # pragma: no cover - compiled
    """:func:`_fill_holes` for a scanline splatted in one unbroken run, whose only holes are at
    its two ends: found from the ends instead of by a pass over every pixel (~0.7 ms a 720p
    frame)."""
    width = zbuf.shape[0]
    first = 0
    while first < width and zbuf[first] <= _EMPTY:
        first += 1
    if first == width:  # nothing on this scanline was splatted; it stays the source row
        covered[:] = False
        for x in range(width):
            srcpos[x] = np.float32(x)
        return
    last = width - 1
    while zbuf[last] <= _EMPTY:
        last -= 1
    covered[:first] = False
    covered[first : last + 1] = True
    covered[last + 1 :] = False
    if first > 0:
        _fill_hole(zbuf, srcpos, mirror, 0, first, True)
    if last < width - 1:
        _fill_hole(zbuf, srcpos, mirror, last + 1, width, False)


@njit(cache=True, fastmath=True, inline="always")
def _fill_hole(zbuf, srcpos, mirror, start, stop, from_right):  # pragma: no cover - compiled
    """Fill the hole [start, stop) from its neighbour on the right (or left): mirror that
    background's texture into it where the texture is still background (same disparity within a
    pixel), to be blended towards the edge colour."""
    width = zbuf.shape[0]
    edge = stop if from_right else start - 1
    step = 1 if from_right else -1
    for k in range(stop - start):
        xh = stop - 1 - k if from_right else start + k
        srcpos[xh] = srcpos[edge]
        xm = edge + step * (k + 1)
        if 0 <= xm < width and abs(zbuf[xm] - zbuf[edge]) <= 1.0:
            mirror[xh] = srcpos[xm]
    for xh in range(start, stop):
        zbuf[xh] = zbuf[edge]


@njit(cache=True, fastmath=True, inline="always")
def _splat_pieces(knots, knot_x, max_stretch, zbuf, srcpos):  # pragma: no cover - compiled
    """The forward splat of a scanline whose disparity is linear between knots (at left
    columns ``knot_x``, values ``knots``) and constant beyond the first and last, as bilinear
    upsampling makes it; or False, having written part of ``zbuf`` and ``srcpos``, if a piece
    folds or tears (right-view span per left pixel outside (0, max_stretch]).

    Each piece maps affinely to the right view, so every right-view pixel in it is one
    multiply-add away from its source column: what :func:`_splat_unbroken` finds by walking the
    upsampled row pixel by pixel, with a division for each, is found here with a division for
    each piece (~7 pixels at 720p)."""
    width = zbuf.shape[0]
    count = knots.shape[0]
    x0 = np.float32(0.0)
    d0 = knots[0]
    xr = max(int(np.ceil(x0 - d0)), 0)
    for k in range(count + 1):
        if k < count:
            x1 = knot_x[k]
            d1 = knots[k]
        else:
            x1 = np.float32(width - 1)
            d1 = knots[count - 1]
        if x1 <= x0:
            continue  # no length: a knot on the first or last column
        slope = (d1 - d0) / (x1 - x0)
        stretch = np.float32(1.0) - slope
        if stretch <= 0.0 or stretch > max_stretch:
            return False
        # x_right = x - d(x) with d(x) = d0 + slope * (x - x0), solved for x.
        inv = np.float32(1.0) / stretch
        offset = (d0 - slope * x0) * inv
        # Half-open, as in the walk: the pixel centre at the piece's end belongs to the next.
        end = min(int(np.ceil(x1 - d1)), width)
        while xr < end:
            source = np.float32(xr) * inv + offset
            srcpos[xr] = source
            zbuf[xr] = d0 + slope * (source - x0)
            xr += 1
        x0 = x1
        d0 = d1
    return True


# Not inlined into the two kernels that call it: inlined, each kernel compiled both splat paths
# (and the hole passes) again, and the cold compile of the kernels doubled (13.5 -> 27.7 s on two
# cores); a call per row costs nothing measurable.
@njit(cache=True, fastmath=True, nogil=True)
def splat_frame_row(
    disparity, y, grid, max_stretch, feet, srcpos, mirror, covered
):  # pragma: no cover
    """:func:`splat_scanline` for row ``y`` of a frame whose disparity is ``disparity``, either
    at the frame's size or coarser, standing for its bilinear upsampling described by ``grid``
    (:func:`upsampling_grid`). A coarse map is never upsampled as a whole: its row comes from
    two coarse rows, and splats piece by piece where no piece folds or tears (every scanline
    of the classical engine's smooth depth); a row that does is upsampled and splatted as any
    other. The compiled building block of :func:`render_right_view` and of the fused anaglyph
    in :mod:`stereo_spot.stereo.render`."""
    coarse_height, coarse_width = disparity.shape
    width = srcpos.shape[0]
    row0, row_weight, col0, col_weight, knot_x = grid
    if coarse_height == row0.shape[0] and coarse_width == width:  # the frame's own size
        row = disparity[y]
    else:
        upper = disparity[row0[y]]
        lower = disparity[min(row0[y] + 1, coarse_height - 1)]
        weight = row_weight[y]
        row = np.empty(coarse_width, dtype=np.float32)
        for k in range(coarse_width):
            row[k] = upper[k] + (lower[k] - upper[k]) * weight
        if coarse_width < width:
            if _splat_coarse(row, knot_x, max_stretch, feet, srcpos, mirror, covered):
                return
            knots = row
            row = np.empty(width, dtype=np.float32)
            for x in range(width):
                before = knots[col0[x]]
                after = knots[min(col0[x] + 1, coarse_width - 1)]
                row[x] = before + (after - before) * col_weight[x]
    splat_scanline(row, max_stretch, feet, srcpos, mirror, covered)


@njit(cache=True, fastmath=True, inline="always")
def _splat_coarse(knots, knot_x, max_stretch, feet, srcpos, mirror, covered):  # pragma: no cover
    """:func:`splat_scanline` for the scanline a row of a coarse map upsamples to, splatted
    piece by piece; False if a piece folds or tears."""
    width = srcpos.shape[0]
    zbuf = np.full(width, _EMPTY, dtype=np.float32)
    srcpos[:] = 0.0
    mirror[:] = -1.0
    if width < 2 or not _splat_pieces(knots, knot_x, max_stretch, zbuf, srcpos):
        return False
    _end_feet(zbuf, srcpos, knots[0], knots[knots.shape[0] - 1], feet)
    _fill_end_holes(zbuf, srcpos, mirror, covered)
    return True


def _linear_taps(size: int, coarse_size: int) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``size`` output samples, the coarse sample before it and the weight of the
    one after, as ``cv2.resize`` with ``INTER_LINEAR`` takes them (pixel centres aligned,
    clamped at the borders)."""
    position = (np.arange(size, dtype=np.float64) + 0.5) * (coarse_size / size) - 0.5
    first = np.floor(position)
    weight = position - first
    below, beyond = first < 0, first >= coarse_size - 1
    first[below], weight[below] = 0, 0.0
    first[beyond], weight[beyond] = coarse_size - 1, 0.0
    return first.astype(np.int64), weight.astype(np.float32)


def upsampling_grid(
    coarse_shape: tuple[int, int], width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What :func:`splat_frame_row` needs to splat a ``coarse_shape`` disparity map as its
    bilinear upsampling to ``height`` x ``width``: each frame row's two coarse rows (first and
    weight of the second), each frame column's two coarse columns, and the frame column of
    each coarse column's centre (the knots the upsampled rows are linear between)."""
    coarse_height, coarse_width = coarse_shape
    row0, row_weight = _linear_taps(height, coarse_height)
    col0, col_weight = _linear_taps(width, coarse_width)
    knot_x = (np.arange(coarse_width) + 0.5) * (width / coarse_width) - 0.5
    return row0, row_weight, col0, col_weight, knot_x.astype(np.float32)


def _keys_weights(a: float) -> np.ndarray:
    """Keys' cubic convolution weights of taps i - 1, i, i + 1, i + 2 at each phase k / PHASES
    past tap i, in 1 / 2**_WEIGHT_BITS, each phase's four summing to exactly one; flat."""
    t = np.arange(_PHASES, dtype=np.float64)[:, None] / _PHASES
    weights = np.hstack(
        [
            a * t * (1 - t) ** 2,
            (a + 2) * t**3 - (a + 3) * t**2 + 1,
            -(a + 2) * t**3 + (2 * a + 3) * t**2 - a * t,
            a * t**2 * (1 - t),
        ]
    )
    fixed = np.round(weights * (1 << _WEIGHT_BITS)).astype(np.int64)
    # What rounding lost goes to the nearer tap (the largest weight).
    fixed[np.arange(_PHASES), np.argmax(weights, axis=1)] += (1 << _WEIGHT_BITS) - fixed.sum(1)
    return fixed.ravel()


# Each right-view pixel is resampled from the left scanline by Keys' cubic convolution with
# a = -0.75. Linear interpolation left the right eye softer than the left (variance of the
# Laplacian 0.80 of the left eye's on bigbuckbunny, 0.58 on a grainy still); this keeps 1.00 /
# 0.78 at no real cost on the motorcycle pair (23.83 / 27.68 dB against 23.86 / 27.69).
# Catmull-Rom (a = -0.5) kept 0.95 on bigbuckbunny; a = -1 over-sharpens (1.06) and costs
# 0.05 dB (docs/BENCHMARKS.md, Eye sharpness).
KEYS_A = -0.75
# In fixed point: positions in 1/256ths of a pixel, weights in 1/4096ths, and a pixel's three
# channels in 21-bit lanes of one int64, so that a tap is one load and one multiply for all three
# (three uint8 loads a tap made every sharper kernel cost +35-45 % of the engine stage). Each
# lane is kept >= 0 by a bias of _LEVEL_BIAS grey levels, more than the cubic can undershoot
# (0.1875 * 255), so that the lanes never borrow from each other; the result is < 2**21 too.
_PHASES = 256
_WEIGHT_BITS = 12
_LANE = 21
_LEVEL_BIAS = 48
_LANE_BIASES = sum((_LEVEL_BIAS << _WEIGHT_BITS) << (_LANE * c) for c in range(3))
RESAMPLE_WEIGHTS = _keys_weights(KEYS_A)
# The 8-bit value of each level_index: the lane's level, clipped to 0-255.
RESAMPLED_LEVELS = np.clip(np.arange(512) - _LEVEL_BIAS, 0, 255).astype(np.uint8)


@njit(cache=True, parallel=True, fastmath=True, nogil=True)
def _splat_and_fill(
    left, disparity, grid, max_stretch, texture, feet, out, covered
):  # pragma: no cover
    height, width = left.shape[:2]
    for y in prange(height):
        srcpos = np.empty(width, dtype=np.float32)
        mirror = np.empty(width, dtype=np.float32)
        resampled = np.empty(width, dtype=np.int64)
        splat_frame_row(disparity, y, grid, max_stretch, feet, srcpos, mirror, covered[y])
        resample_row(left[y], srcpos, mirror, texture, resampled)
        # Flat, and clipped by arithmetic rather than RESAMPLED_LEVELS: the compiler vectorises
        # this (1.1 -> 0.4 ms a 720p frame).
        row = out[y].reshape(-1)
        for x in range(width):
            for c in range(3):
                level = np.int32(level_index(resampled[x], c)) - np.int32(_LEVEL_BIAS)
                row[3 * x + c] = np.uint8(min(max(level, np.int32(0)), np.int32(255)))


@njit(cache=True, fastmath=True, inline="always")
def level_index(pixel, channel):  # pragma: no cover - compiled
    """Where channel ``channel`` of a pixel from :func:`resample_row` looks its value up in
    ``RESAMPLED_LEVELS`` (or a table made from it): its level rounded, plus the bias."""
    lane = (pixel >> (_LANE * channel)) & ((1 << _LANE) - 1)
    return (lane + (1 << (_WEIGHT_BITS - 1))) >> _WEIGHT_BITS


@njit(cache=True, fastmath=True, inline="always")
def _cubic_taps(padded, weights, position):  # pragma: no cover - compiled
    """The resampled pixel at ``position`` (1/256ths of a pixel, >= 0) of ``padded``, the
    packed scanline with one pixel repeated before it and two after."""
    # Unsigned indices: numba then skips its wraparound test for negative ones (-30 % here).
    i = position >> np.uint32(8)
    k = (position & np.uint32(_PHASES - 1)) << np.uint32(2)
    return (
        weights[k] * padded[i]
        + weights[k + np.uint32(1)] * padded[i + np.uint32(1)]
        + weights[k + np.uint32(2)] * padded[i + np.uint32(2)]
        + weights[k + np.uint32(3)] * padded[i + np.uint32(3)]
        + _LANE_BIASES
    )


@njit(cache=True, fastmath=True, inline="always")
def resample_row(src, srcpos, mirror, texture, resampled):  # pragma: no cover - compiled
    """The right-view scanline from the left scanline ``src`` (W x 3 uint8) and what
    :func:`splat_scanline` found for it, into ``resampled`` (W int64): each pixel's channels as
    lanes, read with :func:`level_index`. The compiled building block of both kernels that
    render the right eye, which must resample alike (the fused anaglyph is bit for bit the
    anaglyph of the rendered eye)."""
    width = src.shape[0]
    weights = RESAMPLE_WEIGHTS
    padded = np.empty(width + 3, dtype=np.int64)
    # Indexed flat, the loop vectorises (0.6 -> 0.2 ms a 720p frame).
    flat = src.reshape(-1)
    for x in range(width):
        padded[x + 1] = (
            np.int64(flat[3 * x])
            | (np.int64(flat[3 * x + 1]) << _LANE)
            | (np.int64(flat[3 * x + 2]) << (2 * _LANE))
        )
    padded[0] = padded[1]
    padded[width + 1] = padded[width]
    padded[width + 2] = padded[width]
    # The positions in fixed point in a loop of their own, which the compiler vectorises.
    top = np.int32((width - 1) * _PHASES)
    position = np.empty(width, dtype=np.int32)
    for x in range(width):
        fixed = np.int32(srcpos[x] * np.float32(_PHASES) + np.float32(0.5))
        position[x] = min(max(fixed, np.int32(0)), top)
    for x in range(width):
        resampled[x] = _cubic_taps(padded, weights, np.uint32(position[x]))
    # Hole fills blend in the mirrored background (~1 % of the pixels).
    for x in range(width):
        if mirror[x] >= 0.0:
            fixed = np.int32(mirror[x] * np.float32(_PHASES) + np.float32(0.5))
            texel = _cubic_taps(padded, weights, np.uint32(min(max(fixed, np.int32(0)), top)))
            pixel = resampled[x]
            blend = np.int64(0)
            for c in range(3):
                a = (pixel >> (_LANE * c)) & ((1 << _LANE) - 1)
                b = (texel >> (_LANE * c)) & ((1 << _LANE) - 1)
                blend |= np.int64(np.float32(a) + texture * np.float32(b - a)) << (_LANE * c)
            resampled[x] = blend


def fill_invalid_disparity(disparity: np.ndarray) -> np.ndarray:
    """Replace non-finite disparities (stereo datasets mark unknown pixels with ``inf``) from the
    nearest valid values to their left and right on the scanline.

    Where those two values are within ``SMOOTH_GAP`` pixels of each other the gap lies inside one
    surface and is interpolated linearly; otherwise it straddles a depth step, and unknown pixels
    there are mostly background seen by one camera only, so the farther (smaller) value is taken.
    Rows with no valid value get 0.
    """
    disparity = np.asarray(disparity, dtype=np.float32)
    # A finite sum means every value is finite: one pass and no temporary, 0.2 ms on a 720p map
    # (np.isfinite(...).all() costs five times that, a float64 sum twice). A sum that overflows
    # float32 falls through to the fill, which keeps every finite value as it is.
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(disparity.sum()):
            return disparity
    return _fill_invalid(disparity.copy(), np.float32(SMOOTH_GAP))


@njit(cache=True, nogil=True)
def _fill_invalid(d, smooth_gap):  # pragma: no cover - compiled
    height, width = d.shape
    for y in range(height):
        row = d[y]
        x = 0
        while x < width:
            if np.isfinite(row[x]):
                x += 1
                continue
            start = x
            while x < width and not np.isfinite(row[x]):
                x += 1
            has_left, has_right = start > 0, x < width
            if not has_left and not has_right:
                row[:] = 0.0
                break
            a = row[start - 1] if has_left else row[x]
            b = row[x] if has_right else a
            n = x - start + 1
            for k in range(start, x):
                if abs(a - b) <= smooth_gap:
                    row[k] = a + (b - a) * np.float32(k - start + 1) / np.float32(n)
                else:
                    row[k] = min(a, b)
    return d


def render_right_view(
    left: np.ndarray,
    disparity: np.ndarray,
    *,
    max_stretch: float = MAX_STRETCH,
    hole_texture: float = HOLE_TEXTURE,
    return_covered: bool = False,
    upsample: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Synthesize the right eye from the left eye ``left`` (H x W x 3 uint8 RGB) and a
    disparity map in pixels (H x W, ``x_right = x_left - d``; non-finite values are filled
    from the background side first).

    With ``upsample`` the map may have any size: it stands for its bilinear resize to H x W
    (``cv2.resize``, ``INTER_LINEAR``), which a coarser map is never turned into (see
    :func:`splat_frame_row`). Engines estimate depth at a fraction of the frame's size; at 720p
    this saves ~2 ms a frame on one thread against upsampling first.

    With ``return_covered`` also returns the H x W bool mask of right-view pixels that received
    a splat from a visible left pixel (the rest were filled as holes).
    """
    left, disparity, grid = checked_view_inputs(left, disparity, upsample=upsample)
    out = np.empty_like(left)
    covered = np.empty(left.shape[:2], dtype=np.bool_)
    _splat_and_fill(
        left,
        disparity,
        grid,
        np.float32(max_stretch),
        np.float32(hole_texture),
        FEET_ARRAY,
        out,
        covered,
    )
    if return_covered:
        return out, covered
    return out


def checked_view_inputs(
    left: np.ndarray, disparity: np.ndarray, *, upsample: bool = False
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """``left`` as a contiguous H x W x 3 uint8 image, ``disparity`` as a contiguous, finite
    float32 map (non-finite values filled) and its :func:`upsampling_grid`, as the compiled
    kernels take them; a ValueError for anything else. Without ``upsample`` the map must be
    H x W; with it, a map larger than the image in either direction is resized to it first."""
    left = np.ascontiguousarray(left, dtype=np.uint8)
    if left.ndim != 3 or left.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 image, got shape {left.shape}")
    height, width = left.shape[:2]
    disparity = np.asarray(disparity, dtype=np.float32)
    if upsample:
        if disparity.ndim != 2 or not disparity.size:
            raise ValueError(f"expected a 2-D disparity map, got shape {disparity.shape}")
        if disparity.shape[0] > height or disparity.shape[1] > width:
            disparity = cv2.resize(disparity, (width, height), interpolation=cv2.INTER_LINEAR)
    elif disparity.shape != left.shape[:2]:
        raise ValueError(
            f"disparity shape {disparity.shape} does not match image shape {left.shape[:2]}"
        )
    disparity = np.ascontiguousarray(fill_invalid_disparity(disparity), dtype=np.float32)
    return left, disparity, upsampling_grid(disparity.shape, width, height)
