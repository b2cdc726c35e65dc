"""Subtitles a 3D TV shows in 3D: each text track once more, laid out as the packed picture is.

A TV (or a player on one) showing a side-by-side or top-bottom video cuts the frame in two and
stretches each half over the screen for its eye. A subtitle the player draws over the whole
frame is cut with it: each eye sees half of it, stretched. The established remedy, which subtitle
editors export as "3D half side-by-side", is a styled (ASS) track that draws each line twice,
once in each eye's half and squeezed as that half is, the right eye's copy shifted as the picture
shifts what is nearest: the text then floats just in front of the scene instead of cutting into
what stands out of the screen. A Matroska result carries such a track beside each plain one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from stereo_spot.domain import Layout, StereoParams
from stereo_spot.errors import InputRejected
from stereo_spot.media.probe import run_ffprobe
from stereo_spot.media.tracks import export_text_tracks

log = logging.getLogger(__name__)

# Text height and distance from the bottom of each eye's picture, as shares of its height.
FONT_HEIGHT = 0.055
BOTTOM_MARGIN = 0.05
SIDE_MARGIN = 0.05  # of each eye's width, kept clear on either side for wrapping


@dataclass(frozen=True)
class EyeGeometry:
    """Where each eye's picture lies in the packed frame, and how it is squeezed."""

    left_origin: tuple[int, int]  # top-left corner of the left eye's picture
    right_origin: tuple[int, int]
    width: int  # of each eye's picture in the frame
    height: int
    squeeze_x: int  # percent: 50 where the eye is squeezed to half its width
    squeeze_y: int


def eye_geometry(layout: Layout | str, width: int, height: int) -> EyeGeometry:
    """Each eye's place in a ``width`` x ``height`` frame packed as ``layout`` (left eye left
    or on top, as the ``_LR`` / ``_TB`` names say)."""
    layout = Layout(layout)
    if layout in (Layout.SBS, Layout.HALF_SBS):
        squeeze = 50 if layout is Layout.HALF_SBS else 100
        return EyeGeometry((0, 0), (width // 2, 0), width // 2, height, squeeze, 100)
    if layout in (Layout.TAB, Layout.HALF_TAB):
        squeeze = 50 if layout is Layout.HALF_TAB else 100
        return EyeGeometry((0, 0), (0, height // 2), width, height // 2, 100, squeeze)
    raise ValueError(f"{layout.value} has no eyes side by side or one above the other")


def stereo_script(
    script: str, layout: Layout | str, width: int, height: int, params: StereoParams
) -> str:
    """The ASS ``script`` (as ffmpeg writes a text track) laid out for a ``width`` x
    ``height`` frame packed as ``layout``: every line drawn in both eyes' pictures, the right
    eye's copy shifted left by the disparity of the nearest depth the conversion gives
    (``(1 - convergence) x divergence`` of the eye's width), so it shows in front of the scene
    and inside the same depth budget."""
    eyes = eye_geometry(layout, width, height)
    # The eye's picture before any squeeze: the text is sized for it, then squeezed with it.
    full_height = eyes.height * 100 // eyes.squeeze_y
    font = max(8, round(FONT_HEIGHT * full_height))
    disparity = round(params.disparity(1.0, eyes.width))  # of the nearest depth
    side = round(SIDE_MARGIN * eyes.width)
    bottom = round(BOTTOM_MARGIN * eyes.height)
    squeeze = ""
    if eyes.squeeze_x != 100:
        squeeze = rf"{{\fscx{eyes.squeeze_x}}}"
    elif eyes.squeeze_y != 100:
        squeeze = rf"{{\fscy{eyes.squeeze_y}}}"

    def placed(origin: tuple[int, int], shift: int) -> tuple[int, int, int]:
        """MarginL, MarginR, MarginV that centre a line at the bottom of the eye at
        ``origin``, moved right by ``shift`` pixels."""
        left = origin[0] + side + shift
        right = width - (origin[0] + eyes.width) + side - shift
        return left, right, height - (origin[1] + eyes.height) + bottom

    eyes_margins = (placed(eyes.left_origin, 0), placed(eyes.right_origin, -disparity))
    lines = []
    section = ""
    for line in script.splitlines():
        if line.startswith("["):
            section = line.strip()
        if section == "[Script Info]" and line.startswith(("PlayResX:", "PlayResY:")):
            continue  # written anew below, as the frame's own pixels
        if line.strip() == "[Script Info]":
            lines += [line, f"PlayResX: {width}", f"PlayResY: {height}"]
            continue
        if section == "[V4+ Styles]" and line.startswith("Style:"):
            lines.append(_sized(line, font))
            continue
        if section == "[Events]" and line.startswith("Dialogue:"):
            # Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
            fields = line.split(",", 9)
            for margins in eyes_margins:
                fields[5:8] = [str(m) for m in margins]
                lines.append(",".join(fields[:9]) + "," + squeeze + fields[9])
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


def _sized(style: str, font: int) -> str:
    """A Style line with its font size set, an outline that size can be read by, centred at
    the bottom."""
    # Name, Fontname, Fontsize, ..., BorderStyle, Outline (17th), Shadow, Alignment (19th), ...
    name, rest = style.split(":", 1)
    fields = rest.split(",")
    fields[2] = str(font)
    if len(fields) >= 19:
        fields[16] = str(max(1, round(font / 20)))
        fields[18] = "2"
    return name + ":" + ",".join(fields)


@dataclass(frozen=True)
class StereoTrack:
    """A 3D copy of one of the result's text tracks, and what a player's menu calls it."""

    script: Path
    title: str


def write_stereo_tracks(
    result: Path, folder: Path, layout: Layout | str, params: StereoParams
) -> list[StereoTrack]:
    """Each text track of the MP4 ``result`` as a 3D ASS script in ``folder``, named after it
    ("English SDH (3D)"); none when they cannot be written (the plain tracks are there all the
    same)."""
    plain = export_text_tracks(result, folder, "ass", ".ass")
    if not plain:
        return []
    try:
        video = run_ffprobe(
            result, "-select_streams", "v:0", "-show_entries", "stream=width,height"
        )
        (size,) = [(int(s["width"]), int(s["height"])) for s in video.get("streams", [])]
    except (InputRejected, ValueError, KeyError) as error:
        log.warning("no 3D subtitle tracks: the picture's size could not be read (%s)", error)
        return []
    tracks = []
    for path, track in plain:
        script = path.with_name(f"3d-{path.name}")
        script.write_text(stereo_script(path.read_text(), layout, *size, params))
        tracks.append(StereoTrack(script, f"{track.label} (3D)"))
    return tracks
