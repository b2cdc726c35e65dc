"""The reassemble step on the local adapters: the joined video must hold exactly the source's
frames, or the job fails with how many it holds and publishes nothing."""

import logging
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest

from components.chunk import chunk_source
from components.reassemble import ReassemblyFailed, reassemble_job
from stereo_spot import keys
from stereo_spot.domain import Job, JobStatus, Layout, Part, SubtitleTrack
from stereo_spot.media.assemble import (
    concat_and_mux,
    end_last_frame_with_the_track,
    holds_source_audio,
    rewrap,
)
from stereo_spot.media.probe import count_video_frames, probe_source
from stereo_spot.media.split import split_video
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from, storage_from
from tests.media import (
    ffmpeg,
    make_broadcast_with_captions,
    make_clip,
    make_dvd_subtitles,
    make_variable_frame_rate_clip,
    probe,
    stereo_side_data,
    stream_starts,
    subtitle_cues,
)

NEWS = ((0.8, 2.0, "GOOD EVENING"), (2.5, 3.5, "HERE IS THE NEWS"))


@pytest.fixture
def converted(tmp_path: Path):
    """A job chunked into 1 s segments, each "converted" as a copy of its source segment."""
    return _converted(make_clip(tmp_path / "clip.mp4", seconds=3), tmp_path)


def _converted(clip: Path, tmp_path: Path, part: Part | None = None):
    settings = Settings(backend="local", data_dir=tmp_path / "data")
    storage, jobs = storage_from(settings), job_store_from(settings)
    job = jobs.create(Job(layout=Layout.SBS, source_name=clip.name, part=part))
    storage.put_file(clip, keys.source_key(job.job_id))
    jobs.transition(job.job_id, JobStatus.UPLOADED)
    jobs.transition(job.job_id, JobStatus.QUEUED, source=probe_source(clip, settings))
    source_uri = storage.uri_for(keys.source_key(job.job_id))
    segments = chunk_source(job.job_id, source_uri, "sbs", 1.0, storage, jobs, settings)
    for segment in segments:
        index = int(segment["segment_index"])
        piece = storage.get_file(
            storage.key_from_uri(segment["input_uri"]), tmp_path / f"in-{index}.mp4"
        )
        storage.put_file(piece, keys.converted_segment_key(job.job_id, index))
        jobs.mark_segment_done(job.job_id, index)
    return job.job_id, source_uri, storage, jobs, clip, tmp_path


def test_the_joined_segments_are_published_with_a_preview(converted):
    job_id, source_uri, storage, jobs, clip, tmp_path = converted
    figures = reassemble_job(job_id, source_uri, storage, jobs)
    assert jobs.get(job_id).status is JobStatus.COMPLETED
    assert figures["segments"] == 3
    final = storage.get_file(keys.final_key(job_id), tmp_path / "final.mp4")
    assert count_video_frames(final) == count_video_frames(clip)
    preview = storage.get_file(keys.preview_key(job_id), tmp_path / "preview.jpg")
    assert preview.read_bytes()[:2] == b"\xff\xd8", "a JPEG"
    # The segments went once the result was stored: they held the video twice over again.
    assert not any(storage.list_prefix(prefix) for prefix in keys.segment_prefixes(job_id))
    assert storage.exists(keys.source_key(job_id)), "the source stays, to convert again"


def test_a_part_is_cut_once_split_by_copy_and_joined_with_its_own_sound(tmp_path, caplog):
    clip = make_clip(tmp_path / "clip.mp4", seconds=6)  # 24 fps, a keyframe every 12 frames
    part = Part(start=1.125, end=4.5)  # frames 27 to 107, neither end on a keyframe
    with caplog.at_level(logging.INFO, logger="stereo_spot.media.split"):
        job_id, source_uri, storage, jobs, _, _ = _converted(clip, tmp_path, part)

    assert not [r for r in caplog.records if "mezzanine" in r.getMessage()], (
        "the cut has a keyframe at every segment boundary: no second transcode"
    )
    job = jobs.get(job_id)
    assert (job.total_segments, job.part_source.frames) == (4, 81)  # 3.375 s in 1 s segments
    assert job.source.frames == 144, "the job still describes the whole video"
    assert storage.exists(keys.part_key(job_id))
    reassemble_job(job_id, source_uri, storage, jobs)
    final = storage.get_file(keys.final_key(job_id), tmp_path / "final.mp4")
    assert count_video_frames(final) == 81
    (sound,) = [s for s in probe(final)["streams"] if s["codec_type"] == "audio"]
    assert float(sound["duration"]) == pytest.approx(3.375, abs=0.03), "the part's own sound"
    # Its segments went with the join, the part stayed: an .mkv or .mov written later from the
    # result takes what the MP4 could not hold (a recorder's PCM) from it.
    assert storage.list_prefix(f"segments/{job_id}/") == [keys.part_key(job_id)]


