"""A part of a video (``convert --start/--end``): times as people write them, and the cut that
holds exactly the frames shown between the two, with their sound."""

import re
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
    frame_numbers,
    make_broadcast_with_captions,
    make_clip,
    make_numbered_clip,
    make_recording_begun_mid_gop,
    make_scc,
    psnr,
    stream_starts,
    subtitle_cues,
    turned_sideways,
)

RATE = 24
NEWS = ((0.5, 1.5, "GOOD EVENING"), (2.0, 3.5, "HERE IS THE NEWS"))


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


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_a_part_from_a_keyframe_to_the_end_is_the_source_s_own_pictures(clip, tmp_path, container):
    source, info, frames = clip
    if container == "mkv":
        # Matroska is sought by decode times: ffmpeg's seek to the keyframe landed a second
        # early, and the part started at 7 s with its sound missing until 8 s.
        source = tmp_path / "clip.mkv"
        ffmpeg("-i", str(clip[0]), "-c", "copy", str(source))
        info = probe_source(source, Settings())
    part = cut_part(source, info, Part(start=8), tmp_path / "part.mkv")

    cut = _frames(part)
    assert len(cut) == 4 * RATE
    assert all(
        np.array_equal(mine, theirs) for mine, theirs in zip(cut, frames[8 * RATE :], strict=True)
    )
    # Copied too: whole AAC packets, the last one's 21 ms and the encoder's priming over.
    assert _audio_seconds(part) == pytest.approx(4.0, abs=0.1)
    starts = stream_starts(part)
    assert starts["audio"] - starts["video"] == pytest.approx(0.0, abs=0.03)


def test_a_part_starting_between_two_frames_ends_on_its_last_frame(clip, tmp_path):
    # ffmpeg's -t lasts from the first picture it decodes, here frame 64 (2.667 s): the part
    # until 7.25 s held frame 174, at 7.25 s itself.
    source, info, frames = clip
    cut = _frames(cut_part(source, info, Part(start=2.63, end=7.25), tmp_path / "part.mkv"))
    assert len(cut) == 110
    for mine, at, beside in ((cut[0], 64, 63), (cut[-1], 173, 174)):
        assert psnr(mine, frames[at]) > 40 > psnr(mine, frames[beside]), at


def test_a_part_from_the_start_of_a_recording_begun_mid_gop_keeps_its_first_sound(tmp_path):
    # An MP4 kept from a tuner's recording with the pictures before its first keyframe (ffmpeg
    # -copyinkf): a seek to 0 s landed past the first 0.19 s of sound.
    recording = make_recording_begun_mid_gop(tmp_path / "recording.ts")
    kept = tmp_path / "recording.mp4"
    ffmpeg("-i", str(recording), "-map", "0", "-c", "copy", "-copyinkf", str(kept))
    part = cut_part(kept, probe_source(kept, Settings()), Part(start=0, end=2), tmp_path / "p.mkv")
    assert _audio_seconds(part) == pytest.approx(2.0, abs=0.03)


def test_a_part_between_two_frames_is_refused_saying_why(clip, tmp_path):
    source, info, _ = clip
    with pytest.raises(InputRejected) as refused:
        cut_part(source, info, Part(start=4.01, end=4.03), tmp_path / "part.mkv")
    assert str(refused.value) == (
        "The part from 0:04.01 to 0:04.03 holds no frame of the video, whose frames last 0.042 s "
        "each; ask for a longer part."
    )


def test_an_end_past_the_video_s_end_is_the_end(clip, tmp_path):
    source, info, _ = clip
    part = cut_part(source, info, Part(start=10.5, end=60), tmp_path / "part.mkv")
    assert len(_frames(part)) == 36


@pytest.mark.parametrize(
    ("name", "rate", "video_args", "audio_codec", "seconds", "start"),
    [
        ("match.ts", 25, ("-c:v", "mpeg2video", "-bf", "2", "-g", "12", "-q:v", "2"), "mp2", 6, 2),
        ("film.avi", 24, ("-c:v", "mpeg4", "-bf", "2", "-g", "24", "-q:v", "2"), "libmp3lame",
         6, 2),
        # Sought from 10 s before the start, where the byte seek lands part-way through a GOP:
        # ffmpeg's -t then lasted from the next keyframe, and the part held 0.7 s too much.
        ("news.ts", 25, ("-c:v", "libx264", "-g", "50", "-crf", "12"), "mp2", 16, 12.32),
    ],
)  # fmt: skip
def test_a_part_of_a_file_with_no_index_of_times_starts_on_its_frame(
    tmp_path, name, rate, video_args, audio_codec, seconds, start
):
    # MPEG-TS has no index: ffmpeg seeks it by guessing where in the file a time is, and its
    # seek to 2 s landed on the next GOP's first picture, so the part began at 2.4 s. An AVI's
    # frames are timed by their count, which its demuxer's own times ran a frame ahead of.
    recording = tmp_path / name
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s=192x108:r={rate}:d={seconds}"),
        *("-f", "lavfi", "-i", f"sine=d={seconds}"),
        *video_args, *("-c:a", audio_codec, "-output_ts_offset", "10", str(recording)),
    )  # fmt: skip
    info = probe_source(recording, Settings())
    frames = _frames(recording)
    part = cut_part(recording, info, Part(start=start, end=start + 2), tmp_path / "part.mkv", 1.0)

    cut = _frames(part)
    first, last = round(start * rate), round((start + 2) * rate) - 1
    assert len(cut) == last - first + 1
    for mine, at, beside in ((cut[0], first, first - 1), (cut[-1], last, last + 1)):
        assert psnr(mine, frames[at]) > 35 > psnr(mine, frames[beside]), at
    starts = stream_starts(part)
    assert starts["audio"] - starts["video"] == pytest.approx(0.0, abs=0.03)


