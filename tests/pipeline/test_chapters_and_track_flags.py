"""What a result says of itself to a player: its chapters end where its picture does (a part's,
a preview's, a source whose chapter list runs past its video), so its length is the picture's;
each track is flagged as the source flags it; and PCM sound re-encoded for an MP4 is said."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.media import ffmpeg

# The last chapter runs past the 8 s video, as some editors write a chapter list.
CHAPTERS = """;FFMETADATA1
title=Holiday
[CHAPTER]
TIMEBASE=1/1000
START=0
END=1500
title=Arrival
[CHAPTER]
TIMEBASE=1/1000
START=1500
END=3000
title=Beach
[CHAPTER]
TIMEBASE=1/1000
START=3000
END=20000
title=Sunset
"""
FRAME = 1 / 24


@pytest.fixture(scope="module")
def chaptered(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("chaptered")
    (folder / "chapters.txt").write_text(CHAPTERS)
    film = folder / "holiday.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=192x108:r=24:d=8", "-f", "lavfi", "-i", "sine=d=8"),
        *("-i", str(folder / "chapters.txt"), "-map", "0:v", "-map", "1:a"),
        *("-map_metadata", "2", "-map_chapters", "2", "-c:v", "libx264", "-g", "24"),
        *("-pix_fmt", "yuv420p", "-c:a", "aac", str(film)),
    )
    return film


def _shown(path: Path) -> dict:
    return json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries",
             "format=duration:stream=codec_type,codec_name,duration,start_time"
             ":stream_disposition=default,forced:stream_tags=DURATION",
             "-show_chapters", "-of", "json", str(path)],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip


def _chapters(path: Path) -> list[tuple[float, float, str]]:
    return [
        (round(float(c["start_time"]), 2), round(float(c["end_time"]), 2), c["tags"]["title"])
        for c in _shown(path)["chapters"]
    ]


def _picture_seconds(path: Path) -> float:
    """How long the picture lasts: its stream's duration (Matroska's DURATION tag)."""
    video = next(s for s in _shown(path)["streams"] if s["codec_type"] == "video")
    if "duration" in video:
        return float(video["duration"])
    hours, minutes, seconds = video["tags"]["DURATION"].split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _picture_start(path: Path) -> float:
    video = next(s for s in _shown(path)["streams"] if s["codec_type"] == "video")
    return float(video["start_time"])


def _file_seconds(path: Path) -> float:
    """The file's length as players show it (an MP4's mvhd)."""
    return float(_shown(path)["format"]["duration"])


@pytest.mark.parametrize(
    ("args", "name", "chapters", "seconds"),
    [
        # Re-encoded from between two keyframes: the chapter it ends in ends with it.
        (("--start", "0.5", "--end", "2.5"), "holiday_0m00s-0m02s_LR",
         [(0.0, 1.0, "Arrival"), (1.0, 2.0, "Beach")], 2.0),
        # Copied from a keyframe to the end: the overrunning chapter ends with the video.
        (("--start", "6"), "holiday_0m06s-end_LR", [(0.0, 2.0, "Sunset")], 2.0),
        # The whole video, whose chapter list runs 12 s past it.
        ((), "holiday_LR",
         [(0.0, 1.5, "Arrival"), (1.5, 3.0, "Beach"), (3.0, 8.0, "Sunset")], 8.0),
    ],
)  # fmt: skip
def test_chapters_end_with_the_picture_and_the_file_lasts_as_long(
    embedded, chaptered, tmp_path, args, name, chapters, seconds
):
    for suffix in (".mp4", ".mkv"):
        output = tmp_path / f"{name}{suffix}"
        result = embedded.convert(chaptered, output, "--layout", "sbs", *args)
        assert result.returncode == 0, result.stderr
        assert _chapters(output) == chapters, suffix
        assert abs(_picture_seconds(output) - seconds) < FRAME, suffix
        # A 1 s part once said it lasted 9 s: the chapter track's end was the MP4's length.
        assert abs(_file_seconds(output) - seconds) < FRAME, suffix


def test_a_preview_s_chapters_end_with_it(embedded, chaptered, tmp_path):
    result = embedded.stereo_spot(
        "convert", str(chaptered), "--preview", "--layout", "sbs", "-o", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    preview = tmp_path / "holiday_preview_LR.mp4"
    assert abs(_picture_seconds(preview) - 5.0) < 1.0  # about five seconds from the middle
    # Copied from a keyframe, the picture starts as late as the video's B-frames delay it
    # (2 frames), its sound with it.
    picture_end = _picture_start(preview) + _picture_seconds(preview)
    assert abs(_file_seconds(preview) - picture_end) < FRAME
    chapters = _chapters(preview)
    assert [title for *_, title in chapters] == ["Arrival", "Beach", "Sunset"]
    assert chapters[0][0] == 0.0 and abs(chapters[-1][1] - picture_end) <= 2 * FRAME
    # From the middle: the excerpt starts somewhere in the first chapter.
    assert 0.0 < chapters[1][0] < 1.5


SUBTITLES = """1
00:00:00,200 --> 00:00:01,000
Hola

