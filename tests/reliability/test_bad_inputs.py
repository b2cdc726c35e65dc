"""A corpus of awkward and hostile inputs, made here with ffmpeg, through ``stereo-spot convert``.

Each input either converts correctly (every frame, at its time, upright, every audio track) or
fails the job with one plain sentence, quickly, without opening any file it was not given and
without leaving a partial output anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from stereo_spot.media.assemble import MP4_AUDIO_CODECS
from tests.media import (
    audio_streams,
    damage_video_packets,
    ffmpeg,
    make_clip,
    make_interlaced_clip,
    make_recording_begun_mid_gop,
    make_trimmed_clip,
    probe,
    psnr,
    turned_sideways,
    video_stream,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

TINY = "96x64"


def _run(embedded, source: Path, output: Path, *args: str, env: dict | None = None):
    return subprocess.run(
        ["stereo-spot", "convert", str(source), "-o", str(output), *args],
        env={**embedded.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=170,
    )


def _job(embedded, source_name: str) -> dict:
    """The newest job made from a file of this name."""
    for line in embedded.stereo_spot("jobs", "list", "--limit", "50").stdout.splitlines():
        job_id, *_rest, name = line.split()
        if name == source_name:
            return json.loads(embedded.stereo_spot("jobs", "show", job_id).stdout)
    raise AssertionError(f"no job for {source_name}")


# -- inputs that must be refused ------------------------------------------------------------------


def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(11).bytes(50_000))


def _truncated_mp4(path: Path) -> None:
    """The first 5 kB of an MP4 whose index (moov) is at the end: header and some data, no index."""
    whole = make_clip(path.with_name("whole.mp4"), seconds=1, size=TINY, audio=False)
    data = whole.read_bytes()
    assert data.find(b"moov") > 5000, "the index must come after the cut"
    path.write_bytes(data[:5000])


def _cut_short_mp4(path: Path) -> None:
    """60 % of an MP4 whose index (moov) comes first: the index lists every frame, the data
    stops part-way (the last frames would not decode, and the job failed at the join)."""
    whole = make_clip(path.with_name("whole.mp4"), seconds=3, size=TINY)
    front = path.with_name("front.mp4")
    ffmpeg("-i", str(whole), "-c", "copy", "-movflags", "+faststart", str(front))
    data = front.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat"), "the index must come first"
    path.write_bytes(data[: len(data) * 6 // 10])


def _scrambled_recording(path: Path) -> None:
    """An MPEG-TS recording of a pay channel without its key: the packets of its picture
    (PID 0x100, as ffmpeg numbers the first stream) keep their headers, their payload is noise."""
    make_clip(path.with_name("clear.ts"), seconds=2, size=TINY)
    data = bytearray(path.with_name("clear.ts").read_bytes())
    noise = np.random.default_rng(5)
    for at in range(0, len(data) - 187, 188):
        if ((data[at + 1] & 0x1F) << 8 | data[at + 2]) == 0x100:
            payload = at + 4 + (1 + data[at + 4] if data[at + 3] & 0x20 else 0)
            payload += 19 if data[at + 1] & 0x40 else 0  # a PES header starts here: kept
            data[payload : at + 188] = noise.bytes(at + 188 - payload)
    path.write_bytes(bytes(data))


def _audio_only(path: Path) -> None:
    make_clip(path, seconds=1, size=TINY, video_args=("-vn",))


def _still_image(path: Path) -> None:
    png = path.with_suffix(".png")
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={TINY}", "-frames:v", "1", str(png))
    path.write_bytes(png.read_bytes())


def _huge_declared_size(path: Path) -> None:
    """A 100 kB file declaring 8192x4352, past the default 7680x4320 limit."""
    ffmpeg(
        *("-f", "lavfi", "-i", "color=s=8192x4352:r=25:d=0.04"),
        *("-c:v", "libx264", "-preset", "ultrafast", str(path)),
    )


def _one_second_clip(path: Path) -> None:
    make_clip(path, seconds=1, size=TINY)


REFUSED = {
    # kind: (make the file, extra environment, words the reason must contain)
    "zero-bytes": (_zero_bytes, {}, "empty"),
    "random-bytes": (_random_bytes, {}, "not a video"),
    "truncated-mp4-no-moov": (_truncated_mp4, {}, "The file has no index (an MP4 or MOV's moov)"),
    "truncated-mp4-index-first": (_cut_short_mp4, {}, "The file is cut short"),
    "audio-only": (_audio_only, {}, "only audio"),
    "scrambled-recording": (_scrambled_recording, {}, "cannot be read, not even their size"),
    "still-image-named-mp4": (_still_image, {}, "a still picture (PNG), not a video"),
    "absurd-declared-size": (_huge_declared_size, {}, "larger than the limit"),
    "wider-than-configured": (_one_second_clip, {"STEREO_SPOT_MAX_WIDTH": "64"}, "larger than"),
    "longer-than-configured": (
        _one_second_clip,
        {"STEREO_SPOT_MAX_DURATION_SECONDS": "0.5"},
        # As clocks: in whole minutes it read "lasts 0 minutes, longer than ... of 0 minutes".
        "The video lasts 0:01, longer than the limit of 0:00.5.",
    ),
}


def _assert_refused(embedded, result, source: Path, output: Path, expected: str) -> dict:
    assert result.returncode != 0, "a refused input must fail the command"
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("stereo-spot: "), message
    reason = message.removeprefix("stereo-spot: ")
    assert expected in reason, reason
    assert reason.endswith(".") and ". " not in reason, f"one plain sentence: {reason!r}"
    assert "Traceback" not in result.stderr
    assert not output.exists(), "no output for a refused input"
    assert not list(output.parent.glob(f".{output.name}.*")), "no partial download left behind"
    job = _job(embedded, source.name)
    assert job["status"] == "failed" and job["error"] == reason
    media = embedded.data_dir / "media"
    assert not (media / "jobs" / job["job_id"]).exists(), "no converted segment or result"
    assert not list(media.rglob(".upload-*")), "no half-written object"
    return job


@pytest.mark.parametrize("kind", list(REFUSED))
def test_bad_input_is_refused_with_one_sentence(embedded, tmp_path, kind):
    make, env, expected = REFUSED[kind]
    source = tmp_path / f"{kind}.mp4"
    make(source)
    output = tmp_path / "out" / "result.mp4"
    _assert_refused(embedded, _run(embedded, source, output, env=env), source, output, expected)


def _blocked_fifo_writer(fifo: Path) -> threading.Thread:
    """A thread that blocks opening ``fifo`` for writing until someone opens it to read."""
    os.mkfifo(fifo)

    def open_for_writing() -> None:
        with open(fifo, "wb"):
            pass

    thread = threading.Thread(target=open_for_writing, daemon=True)
    thread.start()
    return thread


def _release(fifo: Path, thread: threading.Thread) -> None:
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    thread.join(5)
    os.close(fd)


@pytest.mark.parametrize("kind", ["hls-playlist", "ffconcat-list"])
def test_playlist_named_mp4_is_refused_without_opening_what_it_names(embedded, tmp_path, kind):
    """A playlist renamed .mp4 names a file outside the data dir; it must never be opened.

    The named file is a FIFO with a writer waiting on it: any open() for reading would complete
    the writer's open, so a writer still waiting afterwards proves nobody opened it.
    """
    secret = tmp_path / "outside" / "secret.ts"
    secret.parent.mkdir()
    if kind == "hls-playlist":
        text = f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n{secret}\n#EXT-X-ENDLIST\n"
    else:
        text = f"ffconcat version 1.0\nfile '{secret}'\n"
    source = tmp_path / "playlist.mp4"
    source.write_text(text)
    # First show the playlist is a working one: with a real file in place, plain ffprobe follows it.
    make_clip(tmp_path / "real.mp4", seconds=1, size=TINY, audio=False)
    ffmpeg("-i", str(tmp_path / "real.mp4"), "-c", "copy", "-f", "mpegts", str(secret))
    followed = subprocess.run(
        ["ffprobe", "-v", "error", "-safe", "0", "-show_entries", "stream=codec_type", str(source)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "codec_type=video" in followed.stdout, "without the whitelists it would be read"
    secret.unlink()
    writer = _blocked_fifo_writer(secret)
    try:
        output = tmp_path / "result.mp4"
        result = _run(embedded, source, output)
        assert writer.is_alive(), "the file the playlist names was opened"
        _assert_refused(embedded, result, source, output, "not a video")
    finally:
        _release(secret, writer)


# -- inputs that must convert -------------------------------------------------------------------

X264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "12")


def _one_frame(path: Path) -> None:
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={TINY}:r=24", "-frames:v", "1", *X264, str(path))


def _variable_frame_rate(path: Path) -> None:
    """24 fps for a second, then 12 fps for a second (timestamps carry it), with audio."""
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s={TINY}:r=24:d=1.5"),
        *("-f", "lavfi", "-i", "sine=d=2"),
        *("-vf", "setpts='if(lt(N,24),N,24+2*(N-24))/24/TB'", "-fps_mode", "passthrough"),
        *("-map", "0:v", "-map", "1:a", *X264, "-c:a", "aac", str(path)),
    )


def _rotated(path: Path) -> None:
    """A phone video: stored 96x64, a display matrix turns it 90 degrees when shown."""
    turned_sideways(make_clip(path.with_name("plain.mp4"), seconds=1, size=TINY), path)


def _odd_size(path: Path) -> None:
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s={TINY}:r=24:d=1"),
        *("-vf", "scale=95:63", "-c:v", "libx264", "-preset", "ultrafast"),
        *("-pix_fmt", "yuv444p", str(path)),
    )


def _ten_bit_h264(path: Path) -> None:
    make_clip(path, seconds=1, size=TINY, video_args=("-c:v", "libx264", "-pix_fmt", "yuv420p10le"))


def _hdr_hevc(path: Path) -> None:
    """10-bit HEVC tagged BT.2020 / PQ, as HDR phones record."""
    make_clip(
        path,
        seconds=1,
        size=TINY,
        video_args=(
            *("-c:v", "libx265", "-pix_fmt", "yuv420p10le", "-x265-params", "log-level=error"),
            *("-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc"),
            *("-tag:v", "hvc1"),
        ),
    )


def _interlaced(path: Path) -> None:
    make_interlaced_clip(path, TINY)


def _several_audio_tracks(path: Path) -> None:
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s={TINY}:r=24:d=1"),
        *("-f", "lavfi", "-i", "sine=frequency=440:d=1", "-f", "lavfi", "-i", "sine=f=880:d=1"),
        *("-map", "0:v", "-map", "1:a", "-map", "2:a", *X264, "-c:a", "aac"),
        *("-metadata:s:a:1", "language=fra", str(path)),
    )


def _no_audio(path: Path) -> None:
    make_clip(path, seconds=1, size=TINY, audio=False)


def _broadcast_mxf(path: Path) -> None:
    """What a broadcast camera records: MPEG-2 4:2:2 in MXF, a mono PCM track for each of its
    two microphones, and the time of day as its timecode."""
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s={TINY}:r=25:d=1"),
        *("-f", "lavfi", "-i", "sine=f=440:r=48000:d=1"),
        *("-f", "lavfi", "-i", "sine=f=880:r=48000:d=1"),
        *("-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "mpeg2video", "-pix_fmt", "yuv422p"),
        *("-g", "12", "-c:a", "pcm_s24le", "-timecode", "10:00:00:00", str(path)),
    )


def _camcorder_dv(path: Path) -> None:
    """A camcorder tape captured over FireWire: interlaced DV, stereo PCM, the one size PAL DV
    holds and its 4:3 pixel shape."""
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=720x576:r=50:d=1", "-f", "lavfi", "-i", "sine=d=1"),
        *("-vf", "tinterlace=interleave_bottom,setsar=16/15", "-pix_fmt", "yuv420p"),
        *("-c:v", "dvvideo", "-c:a", "pcm_s16le", "-ar", "48000", "-ac", "2", str(path)),
    )


def _recorder_prores(path: Path) -> None:
    """What an external recorder or a cinema camera writes: ProRes 422 and 24-bit PCM in a MOV,
    its timecode kept by the picture's stream and a tmcd track."""
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s={TINY}:r=25:d=1", "-f", "lavfi", "-i", "sine=d=1"),
        *("-c:v", "prores_ks", "-profile:v", "2", "-c:a", "pcm_s24le"),
        *("-timecode", "01:02:03:04", str(path)),
    )


