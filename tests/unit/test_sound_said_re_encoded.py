"""What the command and the job's page say of a source's PCM sound, which an MP4 re-encodes."""

from __future__ import annotations

from stereo_spot.domain import SourceInfo


def _source(*codecs: str) -> SourceInfo:
    return SourceInfo(
        width=320, height=240, frames=50, duration=2.0, fps=25.0, video_codec="h264",
        audio_codec=codecs[0] if codecs else None, audio_codecs=list(codecs),
    )  # fmt: skip


def test_a_recorder_s_pcm_is_said_to_become_aac_and_where_it_stays_as_it_is():
    assert _source("aac", "pcm_s24le").left_out == (
        "The file's PCM sound becomes AAC in an MP4; a .mov or .mkv result keeps it as it is."
    )


def test_a_disc_s_packed_pcm_is_said_to_become_aac_with_no_container_offered():
    # Neither QuickTime nor Matroska takes Blu-ray's packed PCM: no result keeps it.
    assert _source("pcm_bluray").left_out == "The file's PCM sound becomes AAC in an MP4."


def test_sound_an_mp4_takes_is_not_mentioned():
    assert _source("aac", "ac3").left_out is None
    assert _source().left_out is None