def test_a_part_starting_under_a_subtitle_keeps_its_sound_with_its_picture(tmp_path):
    (tmp_path / "subs.srt").write_text("1\n00:00:00,500 --> 00:00:02,000\nacross the start\n")
    clip = make_clip(tmp_path / "clip.mp4", seconds=6)
    film = tmp_path / "film.mp4"  # its subtitles as MP4 keeps them (mov_text)
    ffmpeg("-i", str(clip), "-i", str(tmp_path / "subs.srt"), "-map", "0", "-map", "1",
           "-c", "copy", "-c:s", "mov_text", str(film))  # fmt: skip
    job_id, source_uri, storage, jobs, _, _ = _converted(film, tmp_path, Part(start=1.125, end=4.5))
    reassemble_job(job_id, source_uri, storage, jobs)

    final = storage.get_file(keys.final_key(job_id), tmp_path / "final.mp4")
    starts = stream_starts(final)
    # The cue had been on screen 0.625 s at the part's start: the sound once came that late.
    assert starts["audio"] - starts["video"] == pytest.approx(0.0, abs=0.03)
    assert subtitle_cues(final) == [(0.0, 0.875, "across the start")]


@pytest.mark.parametrize("later", [0.5, 1.5])
def test_a_subtitle_before_the_picture_and_sound_moves_neither(tmp_path, later):
    # A film whose first subtitle comes before its picture and sound, as a rip with a cue from
    # the very start has it. ffmpeg starts reading the file at the cue when it is up to a
    # second early, else at the sound and picture, and the cue then came out before 0 s.
    (tmp_path / "subs.srt").write_text(
        "1\n00:00:00,000 --> 00:00:01,000\nfirst\n\n2\n00:00:02,000 --> 00:00:03,000\nsecond\n"
    )
    clip = make_clip(tmp_path / "clip.mp4", seconds=3)
    film = tmp_path / "film.mkv"
    ffmpeg("-itsoffset", str(later), "-i", str(clip), "-i", str(tmp_path / "subs.srt"),
           "-map", "0", "-map", "1", "-c", "copy", "-c:s", "srt", str(film))  # fmt: skip
    job_id, source_uri, storage, jobs, _, _ = _converted(film, tmp_path)
    reassemble_job(job_id, source_uri, storage, jobs)

    final = storage.get_file(keys.final_key(job_id), tmp_path / "final.mp4")
    rewrapped = tmp_path / "final.mkv"  # as `convert -o film_LR.mkv` writes it
    rewrap(final, rewrapped, "matroska", "sbs", source=film)
    before = stream_starts(film)
    # Measured from the sound alone, the picture started 0.48 s before the sound (0.5 s
    # later); at 1.5 s later every track came 1.5 s late against the subtitles.
    for result in (final, rewrapped):
        after = stream_starts(result)
        for kind in ("video", "audio"):
            assert after[kind] - after["subtitle"] == pytest.approx(
                before[kind] - before["subtitle"], abs=0.01
            ), (result.name, kind)
        assert subtitle_cues(result) == [(0.0, 1.0, "first"), (2.0, 3.0, "second")]
    # And as the portal's player is handed them.
    vtt = storage.get_file(keys.subtitles_key(job_id, 0), tmp_path / "0.vtt").read_text()
    assert "00:00.000 --> 00:01.000\nfirst" in vtt and "00:02.000 --> 00:03.000\nsecond" in vtt


def test_a_picture_subtitle_before_the_picture_and_sound_puts_no_gap_before_them(tmp_path):
    # A DVD rip whose picture subtitles begin 1.5 s before its picture and sound: the MP4 takes
    # no picture subtitles, and starts with the picture and sound, as players show the rip.
    clip = make_clip(tmp_path / "clip.mp4", seconds=3)
    film = tmp_path / "rip.mkv"
    ffmpeg("-itsoffset", "1.5", "-i", str(clip), "-i", str(make_dvd_subtitles(tmp_path, (0.0,))),
           "-map", "0", "-map", "1", "-c", "copy", str(film))  # fmt: skip
    job_id, source_uri, storage, jobs, _, _ = _converted(film, tmp_path)
    reassemble_job(job_id, source_uri, storage, jobs)

    final = storage.get_file(keys.final_key(job_id), tmp_path / "final.mp4")
    assert stream_starts(final)["video"] == pytest.approx(0.0, abs=0.03)
    assert stream_starts(final)["audio"] == pytest.approx(0.0, abs=0.03)