def _frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [float(frame.pts * stream.time_base) for frame in container.decode(stream)]


@pytest.mark.parametrize(("start", "end"), [(1.5, 4.0), (3.0, None), (2.5, 60)])
def test_a_variable_frame_rate_part_holds_its_frames_at_their_times(tmp_path, start, end):
    # 24 fps for 2 s, then 8 fps; the header says the video lasts 4.75 s, and its last frame
    # is shown at 4.875 s: a part to the end once lost the frames after the header's end.
    source = tmp_path / "phone.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=192x108:r=24:d=3", "-f", "lavfi", "-i", "sine=d=6"),
        *("-vf", "setpts='if(lt(N,48),N,48+3*(N-48))/24/TB'", "-fps_mode", "passthrough"),
        *("-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-g", "12", "-c:a", "aac", str(source)),
    )
    info = probe_source(source, Settings())
    assert info.duration < 4.875, "the premise: the header ends before the last frame"
    part = cut_part(source, info, Part(start=start, end=end), tmp_path / "part.mkv", 1.0)

    wanted = [t for t in _frame_times(source) if start <= t < (end or 60)]
    times = _frame_times(part)
    assert [round(t - times[0], 3) for t in times] == [round(t - start, 3) for t in wanted]


def test_a_part_starting_after_the_video_is_refused_with_its_length(clip, tmp_path):
    source, info, _ = clip
    with pytest.raises(InputRejected, match=r"starts at 12\.5 s, and the video is only 12\.0 s"):
        cut_part(source, info, Part(start=12.5), tmp_path / "part.mkv")
    # Said to the millisecond where a tenth of a second would not show the video shorter.
    with pytest.raises(InputRejected, match=r"starts at 12 s, and the video is only 12\.000 s"):
        cut_part(source, info, Part(start=12), tmp_path / "part.mkv")
    assert not (tmp_path / "part.mkv").exists()


def test_a_start_past_a_minute_is_said_as_the_clock_it_was_given_in(clip, tmp_path):
    # `--start 1:02:30` on a short file said "starts at 3750 s".
    source, info, _ = clip
    with pytest.raises(InputRejected) as refusal:
        cut_part(source, info, Part(start=3750, end=3900), tmp_path / "part.mkv")
    assert str(refusal.value) == (
        "The part asked for starts at 1:02:30, and the video is only 12.0 s long."
    )
    long = info.model_copy(update={"duration": 3725.5})
    with pytest.raises(InputRejected) as refusal:
        cut_part(source, long, Part(start=3750), tmp_path / "part.mkv")
    assert str(refusal.value) == (
        "The part asked for starts at 1:02:30, and the video is only 1:02:05.5 long."
    )


def test_a_preview_of_a_part_comes_from_the_part_s_middle(clip, tmp_path):
    source, info, frames = clip
    # The part 2.5..10.5 s: its middle 5 s start at 4 s, on a keyframe, so they are copied.
    within = Part(start=2.5, end=10.5)
    preview = cut_excerpt(source, info, 5.0, tmp_path / "preview.mp4", within=within)
    cut = _frames(preview)
    assert np.array_equal(cut[0], frames[4 * RATE])
    assert abs(len(cut) - 5 * RATE) <= 4  # a copy cut's end: B-frames run it a few frames long


@pytest.fixture(scope="module")
def numbered(tmp_path_factory) -> dict[str, Path]:
    """10 s at 25 fps whose pictures show their numbers: keyframes only at 0 s, and every 1 s."""
    folder = tmp_path_factory.mktemp("numbered")
    return {
        "one keyframe": make_numbered_clip(folder / "one.mp4", seconds=10),
        "a keyframe a second": make_numbered_clip(folder / "every.mp4", seconds=10, gop=25),
    }


