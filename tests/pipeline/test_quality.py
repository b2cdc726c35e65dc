"""Outputs players recognise and the settings that shape picture quality, end to end."""

from __future__ import annotations

import json
import subprocess

import av
import pytest

from stereo_spot.media.assemble import source_tracks
from tests.media import (
    audio_streams,
    decoded_frames,
    ffmpeg,
    make_clip,
    probe,
    psnr,
    stereo_side_data,
    subtitle_cues,
    video_stream,
)

pytestmark = pytest.mark.slow


def test_anaglyph_in_444_is_high_444_in_every_segment(embedded, clip_mp4, tmp_path):
    output = tmp_path / "out_redcyan.mp4"
    result = embedded.convert(clip_mp4, output, "--chroma", "444", "--segment-seconds", "1")
    assert result.returncode == 0, result.stderr
    info = subprocess.run(
        [
            "ffprobe", "-v", "error", "-select_streams", "v:0",
            "-show_entries", "stream=pix_fmt,profile", "-of", "json", str(output),
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    stream = json.loads(info.stdout)["streams"][0]
    assert stream["pix_fmt"] == "yuv444p" and "4:4:4" in stream["profile"]
    assert stereo_side_data(output) == [], "anaglyph has no st3d type"


def test_hevc_output_keeps_every_frame_the_tags_and_the_asked_quality(embedded, clip_mp4, tmp_path):
    h264, hevc = tmp_path / "out_h264_LR.mp4", tmp_path / "out_hevc_LR.mp4"
    result = embedded.convert(clip_mp4, h264, "--layout", "sbs", "--segment-seconds", "1")
    assert result.returncode == 0, result.stderr
    result = embedded.convert(
        clip_mp4, hevc, "--layout", "sbs", "--segment-seconds", "1",
        "--codec", "hevc", "--crf", "30", "--preset", "medium",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    stream = video_stream(probe(hevc))
    assert (stream["codec_name"], stream["codec_tag_string"]) == ("hevc", "hvc1")
    assert int(stream["nb_read_packets"]) == int(video_stream(probe(clip_mp4))["nb_read_packets"])
    assert {"side_data_type": "Stereo 3D", "type": "side by side", "inverted": 0} in (
        stereo_side_data(hevc)
    )
    settings = hevc.read_bytes()
    assert b" crf=30.0 " in settings and b" rd=3 " in settings, "crf 30 at preset medium"
    # The same audio in both; the picture at crf 30 in HEVC against 18 in H.264.
    assert hevc.stat().st_size < 0.75 * h264.stat().st_size
    decoded = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(hevc), "-f", "null", "-"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert decoded.returncode == 0 and not decoded.stderr, decoded.stderr


def test_anamorphic_video_keeps_its_pixel_shape_in_every_layout(embedded, tmp_path):
    # 720 x 480 shown 4:3 (pixels 8:9 wide), as DVDs store it; full side by side shows 8:3,
    # two 4:3 eyes, and half side by side the source's 4:3, each half stretched back.
    source = tmp_path / "dvd.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=360x240:r=24:d=2", "-vf", "setsar=8/9"),
        *("-c:v", "libx264", "-g", "12", str(source)),
    )
    for layout, shown in (("sbs", "8:3"), ("half-sbs", "4:3")):
        output = tmp_path / f"dvd_{layout}.mp4"
        result = embedded.convert(source, output, "--layout", layout, "--segment-seconds", "1")
        assert result.returncode == 0, result.stderr
        stream = subprocess.run(
            [
                "ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                "stream=sample_aspect_ratio,display_aspect_ratio", "-of", "json", str(output),
            ],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        shape = json.loads(stream.stdout)["streams"][0]
        assert (shape["sample_aspect_ratio"], shape["display_aspect_ratio"]) == ("8:9", shown)


def test_preview_converts_five_seconds_from_the_middle(embedded, media_dir, tmp_path):
    source = make_clip(media_dir / "long.mp4", seconds=12)
    target = tmp_path / "long.mp4"
    target.write_bytes(source.read_bytes())
    result = subprocess.run(
        ["stereo-spot", "convert", str(target), "--preview", "--layout", "sbs"],
        env=embedded.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    preview = tmp_path / "long_preview_LR.mp4"
    info = probe(preview)
    # Cut by stream copy from a keyframe: B-frame reordering lets it run a few frames long.
    assert float(info["format"]["duration"]) == pytest.approx(5.0, abs=0.3)
    assert int(video_stream(info)["width"]) == 2 * 192


def test_a_part_converts_the_frames_from_start_to_end_with_their_sound(
    embedded, media_dir, tmp_path
):
    source = make_clip(media_dir / "long.mp4", seconds=12)  # a keyframe every 12 frames
    # Its subtitles (one cue before the part, one inside) and chapters go along, at its times.
    (tmp_path / "subs.srt").write_text(
        "1\n00:00:01,000 --> 00:00:02,000\nbefore\n\n2\n00:00:05,000 --> 00:00:06,000\ninside\n"
    )
    (tmp_path / "chapters.txt").write_text(
        ";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=4000\ntitle=Opening\n"
        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=4000\nEND=12000\ntitle=Middle\n"
    )
    target = tmp_path / "long.mp4"
    ffmpeg(
        *("-i", str(source), "-i", str(tmp_path / "subs.srt")),
        *("-i", str(tmp_path / "chapters.txt"), "-map", "0", "-map", "1", "-map_chapters", "2"),
        *("-c", "copy", "-c:s", "mov_text", "-metadata:s:s:0", "language=eng"),
        *("-timecode", "01:00:00:00", str(target)),
    )
    result = subprocess.run(
        ["stereo-spot", "convert", str(target), "--start", "2.625", "--end", "0:07.25",
         "--layout", "sbs", "--segment-seconds", "2"],
        env=embedded.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    part = tmp_path / "long_0m02.625s-0m07.25s_LR.mp4"
    assert decoded_frames(part) == 111  # frames 63 to 173, neither on a keyframe
    assert source_tracks(part).timecode == "01:00:02:15", "the recording's, at frame 63"
    listed = embedded.stereo_spot("jobs", "list").stdout
    assert "long.mp4 (from 0:02.625 to 0:07.25)" in listed
    info = probe(part)
    assert float(audio_streams(info)[0]["duration"]) == pytest.approx(4.625, abs=0.05)
    # The left eye is the source's picture: its first frame is frame 63, not its neighbour.
    with av.open(str(source)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(str(part)) as container:
        left = next(container.decode(video=0)).to_ndarray(format="rgb24")[:, :192]
    assert psnr(left, frames[63]) > 30 > max(psnr(left, frames[62]), psnr(left, frames[64]))
    assert subtitle_cues(part) == [(pytest.approx(2.375, abs=0.01), pytest.approx(3.375, abs=0.01),
                                    "inside")]  # fmt: skip
    shown = subprocess.run(
        ["ffprobe", "-v", "error", "-show_chapters", "-of", "json", str(part)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    chapters = json.loads(shown.stdout)["chapters"]
    assert [(c["tags"]["title"], round(float(c["start_time"]), 3)) for c in chapters] == [
        ("Opening", 0.0),
        ("Middle", 1.375),
    ]


def test_a_part_into_a_mov_keeps_a_recorder_s_pcm_over_the_part(embedded, media_dir, tmp_path):
    # The MP4 encodes PCM to AAC; a .mov result takes the sound from the part the run cut.
    source = make_clip(
        tmp_path / "take.mov", seconds=6, audio_args=("-c:a", "pcm_s24le"),
    )  # fmt: skip
    output = tmp_path / "take_part.mov"
    result = embedded.convert(
        source, output, "--start", "1.5", "--end", "4", "--segment-seconds", "1"
    )
    assert result.returncode == 0, result.stderr

    (sound,) = audio_streams(probe(output))
    assert sound["codec_name"] == "pcm_s24le"
    assert float(sound["duration"]) == pytest.approx(2.5, abs=0.03)
    assert decoded_frames(output) == 60
