"""A source's transparency (ProRes 4444's alpha, a PNG's), which no result holds, is found by
the probe and said to be left out, as the command and the job's page say the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from stereo_spot.domain import SourceInfo
from stereo_spot.media.probe import probe_source
from stereo_spot.settings import Settings
from tests.media import ffmpeg

SAID = (
    "The file's transparency (alpha) is left out: a 3D result is opaque, and its transparent "
    "parts show the colour stored under them (often black)."
)


def _prores_4444(path: Path, pix_fmt: str) -> Path:
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s=64x36:r=25:d=0.2,format={pix_fmt}"),
        *("-c:v", "prores_ks", "-profile:v", "4444", "-pix_fmt", pix_fmt, str(path)),
    )
    return path


def test_prores_4444_with_alpha_is_said_to_lose_it(tmp_path):
    info = probe_source(_prores_4444(tmp_path / "key.mov", "yuva444p10le"), Settings())
    assert info.alpha
    assert info.left_out == SAID


def test_prores_4444_without_alpha_says_nothing(tmp_path):
    info = probe_source(_prores_4444(tmp_path / "fill.mov", "yuv444p10le"), Settings())
    assert not info.alpha
    assert info.left_out is None


@pytest.mark.parametrize(("codec", "pix_fmt"), [("png", "rgba"), ("qtrle", "argb")])
def test_other_formats_with_transparency_are_found_by_their_pixels(tmp_path, codec, pix_fmt):
    source = tmp_path / f"{codec}.mov"
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s=64x36:r=25:d=0.2,format={pix_fmt}"),
        *("-c:v", codec, "-pix_fmt", pix_fmt, str(source)),
    )
    assert probe_source(source, Settings()).alpha


def test_a_job_stored_before_transparency_was_looked_for_reads_back_as_opaque():
    stored = {"width": 64, "height": 36, "frames": 5, "duration": 0.2, "fps": 25.0,
              "video_codec": "prores"}  # fmt: skip
    assert SourceInfo.model_validate(stored).alpha is False