def _animated_gif(path: Path) -> None:
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={TINY}:r=10:d=1", str(path))


def _damaged_pictures(path: Path) -> None:
    # Two pictures' data lost (a download with holes in it): the decoder refuses them.
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s={TINY}:r=25:d=2", "-f", "lavfi", "-i", "sine=d=2"),
        *("-c:v", "libx264", "-g", "12", str(path)),
    )
    damage_video_packets(path, (7, 30))


CONVERTED = {
    "one-frame": _one_frame,
    "variable-frame-rate": _variable_frame_rate,
    "rotated-phone-video": _rotated,
    "odd-width-and-height": _odd_size,
    "10-bit-h264": _ten_bit_h264,
    "hdr-10-bit-hevc": _hdr_hevc,
    "interlaced": _interlaced,
    "several-audio-tracks": _several_audio_tracks,
    "no-audio": _no_audio,
    "broadcast-mxf": _broadcast_mxf,
    "recorder-prores-mov": _recorder_prores,
    "camcorder-dv": _camcorder_dv,
    "animated-gif": _animated_gif,
    "damaged-pictures": _damaged_pictures,
}
# What each kind's file is called, where it is not an MP4.
SUFFIXES = {
    "broadcast-mxf": ".mxf",
    "recorder-prores-mov": ".mov",
    "camcorder-dv": ".dv",
    "animated-gif": ".gif",
}
# The timecodes the cameras' files carry; each result must carry its source's.
TIMECODES = {
    "broadcast-mxf": "10:00:00:00",
    "recorder-prores-mov": "01:02:03:04",
    "camcorder-dv": "00:00:00:00",  # where the tape's counter stood (ffmpeg's DV muxer: 0)
}


