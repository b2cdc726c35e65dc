"""What an editor's intermediates carry besides the picture: the reel their timecode counts,
kept beside it in every result, and the transparency no result can hold, said to be left out."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.media import ffmpeg

pytestmark = pytest.mark.slow

REEL = "A001C003"


def _tags(path: Path) -> tuple[list[dict], dict]:
    """Each stream's codec tag and tags, and the file's tags, as ffprobe reads them."""
    shown = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries",
         "stream=codec_tag_string:stream_tags:format_tags", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    data = json.loads(shown.stdout)
    return data["streams"], data.get("format", {}).get("tags", {})


def _timecode_track(path: Path) -> dict:
    """The timecode and reel name of the file's one tmcd track."""
    streams, _ = _tags(path)
    (track,) = [s for s in streams if s["codec_tag_string"] == "tmcd"]
    tags = track.get("tags", {})
    return {key: tags.get(key) for key in ("reel_name", "timecode")}


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A camera original as a recorder writes it: ProRes 4:2:2, 23.976, 24-bit PCM, the
    timecode on a tmcd track naming its reel."""
    path = tmp_path_factory.mktemp("reel") / "A001C003.mov"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=192x108:r=24000/1001:d=2"),
        *("-f", "lavfi", "-i", "anoisesrc=r=48000:d=2:a=0.3"),
        *("-c:v", "prores_ks", "-profile:v", "0", "-c:a", "pcm_s24le"),
        *("-timecode", "14:22:10:05", "-metadata:s:v:0", f"reel_name={REEL}", str(path)),
    )
    assert _timecode_track(path) == {"reel_name": REEL, "timecode": "14:22:10:05"}
    return path


@pytest.mark.parametrize("suffix", [".mov", ".mp4"])
def test_the_reel_name_stays_on_the_timecode_track_of_the_whole_video(
    embedded, camera_clip, tmp_path, suffix
):
    output = tmp_path / f"whole{suffix}"
    result = embedded.convert(camera_clip, output, "--layout", "sbs")
    assert result.returncode == 0, result.stderr
    assert _timecode_track(output) == {"reel_name": REEL, "timecode": "14:22:10:05"}
    assert "transparency" not in result.stderr, "an opaque source has none to leave out"


@pytest.mark.parametrize("suffix", [".mov", ".mp4"])
def test_a_part_keeps_the_reel_name_beside_its_moved_on_timecode(
    embedded, camera_clip, tmp_path, suffix
):
    output = tmp_path / f"part{suffix}"
    result = embedded.convert(camera_clip, output, "--layout", "sbs", "--start", "1", "--end", "2")
    assert result.returncode == 0, result.stderr
    tags = _timecode_track(output)
    assert tags["reel_name"] == REEL
    assert tags["timecode"] == "14:22:11:05", "24 frames on: 1 s is 23.98 of them"


def test_an_mkv_result_names_the_reel_as_a_tag_beside_its_timecode(embedded, camera_clip, tmp_path):
    output = tmp_path / "whole.mkv"
    result = embedded.convert(camera_clip, output, "--layout", "sbs")
    assert result.returncode == 0, result.stderr
    streams, tags = _tags(output)
    assert tags.get("REEL_NAME") == REEL
    assert streams[0]["tags"].get("TIMECODE") == "14:22:10:05"


def test_a_source_with_transparency_is_said_to_lose_it(embedded, tmp_path):
    source = tmp_path / "key.mov"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=192x108:r=25:d=1,format=yuva444p10le"),
        *("-c:v", "prores_ks", "-profile:v", "4444", "-pix_fmt", "yuva444p10le", str(source)),
    )
    result = embedded.convert(source, tmp_path / "key_LR.mov", "--layout", "sbs")
    assert result.returncode == 0, result.stderr
    assert "The file's transparency (alpha) is left out: a 3D result is opaque" in result.stderr
