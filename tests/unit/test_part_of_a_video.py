"""A part of a video (``convert --start/--end``): times as people write them, and the cut that
holds exactly the frames shown between the two, with their sound."""

import re
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from stereo_spot.domain import TIME_PATTERN, Part, SourceInfo, parse_time
from stereo_spot.errors import InputRejected
from stereo_spot.media.assemble import source_tracks
from stereo_spot.media.captions import extract_captions
from stereo_spot.media.excerpt import cut_excerpt, cut_part
from stereo_spot.media.probe import probe_source
from stereo_spot.settings import Settings
from tests.media import (
    ffmpeg,
    make_broadcast_with_captions,
    make_clip,
    probe,
    psnr,
    subtitle_cues,
    turned_sideways,
)

RATE = 24


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90.5", 90.5), ("1:30", 90), ("01:02:03.25", 3723.25), ("0:00", 0), (" 7 ", 7)],
)
def test_times_are_read_as_seconds_or_a_clock(text, seconds):
    assert parse_time(text) == seconds


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("1:75", "minutes and seconds run from 0 to 59"),
        ("1.5:00", "only the seconds may have a fraction"),
        ("-3", "0 or more"),
        ("soon", "give seconds (90.5) or a clock"),
        ("1:2:3:4", "give seconds (90.5) or a clock"),
        ("inf", "give seconds (90.5) or a clock"),
        ("", "give seconds (90.5) or a clock"),
    ],
)
def test_what_is_not_a_time_is_refused_with_what_would_be(text, complaint):
    with pytest.raises(ValueError, match=re.escape(complaint)):
        parse_time(text)


@pytest.mark.parametrize(
    "text",
    [
        "90",
        "90.5",
        "1:30",
        "90:00",
        "1:02:03.25",
        " 7 ",
        ".5",
        "1:75",
        "1.5:00",
        "soon",
        "1:2:3:4",
        "-3",
        "",
    ],
)
def test_the_portal_s_pattern_takes_what_the_parser_takes(text):
    # The browser checks the pattern before a file is uploaded: it must refuse no time the
    # portal reads, and let through none it refuses.
    try:
        parse_time(text)
        read = True
    except ValueError:
        read = False
    assert bool(re.fullmatch(TIME_PATTERN, text)) == read, text