FFPROBE_V0 = ("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries")


def _frame_times(path: Path) -> list[float]:
    out = subprocess.run(
        [*FFPROBE_V0, "packet=pts_time", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(float(t.strip(",")) for t in out.split())  # MPEG-TS adds a comma


def _timecode(path: Path) -> str | None:
    """The timecode of the first frame, wherever the container keeps it."""
    tags = "format_tags=timecode:stream_tags=timecode"
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", tags, "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    tagged = [data.get("format", {}), *data.get("streams", [])]
    return next((t["tags"]["timecode"] for t in tagged if "timecode" in t.get("tags", {})), None)


def _shown_size(path: Path) -> tuple[int, int]:
    """The picture's size as players show it (display matrix applied)."""
    out = subprocess.run(
        [*FFPROBE_V0, "stream=width,height:stream_side_data=rotation", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    stream = json.loads(out)["streams"][0]
    rotation = next(
        (int(d["rotation"]) for d in stream.get("side_data_list", []) if "rotation" in d), 0
    )
    width, height = int(stream["width"]), int(stream["height"])
    return (height, width) if rotation % 180 else (width, height)


@pytest.mark.parametrize("kind", list(CONVERTED))
def test_awkward_input_converts_faithfully(embedded, tmp_path, kind):
    source = tmp_path / f"{kind}{SUFFIXES.get(kind, '.mp4')}"
    CONVERTED[kind](source)
    output = tmp_path / "result_LR.mp4"
    result = _run(embedded, source, output, "--layout", "sbs", "--segment-seconds", "0.5")
    assert result.returncode == 0, result.stderr
    src, out = probe(source), probe(output)
    src_video, out_video = video_stream(src), video_stream(out)
    # Every frame, each at its own time (within a millisecond: MP4 time bases differ).
    assert int(out_video["nb_read_packets"]) == int(src_video["nb_read_packets"])
    src_times, out_times = _frame_times(source), _frame_times(output)
    assert len(src_times) == len(out_times)
    offset = src_times[0] - out_times[0]
    assert max(abs(a - b - offset) for a, b in zip(src_times, out_times, strict=True)) < 2e-3
    # As shown: side by side of the upright picture, rounded up to even sizes (4:2:0 needs them;
    # the extra row or column repeats the edge).
    width, height = _shown_size(source)
    assert (int(out_video["width"]), int(out_video["height"])) == (
        2 * width + (2 * width) % 2,
        height + height % 2,
    )
    assert _shown_size(output) == (int(out_video["width"]), int(out_video["height"])), (
        "the output carries no rotation: it is upright as stored"
    )
    # Every audio track, untouched; PCM, which MP4 cannot hold, encoded once to AAC, whole.
    src_audio, out_audio = audio_streams(src), audio_streams(out)
    if all(a["codec_name"] in MP4_AUDIO_CODECS for a in src_audio):
        assert [a["codec_name"] for a in out_audio] == [a["codec_name"] for a in src_audio]
        assert [a["nb_read_packets"] for a in out_audio] == [
            a["nb_read_packets"] for a in src_audio
        ]
    else:
        assert [a["codec_name"] for a in out_audio] == ["aac"] * len(src_audio)
        for a, b in zip(src_audio, out_audio, strict=True):
            assert abs(float(a["duration"]) - float(b["duration"])) < 0.03, (a, b)
    assert _timecode(output) == _timecode(source) == TIMECODES.get(kind), "timecode kept"
    assert out_video["pix_fmt"] in ("yuv420p", "yuv444p")
    assert Fraction(out_video["avg_frame_rate"]) > 0
    if kind == "damaged-pictures":
        # Stood in for by the picture before (counted above), and said.
        assert "note: 2 pictures of the video could not be decoded" in result.stderr
    if kind == "hdr-10-bit-hevc":
        # Tone-mapped to SDR on the way in (media/split.py), and tagged as what it now is.
        assert (out_video["color_primaries"], out_video["color_transfer"]) == ("bt709", "bt709")


def test_a_tv_recording_with_reception_errors_converts_what_can_be_decoded(embedded, tmp_path):
    # MPEG-2 in MPEG-TS with bytes flipped (ffmpeg's noise filter, the same bytes every run):
    # its transcode leaves out the pictures its decoder refuses, which the job counts and the
    # command says; the rest are converted, each at its time.
    clean, recording = tmp_path / "clean.ts", tmp_path / "recording.ts"
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s={TINY}:r=25:d=2", "-f", "lavfi", "-i", "sine=d=2"),
        *("-c:v", "mpeg2video", "-c:a", "mp2", str(clean)),
    )
    ffmpeg("-i", str(clean), "-c", "copy", "-bsf:v", "noise=amount=200", str(recording))
    packets = int(video_stream(probe(recording))["nb_read_packets"])
    counted = subprocess.run(
        [*FFPROBE_V0, "stream=nb_read_frames", "-count_frames", "-of", "json", str(recording)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    decodable = int(json.loads(counted.stdout)["streams"][0]["nb_read_frames"])
    assert 0 < decodable < packets, "the premise: some pictures cannot be decoded"
    output = tmp_path / "recording_LR.mp4"
    result = _run(embedded, recording, output, "--layout", "sbs", "--segment-seconds", "0.5")
    assert result.returncode == 0, result.stderr
    assert int(video_stream(probe(output))["nb_read_packets"]) == decodable
    missing = packets - decodable
    assert f"note: {missing} pictures of the video could not be decoded" in result.stderr
    assert _job(embedded, recording.name)["damaged_frames"] == missing
    offset = _frame_times(recording)[0] - _frame_times(output)[0]
    source_times = {round(t - offset, 3) for t in _frame_times(recording)}
    assert {round(t, 3) for t in _frame_times(output)} <= source_times


RAW_RGB = ("-f", "rawvideo", "-pix_fmt", "rgb24", "-")


def _first_frame(path: Path) -> np.ndarray:
    """The first frame as ffmpeg shows it (display matrix applied), RGB."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", *RAW_RGB],
        capture_output=True,
        check=True,
    ).stdout
    width, height = _shown_size(path)
    return np.frombuffer(out, np.uint8).reshape(height, width, 3)


def test_rotated_video_comes_out_upright(embedded, tmp_path):
    source = tmp_path / "phone.mp4"
    _rotated(source)
    output = tmp_path / "phone_LR.mp4"
    result = _run(embedded, source, output, "--layout", "sbs")
    assert result.returncode == 0, result.stderr
    upright = _first_frame(source).astype(np.float32)
    width = upright.shape[1]
    left_eye = _first_frame(output)[:, :width].astype(np.float32)
    assert left_eye.shape == upright.shape
    as_shown = np.abs(left_eye - upright).mean()
    upside_down = np.abs(left_eye - upright[::-1, ::-1]).mean()
    assert as_shown < 20 and as_shown < upside_down / 2, (as_shown, upside_down)


def _shown_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_a_clip_trimmed_without_re_encoding_converts_what_it_shows(embedded, tmp_path):
    # Its file keeps the second before its start (the GOP it decodes from), which its edit list
    # hides: cut by copy, that second was converted too, a second ahead of the sound.
    source = make_trimmed_clip(tmp_path / "trimmed.mp4", start=1.0)
    shown = _shown_frames(source)
    assert len(shown) == 72 < int(video_stream(probe(source))["nb_read_packets"]), "the premise"
    for args, first, count in ((), 0, 72), (("--start", "0.5", "--end", "2.5"), 12, 48):
        output = tmp_path / "trimmed_LR.mp4"
        result = _run(embedded, source, output, "--layout", "sbs", *args)
        assert result.returncode == 0, result.stderr
        assert "could not be decoded" not in result.stderr, "nothing is damaged"
        frames = _shown_frames(output)
        assert len(frames) == count, args
        assert psnr(frames[0][:, :160], shown[first]) > 30, args
        durations = {s["codec_type"]: float(s["duration"]) for s in probe(output)["streams"]}
        assert durations["video"] == pytest.approx(durations["audio"], abs=0.05), args


def _first_picture_and_sound(path: Path) -> tuple[float, float]:
    """When the first picture that decodes and the first sound come, in seconds."""
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        first = next(container.decode(video))
        return float(first.pts * video.time_base), float(audio.start_time * audio.time_base)


def test_a_recording_begun_part_way_through_a_gop_starts_its_picture_in_time(embedded, tmp_path):
    # Its first pictures refer to a keyframe before the recording began and decode to nothing:
    # refused before ("could not be split frame-exactly"), then converted with its first
    # decodable picture put where the recording's first picture was, 0.8 s ahead of its sound.
    recording = make_recording_begun_mid_gop(tmp_path / "recording.ts")
    output = tmp_path / "recording_LR.mp4"
    result = _run(embedded, recording, output, "--layout", "sbs", "--segment-seconds", "0.5")
    assert result.returncode == 0, result.stderr
    picture, sound = _first_picture_and_sound(recording)
    converted_picture, converted_sound = _first_picture_and_sound(output)
    assert converted_picture - converted_sound == pytest.approx(picture - sound, abs=0.002)
    assert len(_shown_frames(output)) == len(_shown_frames(recording))
    assert "The video's first " in result.stderr and "could not be decoded (the file" not in (
        result.stderr
    ), "the pictures before the first keyframe are said as such, not as damage"
