"""Long ffmpeg runs (a whole video's transcode): progress reported, no limit on length, stopped
when standing still."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

from stereo_spot.media import ffmpeg_run
from stereo_spot.media.ffmpeg_run import MediaError, _failure, run_ffmpeg_watched, safe_input
from tests.media import make_clip, probe, video_stream


def test_a_transcode_reports_its_progress_up_to_the_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(ffmpeg_run, "PROGRESS_INTERVAL_SECONDS", 0.0)
    clip = make_clip(tmp_path / "clip.mp4", seconds=3, audio=False)
    target = tmp_path / "out.mp4"
    reports: list[float] = []
    # -re reads the input at its own pace: 3 s of video take 3 s, so progress is seen midway.
    stream = safe_input(clip, re=None).output(str(target), vcodec="libx264", an=None)
    run_ffmpeg_watched(stream, duration=3.0, on_progress=reports.append)
    assert reports == sorted(reports), "never goes backwards"
    assert any(0.1 < done < 0.9 for done in reports), reports
    assert reports[-1] == 1.0
    assert int(video_stream(probe(target))["nb_read_packets"]) == 72


def test_a_transcode_standing_still_is_stopped(tmp_path):
    # A FIFO nobody writes to: ffmpeg waits for its first byte forever.
    fifo = tmp_path / "stuck.mp4"
    os.mkfifo(fifo)
    stream = safe_input(fifo).output(str(tmp_path / "out.mp4"))
    started = time.monotonic()
    with pytest.raises(MediaError, match=r"^ffmpeg made no progress for 1 s and was stopped\.$"):
        run_ffmpeg_watched(stream, duration=10.0, stall_seconds=1.0)
    assert time.monotonic() - started < 30
    ours = psutil.Process().children(recursive=True)  # session fixtures' servers among them
    assert not [child for child in ours if child.name() == "ffmpeg"], "the stuck ffmpeg is gone"
    assert not (tmp_path / "out.mp4").exists()


def test_a_failing_transcode_says_what_ffmpeg_said(tmp_path: Path):
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video\n")
    stream = safe_input(notes).output(str(tmp_path / "out.mp4"))
    with pytest.raises(MediaError, match=r"^ffmpeg failed: .*Invalid data"):
        run_ffmpeg_watched(stream, duration=1.0)


def test_a_failure_says_what_ffmpeg_said_before_its_closing_lines():
    # FLAC copied into MP4 by ffmpeg 5.1: the reason is above two lines that only say "failed".
    stderr = (
        "[mp4 @ 0x56501f696fc0] flac in MP4 support is experimental, add '-strict -2' if you "
        "want to use it.\n"
        "Could not write header for output file #0 (incorrect codec parameters ?): "
        "Experimental feature\n"
        "Error initializing output stream 0:1 -- \n"
    )
    assert str(_failure(stderr)) == (
        "ffmpeg failed: flac in MP4 support is experimental, add '-strict -2' if you want to "
        "use it."
    )
    assert str(_failure("Conversion failed!\n")) == "ffmpeg failed: Conversion failed!"
    assert str(_failure("")) == "ffmpeg failed: no message"