def test_a_part_is_named_for_file_names_without_colons():
    assert Part(start=30, end=60).filename_tag == "_0m30s-1m00s"
    assert Part(start=90.5).filename_tag == "_1m30.5s-end"
    assert Part(start=3723.25, end=7200).filename_tag == "_1h02m03.25s-2h00m00s"
    with pytest.raises(ValueError, match="must come after the start"):
        Part(start=5, end=3)


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _audio_seconds(path: Path) -> float:
    """From the first sound packet's start to the last one's end (Matroska keeps no stream
    duration)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        packets = [p for p in container.demux(stream) if p.pts is not None]
    first, last = packets[0], packets[-1]
    return float((last.pts + last.duration - first.pts) * stream.time_base)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, SourceInfo, list[np.ndarray]]:
    """12 s, a keyframe every second, B-frames (x264's default), a tone."""
    folder = tmp_path_factory.mktemp("part")
    source = make_clip(
        folder / "clip.mp4",
        seconds=12,
        video_args=("-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "24", "-keyint_min", "24"),
    )
    return source, probe_source(source, Settings()), _frames(source)


def test_a_part_between_keyframes_holds_exactly_its_frames(clip, tmp_path):
    source, info, frames = clip
    # From frame 63 (2.625 s) until 7.25 s: 111 frames, neither end on a keyframe.
    part = cut_part(source, info, Part(start=2.625, end=7.25), tmp_path / "part.mkv")

    cut = _frames(part)
    assert len(cut) == 111
    # Re-encoded near-losslessly: each end is its own frame, not its neighbour.
    for mine, at, beside in ((cut[0], 63, 62), (cut[-1], 173, 174)):
        assert psnr(mine, frames[at]) > 40 > psnr(mine, frames[beside]), at
    assert _audio_seconds(part) == pytest.approx(4.625, abs=0.03)


def test_a_part_from_a_keyframe_to_the_end_is_the_source_s_own_pictures(clip, tmp_path):
    source, info, frames = clip
    part = cut_part(source, info, Part(start=8), tmp_path / "part.mkv")

    cut = _frames(part)
    assert len(cut) == 4 * RATE
    assert all(
        np.array_equal(mine, theirs) for mine, theirs in zip(cut, frames[8 * RATE :], strict=True)
    )
    # Copied too: whole AAC packets, the last one's 21 ms and the encoder's priming over.
    assert _audio_seconds(part) == pytest.approx(4.0, abs=0.1)


def test_an_end_past_the_video_s_end_is_the_end(clip, tmp_path):
    source, info, _ = clip
    part = cut_part(source, info, Part(start=10.5, end=60), tmp_path / "part.mkv")
    assert len(_frames(part)) == 36


def test_a_part_starting_after_the_video_is_refused_with_its_length(clip, tmp_path):
    source, info, _ = clip
    with pytest.raises(InputRejected, match=r"starts at 12\.5 s, and the video is only 12\.0 s"):
        cut_part(source, info, Part(start=12.5), tmp_path / "part.mkv")
    assert not (tmp_path / "part.mkv").exists()


def test_a_preview_of_a_part_comes_from_the_part_s_middle(clip, tmp_path):
    source, info, frames = clip
    # The part 2.5..10.5 s: its middle 5 s start at 4 s, on a keyframe, so they are copied.
    within = Part(start=2.5, end=10.5)
    preview = cut_excerpt(source, info, 5.0, tmp_path / "preview.mp4", within=within)
    cut = _frames(preview)
    assert np.array_equal(cut[0], frames[4 * RATE])
    assert abs(len(cut) - 5 * RATE) <= 4  # a copy cut's end: B-frames run it a few frames long
    # A part shorter than a preview is previewed whole.
    short = cut_excerpt(source, info, 5.0, tmp_path / "short.mp4", within=Part(start=4, end=6))
    assert np.array_equal(_frames(short)[0], frames[4 * RATE])
    assert abs(len(_frames(short)) - 2 * RATE) <= 4


def test_a_sideways_phone_video_s_part_is_turned_upright(clip, tmp_path):
    # From a keyframe to the end the part would be copied, but Matroska keeps no display
    # matrix: copied, the picture would be converted lying on its side.
    source, _, _ = clip
    sideways = turned_sideways(source, tmp_path / "phone.mp4")
    info = probe_source(sideways, Settings())
    assert info.rotation == 90, "the premise: a display matrix turns it when shown"
    part = cut_part(sideways, info, Part(start=8), tmp_path / "part.mkv")

    cut = probe_source(part, Settings())
    assert (cut.rotation, cut.width, cut.height, cut.frames) == (0, 108, 192, 4 * RATE)


@pytest.mark.parametrize(("start", "end"), [(8.0, None), (7.625, 11.0)])  # copied, re-encoded
def test_a_part_keeps_the_text_subtitles_shown_in_it_at_its_times(clip, tmp_path, start, end):
    source, _, _ = clip
    (tmp_path / "subs.srt").write_text(
        "1\n00:00:03,000 --> 00:00:04,000\nbefore\n\n2\n00:00:09,000 --> 00:00:10,000\ninside\n"
    )
    subtitled = tmp_path / "subtitled.mp4"  # as MP4 keeps them: mov_text, which Matroska cannot
    ffmpeg("-i", str(source), "-i", str(tmp_path / "subs.srt"), "-map", "0", "-map", "1",
           "-c", "copy", "-c:s", "mov_text", "-metadata:s:s:0", "handler_name=Dialogue",
           str(subtitled))  # fmt: skip
    info = probe_source(subtitled, Settings())
    part = cut_part(subtitled, info, Part(start=start, end=end), tmp_path / "part.mkv")

    kept = source_tracks(part)
    assert (kept.subtitle_codecs, kept.subtitle_names) == (["subrip"], ["Dialogue"])
    streams = probe(part)["streams"]
    # One cue, against the part's first frame (a copied B-frame picture starts a frame or two
    # into the file).
    video = next(s for s in streams if s["codec_type"] == "video")
    packets = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "s", "-show_entries",
         "packet=pts_time,duration_time", "-of", "csv=p=0", str(part)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    (shown,) = [tuple(float(field) for field in packet.split(",")) for packet in packets]
    assert shown[0] - float(video["start_time"]) == pytest.approx(9 - start, abs=0.01)
    assert shown[1] == pytest.approx(1.0, abs=0.01)


def test_a_tv_recording_s_part_keeps_the_captions_in_its_pictures(tmp_path):
    # MPEG-TS is never copied: the part is re-encoded, and x264 carries the pictures' captions.
    news = ((3.0, 4.0, "GOOD EVENING"), (4.5, 5.5, "HERE IS THE NEWS"))
    recording = make_broadcast_with_captions(tmp_path / "news.ts", news, seconds=8)
    info = probe_source(recording, Settings())
    part = cut_part(recording, info, Part(start=2, end=7), tmp_path / "part.mkv", 1.0)

    captions = extract_captions(part, tmp_path / "captions")
    assert captions is not None, "the captions are still in the part's pictures"
    assert [text for *_, text in subtitle_cues(captions)] == ["GOOD EVENING", "HERE IS THE NEWS"]
    assert [start for start, *_ in subtitle_cues(captions)] == [
        pytest.approx(1.0, abs=0.04),
        pytest.approx(2.5, abs=0.04),
    ]


@pytest.mark.parametrize(("start", "end", "timecode"), [
    (8.0, None, "01:00:08:00"),  # copied
    (2.625, 6.0, "01:00:02:15"),  # re-encoded: frame 63
])  # fmt: skip
def test_a_part_s_timecode_is_the_recording_s_at_its_first_frame(tmp_path, start, end, timecode):
    # A recorder's MOV/MP4 keeps its timecode in the picture's stream and a tmcd track: the
    # time of day of the first frame, which an editing system conforms the part by.
    source = make_clip(
        tmp_path / "take.mp4",
        seconds=12,
        video_args=("-c:v", "libx264", "-g", "24", "-keyint_min", "24", "-timecode", "01:00:00:00"),
    )
    info = probe_source(source, Settings())
    part = cut_part(source, info, Part(start=start, end=end), tmp_path / "part.mkv")
    assert source_tracks(part).timecode == timecode
