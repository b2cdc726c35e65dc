"""Videos whose times do not start at 0 (a TV recording remuxed with its own clock), or whose
picture starts after its sound: how long they last, and where a part or a preview of them
starts and ends, all counted on one timeline, the file's, as ffmpeg's -ss and a player count."""

import itertools
from pathlib import Path

import av
import pytest

from stereo_spot.domain import Part
from stereo_spot.errors import InputRejected
from stereo_spot.media.assemble import concat_and_mux, rewrap
from stereo_spot.media.excerpt import cut_excerpt, cut_part, part_bounds
from stereo_spot.media.probe import probe_source, video_frame_times
from stereo_spot.media.split import split_video
from stereo_spot.settings import Settings
from tests.media import (
    ffmpeg,
    flashes_and_beeps,
    frame_numbers,
    joined_with_cat,
    make_flash_and_beep_clip,
    make_numbered_clip,
    probe,
)


def _starting_at(numbered: Path, offset: float, path: Path) -> Path:
    """``numbered``'s streams, copied into ``path`` with every time ``offset`` s later."""
    ffmpeg("-i", str(numbered), "-c", "copy", "-output_ts_offset", str(offset), str(path))
    return path


def _sound_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        packets = [p for p in container.demux(stream) if p.pts is not None]
    return float((packets[-1].pts + packets[-1].duration - packets[0].pts) * stream.time_base)


@pytest.fixture(scope="module")
def six_seconds(tmp_path_factory) -> Path:
    """6 s at 25 fps whose pictures show their numbers, one keyframe (x264's B-frames)."""
    return make_numbered_clip(tmp_path_factory.mktemp("timelines") / "six.mp4", gop=150)


@pytest.mark.parametrize(
    ("container", "offset"),
    [
        # ffmpeg writes a Matroska or NUT file's duration as where its last time ends: from
        # 10 s the video "lasted" 16 s, and from 30000 s (a -copyts remux of a TV recording)
        # 500 minutes, refused as longer than the limit.
        ("mkv", 10),
        ("mkv", 30000),
        ("nut", 10),
        # Read right already: their streams' own durations.
        ("mp4", 10),
        ("ts", 30000),
    ],
)
def test_a_video_whose_times_start_late_lasts_what_it_shows(
    six_seconds, tmp_path, container, offset
):
    source = _starting_at(six_seconds, offset, tmp_path / f"late.{container}")
    assert float(probe(source)["format"]["duration"]) != pytest.approx(6.0, abs=0.1) or (
        container in ("mp4", "ts")
    ), "the premise: the container says otherwise"

    info = probe_source(source, Settings())
    assert (info.duration, info.frames) == (pytest.approx(6.0, abs=0.002), 150)
    with pytest.raises(InputRejected, match=r"starts at 8 s, and the video is only 6\.0 s long"):
        part_bounds(info, Part(start=8))


def test_sparse_keyframes_of_a_video_starting_late_are_split_from_a_mezzanine(
    six_seconds, tmp_path
):
    # Its only keyframe is at 10 s: measured against the duration (6 s) instead of the end
    # (16 s), the gap after it seemed negative, and the video was copied as one segment of 6 s
    # where 1 s was asked for.
    source = _starting_at(six_seconds, 10, tmp_path / "late.mp4")
    info = probe_source(source, Settings())
    split = split_video(source, info, 1.0, tmp_path / "segments")
    assert len(split.segments) == 6
    assert [n for s in split.segments for n in frame_numbers(s)] == list(range(150))


@pytest.fixture(scope="module")
def picture_after_sound(tmp_path_factory) -> Path:
    """6 s at 30 fps, a keyframe every second, whose picture starts 0.3 s after its sound (as
    the reviewer's camera file did): frame n is shown at 0.3 + n / 30 s into the file."""
    folder = tmp_path_factory.mktemp("late_picture")
    numbered = make_numbered_clip(folder / "numbered.mp4", rate=30, gop=30)
    source = folder / "late_picture.mp4"
    ffmpeg("-itsoffset", "0.3", "-i", str(numbered), "-i", str(numbered),
           "-map", "0:v", "-map", "1:a", "-c", "copy", str(source))  # fmt: skip
    return source


