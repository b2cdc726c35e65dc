"""Subtitles for a 3D TV, drawn by libass (ffmpeg's subtitles filter) as a player draws them:
each line once in each eye's picture, squeezed as that picture is, wrapped inside it, and the
right eye's copy shifted left by the nearest depth's disparity, so it shows in front."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from stereo_spot.domain import Layout, StereoParams
from stereo_spot.media.stereo_subtitles import eye_geometry, stereo_script
from tests.media import ffmpeg

WIDTH, HEIGHT = 640, 360  # each eye's picture before any squeeze
PARAMS = StereoParams(divergence=5.0, convergence=0.3)  # the nearest depth: 3.5 % of the width


def _plain_script(tmp_path: Path, text: str) -> str:
    """A text track as the rewrap reads it out of the MP4: ffmpeg's own ASS."""
    (tmp_path / "line.srt").write_text(f"1\n00:00:00,000 --> 00:00:02,000\n{text}\n")
    ffmpeg("-i", str(tmp_path / "line.srt"), str(tmp_path / "line.ass"))
    return (tmp_path / "line.ass").read_text()


def _drawn(tmp_path: Path, script: str, width: int, height: int) -> np.ndarray:
    """The text's pixels (white fill) when ``script`` is drawn over a black frame."""
    path = tmp_path / "3d.ass"
    path.write_text(script)
    shown = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=black:s={width}x{height}:d=1",
         "-vf", f"subtitles={path}", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True, check=True, cwd=tmp_path,
    ).stdout  # fmt: skip
    return np.frombuffer(shown, np.uint8).reshape(height, width) > 160


def _box(mask: np.ndarray) -> tuple[float, float, int, int, int]:
    """(centre x, centre y, width, height, bottom row) of the text's pixels."""
    rows, cols = np.nonzero(mask)
    return (
        (cols.min() + cols.max()) / 2,
        (rows.min() + rows.max()) / 2,
        cols.max() - cols.min() + 1,
        rows.max() - rows.min() + 1,
        rows.max(),
    )


@pytest.mark.parametrize("layout", [Layout.SBS, Layout.HALF_SBS, Layout.TAB, Layout.HALF_TAB])
def test_each_eye_gets_the_line_squeezed_as_it_is_and_the_right_one_in_front(tmp_path, layout):
    width, height = layout.output_size(WIDTH, HEIGHT)
    eyes = eye_geometry(layout, width, height)
    drawn = _drawn(
        tmp_path,
        stereo_script(_plain_script(tmp_path, "GOOD EVENING"), layout, width, height, PARAMS),
        width,
        height,
    )
    copies = []
    for x, y in (eyes.left_origin, eyes.right_origin):
        inside = drawn[y : y + eyes.height, x : x + eyes.width]
        assert inside.any(), "drawn in each eye's picture"
        edges = (inside[0], inside[-1], inside[:, 0], inside[:, -1])
        assert not any(edge.any() for edge in edges), "wholly inside it"
        copies.append(_box(inside))
    (left_x, left_y, left_w, left_h, bottom), (right_x, right_y, right_w, right_h, _) = copies
    # The right eye's copy is the left's moved left by the nearest depth's disparity (crossed:
    # in front of the screen), at the same height, the same size.
    disparity = 0.7 * 0.05 * eyes.width
    assert left_x - right_x == pytest.approx(disparity, abs=1.0)
    assert (right_y, right_w, right_h) == pytest.approx((left_y, left_w, left_h), abs=1.0)
    # Centred near the bottom of the eye's picture, as subtitles sit.
    assert left_x == pytest.approx(eyes.width / 2, abs=2 + disparity)
    assert eyes.height * 0.85 < bottom < eyes.height


def test_a_squeezed_eye_gets_a_squeezed_line(tmp_path):
    # The TV stretches a half-width picture to the full width: a line drawn at half its width
    # comes out as wide as on a full side by side (and half-height likewise, top-bottom).
    script = _plain_script(tmp_path, "GOOD EVENING")

    def left_copy(layout):
        width, height = layout.output_size(WIDTH, HEIGHT)
        eyes = eye_geometry(layout, width, height)
        drawn = _drawn(
            tmp_path, stereo_script(script, layout, width, height, PARAMS), width, height
        )
        return _box(drawn[: eyes.height, : eyes.width])

    full, half = left_copy(Layout.SBS), left_copy(Layout.HALF_SBS)
    assert half[2] / full[2] == pytest.approx(0.5, abs=0.06) and half[3] == pytest.approx(
        full[3], abs=1
    )
    full, half = left_copy(Layout.TAB), left_copy(Layout.HALF_TAB)
    assert half[3] / full[3] == pytest.approx(0.5, abs=0.12) and half[2] == pytest.approx(
        full[2], abs=2
    )


def test_a_long_line_wraps_inside_its_eyes_picture(tmp_path):
    words = "THIS LINE IS FAR TOO LONG TO FIT ACROSS ONE EYE OF A SIDE BY SIDE PICTURE"
    width, height = Layout.SBS.output_size(WIDTH, HEIGHT)
    script = stereo_script(_plain_script(tmp_path, words), Layout.SBS, width, height, PARAMS)
    drawn = _drawn(tmp_path, script, width, height)
    seam = width // 2
    assert not drawn[:, seam - 8 : seam + 8].any(), "no text across the seam between the eyes"
    rows = np.nonzero(drawn[:, :seam].any(axis=1))[0]
    assert rows.max() - rows.min() > 0.08 * height, "wrapped onto more than one line"
