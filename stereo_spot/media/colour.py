"""Which matrix a video's YUV is in, so that a converted video shows the source's colours.

A decoder turns YUV into RGB with a matrix (BT.601, BT.709, BT.2020...) and an encoder turns RGB
back with one; a player takes the matrix from the stream's tags, or, for an untagged stream,
guesses from the picture size: BT.709 above standard definition (mpv's rule; VLC and browsers
guess the same way). The frames were once decoded with BT.601 whatever the tags said (swscale's
default) and encoded with BT.601 untagged: a BT.709 source's green (30, 172, 60) then played as
(18, 150, 56). Now the engines' RGB is decoded with the source's own matrix (its tag, or the
players' guess), the output is encoded with that same matrix and tagged with it, and the source's
primaries and transfer tags are carried over as they are (an HDR source stays tagged HDR). The
output is always limited range, tagged so; swscale reads a full-range source's own range.
"""

from __future__ import annotations

from dataclasses import dataclass

# FFmpeg's AVColorSpace codes of the matrices defined by two luma weights (Kr, Kb): what the
# colour kernel (yuv.py) and swscale both implement.
BT709 = 1
UNSPECIFIED = 2
FCC = 4
BT470BG = 5
SMPTE170M = 6
SMPTE240M = 7
BT2020_NCL = 9
LUMA_WEIGHTS = {
    BT709: (0.2126, 0.0722),
    FCC: (0.30, 0.11),
    BT470BG: (0.299, 0.114),
    SMPTE170M: (0.299, 0.114),
    SMPTE240M: (0.212, 0.087),
    BT2020_NCL: (0.2627, 0.0593),
}
# swscale's own codes for the same matrices (SWS_CS_*), which PyAV's reformat takes.
_SWSCALE_CODES = {BT709: 1, FCC: 4, BT470BG: 5, SMPTE170M: 5, SMPTE240M: 7, BT2020_NCL: 9}
# Players treat an untagged picture taller than PAL's 576 lines, or wider than 1024 pixels, as
# high definition (BT.709).
_SD_MAX_HEIGHT = 576
_SD_MAX_WIDTH = 1024

# The primaries and transfer codes H.264's VUI defines (the rest are reserved): others are
# written as unspecified.
_PRIMARIES = {1, *range(4, 13), 22}
_TRANSFERS = {1, *range(4, 19)}


@dataclass(frozen=True)
class Colour:
    """A video stream's colour description: the matrix its YUV is in (one of ``LUMA_WEIGHTS``),
    and its primaries and transfer characteristic as tagged (FFmpeg codes; 2: unspecified)."""

    matrix: int = BT470BG
    primaries: int = UNSPECIFIED
    transfer: int = UNSPECIFIED

    @property
    def swscale_matrix(self) -> int:
        """The matrix as PyAV's ``reformat(src_colorspace=...)`` takes it."""
        return _SWSCALE_CODES[self.matrix]


def stream_colour(
    matrix: int | None, primaries: int | None, transfer: int | None, width: int, height: int
) -> Colour:
    """The colour of a ``width`` x ``height`` stream with these tags (FFmpeg codes; None or 2
    where untagged). A matrix tag this pipeline has no weights for (RGB, YCgCo, constant
    luminance) is treated as untagged."""
    if matrix not in LUMA_WEIGHTS:
        high_definition = height > _SD_MAX_HEIGHT or width > _SD_MAX_WIDTH
        matrix = BT709 if high_definition else SMPTE170M
    return Colour(
        matrix=int(matrix),
        primaries=int(primaries) if primaries in _PRIMARIES else UNSPECIFIED,
        transfer=int(transfer) if transfer in _TRANSFERS else UNSPECIFIED,
    )
