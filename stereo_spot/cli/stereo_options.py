"""The options shared by several verbs: the stereo settings of those that make 3D (convert,
image), and the argument types of lengths and ports."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from stereo_spot.domain import (
    CODEC_NOTES,
    DEFAULT_CRF,
    ENCODER_PRESETS,
    PREVIEW_SECONDS,
    AnaglyphMode,
    Layout,
    Part,
    StereoParams,
    VideoCodec,
    parse_time,
)
from stereo_spot.errors import InvalidOption


def add_stereo_options(parser: argparse.ArgumentParser) -> None:
    defaults = StereoParams()
    parser.add_argument(
        "--layout",
        choices=[layout.value for layout in Layout],
        default=Layout.ANAGLYPH.value,
        help="how the two eyes are packed: anaglyph (red-cyan glasses), sbs (side by side, "
        "full width), half-sbs, tab (top and bottom), half-tab (default %(default)s)",
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
        # None: not given, which any layout takes (given with another layout, it is refused).
        default=None,
        help="with --layout anaglyph, the glasses: red-cyan dubois (least ghosting), color, "
        "half-color, gray; or Dubois' mix for green-magenta or amber-blue glasses (default "
        f"{defaults.anaglyph_mode.value})",
    )
    parser.add_argument(
        "--edges-at-screen",
        action="store_true",
        help="keep the frame edges at screen depth (no window violations)",
    )


def add_encoding_options(parser: argparse.ArgumentParser) -> None:
    """How the 3D video is encoded (convert, submit)."""
    encoding = parser.add_argument_group("output encoding")
    defaults = StereoParams()
    encoding.add_argument(
        "--codec",
        choices=[codec.value for codec in VideoCodec],
        default=defaults.codec.value,
        help="; ".join(f"{codec.value}: {note}" for codec, note in CODEC_NOTES.items())
        + " (default %(default)s)",
    )
    encoding.add_argument(
        "--crf",
        type=int,
        default=None,
        help="quality, 1..51: lower is better and larger (default "
        + ", ".join(f"{crf} for {codec.value}" for codec, crf in DEFAULT_CRF.items())
        + ")",
    )
    encoding.add_argument(
        "--preset",
        choices=ENCODER_PRESETS,
        default=defaults.preset,
        help="encoder speed: slower presets make smaller files at the same --crf "
        "(default %(default)s)",
    )
    encoding.add_argument(
        "--max-height",
        type=int,
        default=None,
        metavar="PIXELS",
        help="scale a taller video down to this picture height, keeping its shape (each eye's, "
        "before packing: 1080 for a 1080p 3D TV from a 4K source); never up (default: the "
        "source's size)",
    )
    encoding.add_argument(
        "--chroma",
        choices=["420", "444"],
        default=defaults.chroma,
        help="chroma of the encoded output: 420 plays everywhere; 444 (High 4:4:4) keeps "
        "anaglyph colours from ghosting (default %(default)s)",
    )


def add_part_options(parser: argparse.ArgumentParser) -> None:
    """Which part of each video is converted, or a preview of it (convert, submit)."""
    part = parser.add_argument_group("part of the video")
    part.add_argument(
        "--start",
        type=time_in_video,
        metavar="TIME",
        help="convert from this time on: seconds (90.5) or a clock ([HH:]MM:SS[.fff]); "
        "frame-exact (default: the beginning)",
    )
    part.add_argument(
        "--end",
        type=time_in_video,
        metavar="TIME",
        help="convert until this time (default: the end); the result is named after the part "
        "(<name>_1m30s-2m00s<tag>.mp4)",
    )
    part.add_argument(
        "--preview",
        action="store_true",
        help=f"convert only about {PREVIEW_SECONDS:g} s from the middle, keyframe to keyframe "
        "(of the part, with --start or "
        f"--end; a part shorter than {PREVIEW_SECONDS:g} s is converted whole), to choose "
        "settings quickly (writes <name>_preview<tag>.mp4)",
    )


def stereo_params_from(args: argparse.Namespace) -> StereoParams:
    if args.anaglyph_mode is not None and args.layout != Layout.ANAGLYPH.value:
        # Taken and ignored, the user would look for green-magenta colours in a side by side.
        raise InvalidOption(
            f"--anaglyph-mode chooses the colours of --layout anaglyph; --layout {args.layout} "
            "has none: leave --anaglyph-mode out, or convert with --layout anaglyph."
        )
    glasses = {"anaglyph_mode": args.anaglyph_mode} if args.anaglyph_mode else {}
    try:
        return StereoParams(
            **glasses,
            divergence=args.divergence,
            convergence=args.convergence,
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


# Where a verb that keeps jobs says they are kept, by default (Settings.data_dir).
DATA_DIR_DEFAULT = "default: STEREO_SPOT_DATA_DIR, else ~/.stereo-spot"


def data_folder(text: str) -> Path:
    """``--data-dir`` where jobs are made: a folder, or one to make (as STEREO_SPOT_DATA_DIR)."""
    folder = Path(text)
    if folder.exists() and not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    return folder


def existing_data_folder(text: str) -> Path:
    """``--data-dir`` where jobs are looked for: one that a ``convert --data-dir`` made (a
    mistyped one would otherwise be made, empty, and say there are no jobs)."""
    folder = data_folder(text)
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"there is no folder {text}")
    return folder


def how_many(text: str) -> int:
    """``--limit``: a count of 1 or more."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count of 1 or more")
    return count
