"""The options shared by several verbs: the stereo settings of those that make 3D (convert,
image), and the argument types of lengths and ports."""

from __future__ import annotations

import argparse
import math

from stereo_spot.domain import AnaglyphMode, Layout, Part, StereoParams, VideoCodec, parse_time
from stereo_spot.errors import InvalidOption


def add_stereo_options(parser: argparse.ArgumentParser) -> None:
    defaults = StereoParams()
    parser.add_argument(
        "--layout", choices=[layout.value for layout in Layout], default=Layout.ANAGLYPH.value
    )
    parser.add_argument(
        "--divergence",
        type=float,
        default=defaults.divergence,
        help="largest parallax, 0..10 %% of the width (default %(default)s)",
    )
    parser.add_argument(
        "--convergence",
        type=float,
        default=defaults.convergence,
        help="depth on the screen plane, 0 far .. 1 near (default %(default)s)",
    )
    parser.add_argument(
        "--anaglyph-mode",
        choices=[mode.value for mode in AnaglyphMode],
        default=defaults.anaglyph_mode.value,
        help="red-cyan glasses: dubois (least ghosting), color, half-color, gray; or Dubois' "
        "mix for green-magenta or amber-blue glasses (default %(default)s)",
    )
    parser.add_argument(
        "--edges-at-screen",
        action="store_true",
        help="keep the frame edges at screen depth (no window violations)",
    )


def stereo_params_from(args: argparse.Namespace) -> StereoParams:
    try:
        return StereoParams(
            divergence=args.divergence,
            convergence=args.convergence,
            anaglyph_mode=args.anaglyph_mode,
            edges_at_screen=args.edges_at_screen,
            # The encoding options are convert's (an image verb writes no video).
            chroma=getattr(args, "chroma", "420"),
            codec=getattr(args, "codec", VideoCodec.H264),
            crf=getattr(args, "crf", None),
            preset=getattr(args, "preset", "veryfast"),
            max_height=getattr(args, "max_height", None),
        )
    except ValueError as error:
        first = error.errors()[0]
        option = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "settings"
        raise InvalidOption(f"Invalid {option}: {first['msg']}.") from None


def segment_seconds(text: str) -> float:
    """``--segment-seconds``: a length in seconds above 0 (as STEREO_SPOT_SEGMENT_SECONDS)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a length in seconds above 0")
    return seconds


def time_in_video(text: str) -> float:
    """``--start``/``--end``: seconds (90.5) or a clock ([HH:]MM:SS[.fff])."""
    try:
        return parse_time(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def part_from(args: argparse.Namespace) -> Part | None:
    """The part of each video ``--start``/``--end`` ask for; None for the whole video."""
    start = args.start or 0.0
    if not start and args.end is None:
        return None
    try:
        return Part(start=start, end=args.end)
    except ValueError:  # the only way a part of two readable times is wrong
        raise InvalidOption(
            f"Invalid --end: {args.end:g} s is not after --start ({start:g} s)."
        ) from None


def port_number(text: str) -> int:
    """``--port``: 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return port