def _sound_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return float(stream.duration * stream.time_base)


@pytest.mark.parametrize(
    ("keyframes", "start", "end", "first"),
    [
        # The keyframe nearest the middle of 1..3 s is at 0 s: copied from there, the preview
        # held frames 0-53 but 52, 2.12 s of picture over 2 s of sound.
        ("one keyframe", 1.0, 3.0, 25),
        # Between keyframes: copied from the nearest (2 s) it began half a second early.
        ("a keyframe a second", 2.5, 4.5, 63),
        # From a keyframe, but not to the video's end: a copy would run past the part's end.
        ("a keyframe a second", 2.0, 4.0, 50),
        # From a keyframe to the end: copied, and nothing is past the end.
        ("a keyframe a second", 8.0, None, 200),
    ],
)
def test_a_part_shorter_than_a_preview_is_previewed_whole_and_exactly(
    numbered, tmp_path, keyframes, start, end, first
):
    source = numbered[keyframes]
    info = probe_source(source, Settings())
    preview = cut_excerpt(
        source, info, 5.0, tmp_path / "preview.mp4", within=Part(start=start, end=end)
    )
    seconds = (end or 10.0) - start
    assert frame_numbers(preview) == list(range(first, first + round(seconds * 25)))
    assert _sound_seconds(preview) == pytest.approx(seconds, abs=0.03)


@pytest.mark.parametrize(("keyframes", "start", "end"), [
    # The keyframe nearest the middle (2.05 s) is at 2 s: copied, 5 s from there ran 4 frames
    # past the part's end, 7.1 s.
    ("a keyframe a second", 2.0, 7.1),
    # The nearest is 0 s, before the part.
    ("one keyframe", 1.0, 7.0),
])  # fmt: skip
def test_a_preview_of_a_longer_part_stays_inside_it(numbered, tmp_path, keyframes, start, end):
    source = numbered[keyframes]
    info = probe_source(source, Settings())
    preview = cut_excerpt(
        source, info, 5.0, tmp_path / "preview.mp4", within=Part(start=start, end=end)
    )
    shown = frame_numbers(preview)
    assert round(start * 25) <= min(shown) and max(shown) < round(end * 25)
    assert len(shown) == 5 * 25 and shown == sorted(set(shown)), "every frame, in order"
    assert _sound_seconds(preview) == pytest.approx(5.0, abs=0.03)


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


def _cues_against_the_picture(path: Path) -> list[tuple[float, float, str]]:
    """(start, end, text) of each cue of the first subtitle track (SubRip, its markup left out),
    in seconds from the first picture (a copied B-frame picture starts a frame or two into the file)."""
    with av.open(str(path)) as container:
        video, text = container.streams.video[0], container.streams.subtitles[0]
        first = min(p.pts for p in container.demux(video) if p.pts is not None) * video.time_base
        container.seek(0)
        cues = []
        for packet in container.demux(text):
            if packet.pts is None or not packet.size:
                continue
            shown = float(packet.pts * text.time_base - first)
            cleared = shown + float(packet.duration * text.time_base)
            words = re.sub(r"<[^>]*>|\{[^}]*\}", "", bytes(packet).decode()).strip()
            cues.append((round(shown, 3), round(cleared, 3), words))
    return cues


SUBTITLES = (
    "1\n00:00:03,000 --> 00:00:04,000\nbefore\n\n2\n00:00:07,000 --> 00:00:08,500\nacross\n\n"
    "3\n00:00:09,000 --> 00:00:10,000\ninside\n\n4\n00:00:11,500 --> 00:00:11,800\nafter\n"
)