@pytest.mark.parametrize(
    ("start", "end", "first"),
    [
        # Re-encoded: from the file's 2.0 s, frame 51.
        (2.0, 5.5, 51),
        # Copied to the end from the keyframe there: it was found 2 s after the picture's own
        # start, at frame 60 (2.3 s), 0.3 s late.
        (2.0, None, 51),
        (2.1, None, 54),
    ],
)
def test_a_part_starts_on_the_same_frame_whatever_its_end(
    picture_after_sound, tmp_path, start, end, first
):
    info = probe_source(picture_after_sound, Settings())
    part = cut_part(picture_after_sound, info, Part(start=start, end=end), tmp_path / "part.mkv")
    last = 179 if end is None else round((end - 0.3) * 30) - 1
    assert frame_numbers(part) == list(range(first, last + 1))


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_a_preview_copied_from_a_b_frame_video_holds_every_frame_once(tmp_path, container):
    # 29.97 fps, a keyframe every 60 frames, x264's B-frames. A copy stopped at the time asked
    # for kept a picture decoded ahead of those shown before it: frames 60-210 then 213, 213
    # shown for three frame times. It ends just before a keyframe (6.006 s) instead.
    numbered = make_numbered_clip(tmp_path / "numbered.mp4", seconds=8, rate="30000/1001", gop=60)
    source = numbered
    if container == "mkv":
        source = tmp_path / "numbered.mkv"
        ffmpeg("-i", str(numbered), "-c", "copy", str(source))
    info = probe_source(source, Settings())
    preview = cut_excerpt(source, info, 5.0, tmp_path / "preview.mp4")
    assert frame_numbers(preview) == list(range(60, 180))
    assert _sound_seconds(preview) == pytest.approx(120 * 1001 / 30000, abs=0.03)


def test_a_preview_of_a_matroska_video_starting_late_comes_from_its_middle(tmp_path):
    # From 10 s, it "lasted" 20 s: its preview was its last 3 s, frames 175-249.
    numbered = make_numbered_clip(tmp_path / "numbered.mp4", seconds=10, gop=25)
    source = _starting_at(numbered, 10, tmp_path / "late.mkv")
    preview = cut_excerpt(source, probe_source(source, Settings()), 5.0, tmp_path / "p.mp4")
    assert frame_numbers(preview) == list(range(50, 175))


@pytest.mark.parametrize("sound", ["aac", "mp2"])
def test_a_recording_whose_timestamps_jump_converts_continuous_and_in_sync(tmp_path, sound):
    # Two 2 s pieces joined with cat, the second's times 100 s on: ffmpeg and players read it
    # as 4 s. The join once timed its segments by the raw times: a 102 s video, its picture
    # frozen 98 s at the jump while the sound, read across it, went on.
    piece = make_flash_and_beep_clip(tmp_path / "piece.mp4", seconds=2)
    if sound != "aac":
        piece = tmp_path / "piece.mkv"  # with MP2 sound, as DVB broadcasts it
        ffmpeg("-i", str(tmp_path / "piece.mp4"), "-c:v", "copy", "-c:a", sound, str(piece))
    source = joined_with_cat(piece, tmp_path / "recording.ts")
    info = probe_source(source, Settings())
    assert (info.frames, info.duration) == (100, pytest.approx(4.0, abs=0.001))

    split = split_video(source, info, 1.0, tmp_path / "split")
    result = tmp_path / "recording_LR.mp4"
    concat_and_mux(split.segments, source, result, tmp_path / "join", layout="sbs")
    results = [result]
    if sound != "aac":
        # Encoded to AAC in the MP4; a Matroska copy takes the source's own sound instead.
        results.append(tmp_path / "recording_LR.mkv")
        rewrap(result, results[-1], "matroska", "sbs", source=source)

    flashes, beeps = flashes_and_beeps(source)  # read raw: each piece as it was recorded
    recorded = [b - f for f, b in zip(flashes, beeps, strict=True)]
    for converted in results:
        times = video_frame_times(converted)
        assert len(times) == 100
        assert max(b - a for a, b in itertools.pairwise(times)) == pytest.approx(0.04, abs=0.001)
        assert times[-1] + 0.04 - times[0] == pytest.approx(4.0, abs=0.001)
        flashes, beeps = flashes_and_beeps(converted)
        assert [f - flashes[0] for f in flashes] == pytest.approx([0, 1, 2, 3], abs=0.001)
        # The sound keeps its place against the picture after the jump as before it: each
        # beep as far from its flash as the source has it. (Read alone, the picture and the
        # sound moved by their own steps at the jump, the sound 42 ms late after it.)
        heard = [b - f for f, b in zip(flashes, beeps, strict=True)]
        copied = probe(converted)["streams"][1]["codec_name"] == sound
        if copied:
            assert heard == pytest.approx(recorded, abs=0.001)
        else:
            # Encoded to AAC: 10 ms later throughout (MP2's decoder delay, 481 samples, before
            # and after the jump alike).
            assert heard == pytest.approx([heard[0]] * 4, abs=0.001)
            assert heard == pytest.approx(recorded, abs=0.015)