def test_the_results_text_tracks_are_published_as_webvtt_for_browsers(tmp_path):
    # A TV recording with its captions in the picture, and a French subtitle track beside them:
    # browsers show neither from the MP4, so each is published as WebVTT, named for the menu.
    (tmp_path / "fr.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nBonsoir\n")
    recording = make_broadcast_with_captions(tmp_path / "news.ts", NEWS)
    film = tmp_path / "news.mkv"
    ffmpeg(
        *("-i", str(recording), "-i", str(tmp_path / "fr.srt"), "-map", "0", "-map", "1"),
        *("-c", "copy", "-metadata:s:s:0", "language=fra", str(film)),
    )
    job_id, source_uri, storage, jobs, _, _ = _converted(film, tmp_path)
    reassemble_job(job_id, source_uri, storage, jobs)

    assert jobs.get(job_id).subtitles == [
        SubtitleTrack(label="fra", language="fra"),
        SubtitleTrack(label="Closed captions", captions=True),
    ]
    french, captions = (
        storage.get_file(keys.subtitles_key(job_id, n), tmp_path / f"{n}.vtt").read_text()
        for n in (0, 1)
    )
    assert french.startswith("WEBVTT") and "Bonsoir" in french
    # Where the result shows them: after the sound's lead over the picture, as in the source.
    lead = float(probe(film)["streams"][0]["start_time"])
    cues = captions.split("\n\n")[1:]
    assert [cue.splitlines()[1] for cue in cues] == ["GOOD EVENING", "HERE IS THE NEWS"]
    shown = float(cues[0].split(" --> ")[0].split(":")[1])
    assert abs(shown - (NEWS[0][0] + lead)) < 0.017, captions


def test_a_segment_short_of_a_frame_fails_the_job_and_publishes_nothing(converted):
    job_id, source_uri, storage, jobs, clip, tmp_path = converted
    key = keys.converted_segment_key(job_id, 1)
    whole = storage.get_file(key, tmp_path / "whole.mp4")
    short = tmp_path / "short.mp4"
    keep = count_video_frames(whole) - 1
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(whole), "-frames:v", str(keep), "-c", "copy", short],
        check=True,
    )
    storage.put_file(short, key)
    expected = count_video_frames(clip)
    with pytest.raises(ReassemblyFailed) as failure:
        reassemble_job(job_id, source_uri, storage, jobs)
    reason = f"The joined video has {expected - 1} frames instead of {expected}."
    assert str(failure.value) == reason
    job = jobs.get(job_id)
    assert job.status is JobStatus.FAILED and job.error == reason
    assert not storage.exists(keys.final_key(job_id))
    assert not storage.exists(keys.preview_key(job_id))


def test_segments_that_cannot_be_joined_fail_the_job_with_the_reason(converted):
    # Before, the job said only "The pipeline failed: Task exit-handler-1 failed."
    job_id, source_uri, storage, jobs, _, tmp_path = converted
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 200)
    storage.put_file(damaged, keys.converted_segment_key(job_id, 1))

    with pytest.raises(ReassemblyFailed) as failed:
        reassemble_job(job_id, source_uri, storage, jobs)

    job = jobs.get(job_id)
    assert job.status is JobStatus.FAILED and job.error == str(failed.value)
    assert job.error.startswith("The segments could not be joined with the source's sound: ")
    assert job.error.endswith("it is damaged or in an unsupported format.")
    assert not storage.exists(keys.final_key(job_id))


@pytest.mark.parametrize(
    ("codecs", "muxer", "from_source"),
    [
        (["pcm_s24le"], "mov", True),  # a recorder's sound, which MP4 holds only as AAC
        (["pcm_s24le"], "matroska", True),
        (["aac", "pcm_s16le"], "mov", True),  # the MP4 encoded both: both come from the source
        (["vorbis"], "mov", False),  # QuickTime has no Vorbis: the MP4's AAC
        (["vorbis"], "matroska", True),
        (["truehd"], "matroska", True),  # a film's lossless track
        (["aac"], "matroska", False),  # the MP4 copied it already
        (["dts", "ac3"], "matroska", False),
        (["pcm_bluray"], "matroska", False),  # as discs pack it, which neither container takes
        (["pcm_s16le"], "mp4", False),
        ([], "matroska", False),
    ],
)
def test_a_rewrapped_result_takes_the_sources_sound_where_the_mp4_could_not_hold_it(
    codecs, muxer, from_source
):
    assert holds_source_audio(codecs, muxer) is from_source