@pytest.mark.parametrize(
    ("container", "codec", "name_tag"),
    [("mp4", "mov_text", "handler_name"), ("mkv", "srt", "title")],  # MP4's own kind, SubRip
)
@pytest.mark.parametrize(("start", "end"), [(8.0, None), (7.625, 11.0)])  # copied, re-encoded
def test_a_part_keeps_the_text_subtitles_shown_in_it_at_its_times(
    clip, tmp_path, container, codec, name_tag, start, end
):
    source, _, _ = clip
    (tmp_path / "subs.srt").write_text(SUBTITLES)
    subtitled = tmp_path / f"subtitled.{container}"
    ffmpeg("-i", str(source), "-i", str(tmp_path / "subs.srt"), "-map", "0", "-map", "1",
           "-c", "copy", "-c:s", codec, "-metadata:s:s:0", f"{name_tag}=Dialogue",
           "-metadata:s:s:0", "language=eng", "-disposition:s:0", "default+forced",
           str(subtitled))  # fmt: skip
    info = probe_source(subtitled, Settings())
    part = cut_part(subtitled, info, Part(start=start, end=end), tmp_path / "part.mkv")

    assert len(_frames(part)) == RATE * ((end or 12) - start)
    kept, whole = source_tracks(part), source_tracks(subtitled)
    assert (kept.subtitle_codecs, kept.subtitle_names) == (["subrip"], ["Dialogue"])
    # Its language and flags too, which the result's track takes (the text, read back from
    # SubRip, once came without them: "und").
    assert kept.subtitle_languages == whole.subtitle_languages == ["eng"]
    assert kept.subtitle_dispositions == whole.subtitle_dispositions
    # The cue on screen at the start keeps what is left of it; one after the end is left out.
    expected = [(0.0, 8.5 - start, "across"), (9 - start, 10 - start, "inside")]
    if end is None:
        expected.append((11.5 - start, 11.8 - start, "after"))
    cues = _cues_against_the_picture(part)
    assert [text for *_, text in cues] == [text for *_, text in expected]
    for (shown, cleared, _), (want_shown, want_cleared, _) in zip(cues, expected, strict=True):
        # Within a frame: a Matroska source's first picture here comes 21 ms after its zero.
        assert (shown, cleared) == (pytest.approx(want_shown, abs=0.03),
                                    pytest.approx(want_cleared, abs=0.03))  # fmt: skip
    # Nothing moved the picture later than its sound (a cue begun before the start once did,
    # by as long as it had been on screen, and the join then put the sound late by as much).
    starts = stream_starts(part)
    assert starts["audio"] - starts["video"] == pytest.approx(0.0, abs=0.03)


def test_a_part_of_a_master_keeps_its_caption_track_at_its_times(tmp_path):
    # A QuickTime master's captions are a track of their own (c608), turned to SubRip; from a
    # keyframe to the end the part is copied, starting while the first caption is on screen.
    master = tmp_path / "master.mov"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=192x108:r=30000/1001:d=4"),
        *("-i", str(make_scc(tmp_path / "news.scc", NEWS)), "-map", "0:v", "-map", "1:s"),
        *("-c:v", "libx264", "-g", "30", "-c:s", "copy", str(master)),
    )
    info = probe_source(master, Settings())
    part = cut_part(master, info, Part(start=1.0), tmp_path / "part.mkv")

    assert len(_frames(part)) == info.frames - 30, "from frame 30 (1.001 s), the keyframe"
    assert source_tracks(part).subtitle_names == ["Closed captions"]
    first_frame = 30 * 1001 / 30000
    expected = [
        (max(0.0, shown - first_frame), cleared - first_frame, text)
        for shown, cleared, text in subtitle_cues(master)
    ]
    cues = _cues_against_the_picture(part)
    assert [text for *_, text in cues] == ["GOOD EVENING", "HERE IS THE NEWS"]
    for (shown, cleared, _), (want_shown, want_cleared, _) in zip(cues, expected, strict=True):
        assert (shown, cleared) == (pytest.approx(want_shown, abs=0.02),
                                    pytest.approx(want_cleared, abs=0.02))  # fmt: skip
    assert stream_starts(part)["subtitle"] == pytest.approx(stream_starts(part)["video"], abs=0.02)


def test_a_tv_recording_s_part_keeps_the_captions_in_its_pictures(tmp_path):
    # MPEG-TS is never copied: the part is re-encoded, and x264 carries the pictures' captions.
    news = ((3.0, 4.0, "GOOD EVENING"), (4.5, 5.5, "HERE IS THE NEWS"))
    recording = make_broadcast_with_captions(tmp_path / "news.ts", news, seconds=8)
    info = probe_source(recording, Settings())
    part = cut_part(recording, info, Part(start=2, end=7), tmp_path / "part.mkv", 1.0)

    captions = extract_captions(part, tmp_path / "captions")
    assert captions is not None, "the captions are still in the part's pictures"
    assert [text for *_, text in subtitle_cues(captions)] == ["GOOD EVENING", "HERE IS THE NEWS"]
    # The part starts 2 s into the file, whose sound leads its picture by 0.5 s: 1.5 s into the
    # picture, where the captions are timed from. (A seek that landed on a later GOP once put
    # the part's start 0.5 s later.)
    assert [start for start, *_ in subtitle_cues(captions)] == [
        pytest.approx(3.0 - 1.5, abs=0.04),
        pytest.approx(4.5 - 1.5, abs=0.04),
    ]


@pytest.mark.parametrize(("start", "end", "timecode"), [
    (8.0, None, "01:00:08:00"),  # copied
    (2.625, 6.0, "01:00:02:15"),  # re-encoded: frame 63
    # In the first half of a frame: the part starts on the next one (frame 62.4 is frame 63),
    # and so does its timecode.
    (2.6, 6.0, "01:00:02:15"),
    (7.97, None, "01:00:08:00"),  # copied from the keyframe at 8 s (frame 191.28)
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