2
00:00:01,200 --> 00:00:01,800
Adiós
"""


@pytest.mark.parametrize(("flags", "default", "forced"), [("0", 0, 0), ("forced", 0, 1)])
def test_a_subtitle_track_switched_off_stays_off(embedded, tmp_path, flags, default, forced):
    # A foreign-language or SDH track a viewer turns on when wanted: made the default, every
    # player showed it unasked.
    (tmp_path / "sub.srt").write_text(SUBTITLES)
    source = tmp_path / "nodefsub.mkv"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=192x108:r=24:d=2", "-f", "lavfi", "-i", "sine=d=2"),
        *("-i", str(tmp_path / "sub.srt"), "-map", "0", "-map", "1", "-map", "2"),
        *("-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-c:s", "srt"),
        *("-metadata:s:s:0", "language=spa", "-disposition:v:0", "default"),
        *("-disposition:a:0", "default", "-disposition:s:0", flags, str(source)),
    )
    for suffix in (".mp4", ".mkv", ".mov"):
        output = tmp_path / f"nodefsub_LR{suffix}"
        result = embedded.convert(source, output, "--layout", "sbs")
        assert result.returncode == 0, result.stderr
        streams = _shown(output)["streams"]
        sound = next(s for s in streams if s["codec_type"] == "audio")
        subtitle = next(s for s in streams if s["codec_type"] == "subtitle")
        assert sound["disposition"]["default"] == 1, suffix
        assert subtitle["disposition"]["default"] == default, suffix
        if suffix == ".mkv":  # MP4 and QuickTime keep no forced flag
            assert subtitle["disposition"]["forced"] == forced


def test_a_default_subtitle_track_stays_the_default(embedded, tmp_path):
    (tmp_path / "sub.srt").write_text(SUBTITLES)
    source = tmp_path / "defsub.mkv"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=192x108:r=24:d=2", "-i", str(tmp_path / "sub.srt")),
        *("-map", "0", "-map", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:s", "srt"),
        *("-disposition:s:0", "default", str(source)),
    )
    for suffix in (".mp4", ".mkv"):
        output = tmp_path / f"defsub_LR{suffix}"
        assert embedded.convert(source, output, "--layout", "sbs").returncode == 0
        subtitle = next(s for s in _shown(output)["streams"] if s["codec_type"] == "subtitle")
        assert subtitle["disposition"]["default"] == 1, suffix


def test_pcm_sound_encoded_for_an_mp4_is_said(embedded, tmp_path):
    source = tmp_path / "pcm.mov"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=192x108:r=24:d=2", "-f", "lavfi", "-i", "sine=d=2"),
        *("-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le", str(source)),
    )
    result = embedded.convert(source, tmp_path / "pcm_LR.mp4", "--layout", "sbs")
    assert result.returncode == 0, result.stderr
    assert (
        "The file's PCM sound becomes AAC in an MP4; a .mov or .mkv result keeps it as it is."
        in result.stderr.replace("\n", " ")
    )