@pytest.mark.parametrize("layout", ["sbs", "half-tab"])
def test_the_joined_video_keeps_the_pixel_aspect_ratio_exact(tmp_path, layout):
    # 176x144 at 128:117 (a QCIF phone clip's). The join passed the video through an MKV for
    # its ``st3d`` box, and Matroska's whole display width rounded the MP4's to 193:176.
    clip = make_clip(tmp_path / "qcif.mp4", seconds=2, size="176x144",
                     video_args=("-c:v", "libx264", "-g", "12", "-vf", "setsar=128/117:max=255"))  # fmt: skip
    info = probe_source(clip, Settings())
    segments = split_video(clip, info, 1.0, tmp_path / "split").segments
    joined = tmp_path / "joined.mp4"
    concat_and_mux(segments, clip, joined, tmp_path / "work", layout=layout)
    with av.open(str(joined)) as container:
        stream = container.streams.video[0]
        # The MP4's (pasp) and the picture's own (H.264's VUI), as players read them.
        assert (stream.sample_aspect_ratio, stream.codec_context.sample_aspect_ratio) == (
            Fraction(128, 117),
            Fraction(128, 117),
        )
    packing = "side by side" if layout == "sbs" else "top and bottom"
    assert [s.get("type") for s in stereo_side_data(joined)] == [packing]
    assert count_video_frames(joined) == info.frames


def test_a_variable_frame_rate_videos_last_picture_lasts_to_the_tracks_end(tmp_path):
    # The MP4 muxer gave the joined B-frame video's last sample one nominal frame, and its
    # samples' durations (its decode times' steps, two frames behind the pictures) ended at
    # 3.900 s: ffprobe, PyAV and players ended the track there, before the last picture did.
    clip = make_variable_frame_rate_clip(tmp_path / "vfr.mp4")
    segments = split_video(clip, probe_source(clip, Settings()), 1.0, tmp_path / "split").segments
    joined = tmp_path / "joined.mp4"
    concat_and_mux(segments, clip, joined, tmp_path / "work", layout="sbs")

    (video,) = [s for s in probe(joined)["streams"] if s["codec_type"] == "video"]
    assert float(video["duration"]) == pytest.approx(3.966667, abs=0.001)
    with av.open(str(joined)) as result, av.open(str(clip)) as source:
        stream = result.streams.video[0]
        assert float(stream.duration * stream.time_base) == pytest.approx(3.966667, abs=0.001)
        times = [frame.time for frame in result.decode(video=0)]
        assert times == [frame.time for frame in source.decode(video=0)]
    assert len(times) == 80 and times[-1] == pytest.approx(3.933333, abs=0.001)
    assert [s.get("type") for s in stereo_side_data(joined)] == ["side by side"]


def test_a_constant_frame_rate_join_already_ends_with_its_last_picture(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", seconds=2)  # 24 fps, with B-frames
    segments = split_video(clip, probe_source(clip, Settings()), 1.0, tmp_path / "split").segments
    joined = tmp_path / "joined.mp4"
    concat_and_mux(segments, clip, joined, tmp_path / "work")
    before = joined.read_bytes()
    end_last_frame_with_the_track(joined)
    assert joined.read_bytes() == before, "left as it is"


def test_a_last_duration_shared_with_earlier_pictures_is_split_off_with_the_index_moved(tmp_path):
    # A 24 fps join whose track is made two frames longer than its samples: its one duration
    # entry (48 samples of 512) becomes two, 8 bytes more before the media data.
    clip = make_clip(tmp_path / "clip.mp4", seconds=2)
    joined = tmp_path / "joined.mp4"
    concat_and_mux([clip], clip, joined, tmp_path / "work")
    data = bytearray(joined.read_bytes())
    at = data.index(b"mdhd") + 20  # version 0: after flags, both times and the timescale
    assert int.from_bytes(data[at : at + 4], "big") == 24576  # 2 s at 12288 a second
    data[at : at + 4] = (24576 + 1024).to_bytes(4, "big")
    joined.write_bytes(data)
    pictures = _picture_hashes(joined)

    end_last_frame_with_the_track(joined)
    assert joined.stat().st_size == len(data) + 8
    result = joined.read_bytes()
    stts = result.index(b"stts") - 4  # the video track's, the first
    assert result[stts + 12 : stts + 32] == b"".join(
        n.to_bytes(4, "big") for n in (2, 47, 512, 1, 1536)
    ), "(count, duration) entries"
    assert _picture_hashes(joined) == pictures and len(pictures) == 48


def _picture_hashes(path: Path) -> list[str]:
    listing = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v", "-f", "framemd5", "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [line.split(",")[-1].strip() for line in listing.splitlines() if line[0] != "#"]
