"""A part (``convert --start/--end``) of a 23.976, 29.97 or 59.94 fps recording keeps its exact
frame rate: the part is stored as Matroska, which keeps times to the millisecond, and its
frames once came back 41 and 42 ms long (time base 1/16000, 23.989 fps on average, the timecode
track's rate 16000/667)."""

import itertools
import json
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from stereo_spot.media.probe import video_frame_times
from tests.media import ffmpeg

SIZE = "320x180"


def _streams(path: Path) -> list[dict]:
    result = subprocess.run(
        [
            "ffprobe", "-v", "error", "-show_entries",
            "stream=codec_type,time_base,avg_frame_rate,nb_frames:stream_tags=timecode",
            "-of", "json", str(path),
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)["streams"]


def _steps(path: Path) -> set[int]:
    """The steps between the video's frames' times, in ticks of its time base."""
    result = subprocess.run(
        [
            "ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts",
            "-of", "csv=p=0", str(path),
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    times = sorted(int(line.split(",")[0]) for line in result.stdout.split())
    return {b - a for a, b in itertools.pairwise(times)}


def _assert_exact(result: Path, rate: str, frames: int) -> None:
    video, *_, timecode = _streams(result)
    numerator, denominator = rate.split("/")
    assert video["time_base"] == f"1/{numerator}"
    assert video["avg_frame_rate"] == rate
    assert int(video["nb_frames"]) == frames
    assert _steps(result) == {int(denominator)}
    # The tmcd track, whose rate editing systems turn timecode into time with.
    assert timecode["codec_type"] == "data"
    assert timecode["avg_frame_rate"] == rate


@pytest.fixture(scope="module")
def prores_23976(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ntsc") / "take.mov"
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s={SIZE}:r=24000/1001:d=3"),
        *("-f", "lavfi", "-i", "sine=r=48000:d=3", "-c:v", "prores_ks", "-profile:v", "0"),
        *("-c:a", "pcm_s24le", "-timecode", "01:00:00:00", str(path)),
    )
    return path


@pytest.mark.parametrize(("start", "end", "output", "frames", "timecode"), [
    ("1", "2.5", "part.mov", 36, "01:00:01:00"),  # re-encoded
    ("1", None, "part.mp4", 48, "01:00:01:00"),  # copied to the end
    ("1.1", "2.5", "part.mov", 33, "01:00:01:03"),  # from frame 26.37: frame 27
])  # fmt: skip
def test_a_part_of_a_23_976_recording_keeps_its_exact_frame_rate_and_timecode(
    embedded, prores_23976, tmp_path, start, end, output, frames, timecode
):
    result = tmp_path / output
    ends = ["--end", end] if end else []
    run = embedded.convert(prores_23976, result, "--layout", "sbs", "--start", start, *ends)
    assert run.returncode == 0, run.stderr

    _assert_exact(result, "24000/1001", frames)
    assert _streams(result)[0]["tags"]["timecode"] == timecode


def test_a_29_97_drop_frame_part_from_the_first_half_of_a_frame_names_its_first_frame(
    embedded, tmp_path
):
    source = tmp_path / "df.mov"
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s={SIZE}:r=30000/1001:d=3"),
        *("-f", "lavfi", "-i", "sine=r=48000:d=3", "-c:v", "libx264", "-g", "15"),
        *("-c:a", "pcm_s24le", "-timecode", "00:00:59;28", str(source)),
    )
    result = tmp_path / "part.mov"
    # Frame 12 starts at 0.4004 s, before 0.41: the part's first frame is 13 (0.4338 s),
    # 00:00:59;28 + 13 across the dropped 00 and 01.
    run = embedded.convert(source, result, "--layout", "sbs", "--start", "0.41", "--end", "2")
    assert run.returncode == 0, run.stderr

    _assert_exact(result, "30000/1001", 47)
    assert _streams(result)[0]["tags"]["timecode"] == "00:01:00;13"


def test_a_59_94_matroska_video_is_labelled_59_94_in_an_mkv(embedded, tmp_path):
    source = tmp_path / "ffv1.mkv"
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s={SIZE}:r=60000/1001:d=2"),
        *("-f", "lavfi", "-i", "sine=r=48000:d=2", "-c:v", "ffv1", "-c:a", "pcm_s24le"),
        str(source),
    )
    result = tmp_path / "out.mkv"
    run = embedded.convert(source, result)
    assert run.returncode == 0, run.stderr

    # From its DefaultDuration, which MKV readers take the rate from (it said 59.951).
    rate = Fraction(_streams(result)[0]["avg_frame_rate"])
    assert float(rate) == pytest.approx(60000 / 1001, abs=1e-4)


def test_a_variable_frame_rate_part_keeps_its_frames_times(embedded, tmp_path):
    steps = "if(lt(N,40),N/30,40/30+(N-40)/15)"
    source = tmp_path / "vfr.mkv"
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s=160x90:r=30:d=4,setpts='{steps}/TB'"),
        *("-f", "lavfi", "-i", "sine=d=5", "-c:v", "libx264", "-g", "25"),
        *("-fps_mode", "vfr", "-c:a", "aac", str(source)),
    )
    result = tmp_path / "part.mov"
    run = embedded.convert(source, result, "--start", "0.5", "--end", "3.5")
    assert run.returncode == 0, run.stderr

    kept = video_frame_times(result)
    shown = [t for t in video_frame_times(source) if 0.5 - 0.0005 <= t < 3.5]
    assert [b - a for a, b in itertools.pairwise(kept)] == pytest.approx(
        [b - a for a, b in itertools.pairwise(shown)], abs=1e-4
    )


def test_a_preview_into_a_mov_says_its_sound_is_aac(embedded, prores_23976, tmp_path):
    # The preview's excerpt is an MP4, which holds no PCM; a .mov result of the whole video or
    # a part keeps it, and README says so: the preview says it does not.
    result = tmp_path / "preview.mov"
    run = embedded.convert(prores_23976, result, "--preview")
    assert run.returncode == 0, run.stderr

    assert [s["codec_type"] for s in _streams(result)][:2] == ["video", "audio"]
    assert (
        "A preview's sound is AAC; the whole video or a part (--start/--end) keeps the file's "
        "PCM sound in a .mov result." in " ".join(run.stderr.split())
    )
