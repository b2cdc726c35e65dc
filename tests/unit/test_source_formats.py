"""What people hand a video tool besides MP4: the formats of cameras and tapes are read (a DV
tape's fields seen though its demuxer does not say), and a picture is refused as what it is."""

from pathlib import Path

import av
import numpy as np
import pytest

from stereo_spot.errors import InputRejected
from stereo_spot.media.probe import probe_source
from stereo_spot.media.split import split_video
from stereo_spot.settings import Settings
from tests.media import combing, ffmpeg, make_dv_tape, probe, video_stream


def _first_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def test_a_dv_tape_is_seen_as_interlaced_and_split_into_whole_frames(tmp_path):
    tape = make_dv_tape(tmp_path / "tape.dv")
    assert video_stream(probe(tape)).get("field_order", "unknown") == "unknown", (
        "the premise: the DV demuxer does not say the tape is interlaced"
    )
    info = probe_source(tape, Settings())
    stored = tmp_path / "source.mp4"  # as the portal stores an upload
    stored.write_bytes(tape.read_bytes())
    assert probe_source(stored, Settings()) == info
    assert (info.video_codec, info.container, info.frames) == ("dvvideo", "dv", 25)
    assert info.interlaced, "the first frame says its fields are interlaced"

    segments = split_video(tape, info, 0.5, tmp_path / "split").segments
    assert sum(int(video_stream(probe(s))["nb_read_packets"]) for s in segments) == 25
    assert {video_stream(probe(s))["field_order"] for s in segments} == {"progressive"}
    woven, whole = combing(_first_frame(tape)), combing(_first_frame(segments[0]))
    assert woven > 2 and whole < woven / 4, (woven, whole)


def test_a_progressive_picture_whose_field_order_is_unsaid_is_left_as_it_is(tmp_path):
    gif = tmp_path / "moving.gif"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=10:d=1", str(gif))
    info = probe_source(gif, Settings())
    assert (info.video_codec, info.frames, info.interlaced) == ("gif", 10, False)


SOURCE_FORMATS = {
    # demuxer: (a file name, and how to write ten 48x32 frames at 25 a second in it)
    "mxf": ("cam.mxf", "-c:v", "mpeg2video", "-pix_fmt", "yuv422p"),
    "yuv4mpegpipe": ("raw.y4m", "-pix_fmt", "yuv420p"),
    "mpegvideo": ("stream.m2v", "-c:v", "mpeg2video"),
    "gif": ("moving.gif",),
    "apng": ("moving.apng", "-plays", "0"),
    "wtv": ("recording.wtv", "-c:v", "mpeg2video"),
}


@pytest.mark.parametrize("demuxer", list(SOURCE_FORMATS))
def test_a_source_is_read_by_what_it_holds_whatever_it_is_called(tmp_path, demuxer):
    """The portal stores every upload as ``source.mp4``; the file's content says what it is."""
    name, *args = SOURCE_FORMATS[demuxer]
    made = tmp_path / name
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=48x32:r=25", "-frames:v", "10", *args, str(made))
    stored = tmp_path / "source.mp4"
    stored.write_bytes(made.read_bytes())
    for path in (made, stored):
        info = probe_source(path, Settings())
        assert (info.container, info.frames, info.width, info.height) == (demuxer, 10, 48, 32)


def _encoded_picture(suffix: str, *args: str):
    def make(path: Path) -> Path:
        picture = path.with_suffix(suffix)
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64", "-frames:v", "1", *args, str(picture))
        return picture

    return make


PICTURES = {
    "JPEG": _encoded_picture(".jpg"),
    "PNG": _encoded_picture(".png"),
    "WebP": _encoded_picture(".webp"),
    "TIFF": _encoded_picture(".tiff"),
    "GIF": _encoded_picture(".gif"),
    # ffmpeg writes an AVIF as a one-frame AV1 track, which the MP4 demuxer reads as a video.
    "AVIF": _encoded_picture(".avif", "-c:v", "libaom-av1", "-cpu-used", "8"),
}


@pytest.mark.parametrize("kind", list(PICTURES))
def test_a_picture_is_refused_as_what_it_is(tmp_path, kind):
    picture = PICTURES[kind](tmp_path / "photo")
    renamed = tmp_path / "photo.mp4"
    renamed.write_bytes(picture.read_bytes())
    for named in (picture, renamed):
        with pytest.raises(InputRejected) as refusal:
            probe_source(named, Settings())
        assert str(refusal.value) == f"The file is a still picture ({kind}), not a video."


SOUND_FILES = {
    # kind: how ffmpeg writes one; none of these formats is a demuxer sources are read with.
    "MP3": ("a.mp3",),  # with the ID3 tag ffmpeg writes first
    "MP2": ("a.mp2",),
    "AAC": ("a.aac", "-f", "adts"),
    "WAV": ("a.wav",),
    "FLAC": ("a.flac",),
    "AIFF": ("a.aiff",),
}


@pytest.mark.parametrize("kind", list(SOUND_FILES))
def test_a_sound_file_is_refused_as_what_it_is(tmp_path, kind):
    # Not "damaged or in an unsupported format": a song dropped on the page for its video.
    name, *args = SOUND_FILES[kind]
    sound = tmp_path / name
    ffmpeg("-f", "lavfi", "-i", "sine=d=0.5", *args, str(sound))
    renamed = tmp_path / "source.mp4"
    renamed.write_bytes(sound.read_bytes())
    for named in (sound, renamed):
        with pytest.raises(InputRejected) as refusal:
            probe_source(named, Settings())
        assert (
            str(refusal.value) == f"The file has no video stream: it contains only audio ({kind})."
        )


def test_an_mp3_without_its_tag_is_refused_as_one(tmp_path):
    sound = tmp_path / "bare.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=d=0.5", "-id3v2_version", "0", str(sound))
    assert sound.read_bytes()[:1] == b"\xff", "the premise: it starts with a frame"
    with pytest.raises(InputRejected, match=r"only audio \(MP3\)\.$"):
        probe_source(sound, Settings())


def test_an_animated_webp_is_said_to_be_one(tmp_path):
    # Not "a still picture": it moves, but no decoder here reads its frames.
    animation = tmp_path / "loop.webp"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=10:d=1", "-c:v", "libwebp_anim", str(animation))
    with pytest.raises(InputRejected) as refusal:
        probe_source(animation, Settings())
    assert str(refusal.value) == (
        "The file is an animated WebP, which cannot be read yet: save it as a GIF or a video first."
    )


@pytest.mark.parametrize("standard", [b"CD001", b"BEA01"])  # ISO 9660, UDF
def test_a_disc_image_is_said_to_be_one(tmp_path, standard):
    # A DVD or Blu-ray copied whole: 32 KiB of system area, then the volume descriptors.
    image = tmp_path / "holiday.iso"
    image.write_bytes(bytes(32769) + standard + bytes(4096))
    with pytest.raises(InputRejected) as refusal:
        probe_source(image, Settings())
    assert str(refusal.value) == (
        "The file is a disc image (ISO), not a video: rip the disc's titles to video files first."
    )
