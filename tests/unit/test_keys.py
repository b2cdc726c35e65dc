"""Object keys: built and parsed only in stereo_spot.keys; anything off-contract is refused."""

from __future__ import annotations

import pytest

from stereo_spot import keys
from stereo_spot.domain import Layout, new_job_id
from stereo_spot.errors import InvalidKey

JOB = "AbCdEfGhIjKlMnOpQrStUvWx"


def test_keys_follow_the_design_contract():
    assert keys.source_key(JOB) == f"input/{JOB}/source.mp4"
    assert keys.part_key(JOB) == f"segments/{JOB}/part.mkv"
    assert keys.part_key(JOB).startswith(keys.job_prefixes(JOB)[1]), "deleted with the job"
    assert keys.source_segment_key(JOB, 3, 12, Layout.HALF_SBS) == (
        f"segments/{JOB}/00003_00012_half-sbs.mp4"
    )
    assert keys.converted_segment_key(JOB, 7) == f"jobs/{JOB}/segments/00007.mp4"
    assert keys.final_key(JOB) == f"jobs/{JOB}/final.mp4"
    assert keys.subtitles_key(JOB, 1) == f"jobs/{JOB}/subtitles/01.vtt"
    assert keys.subtitles_key(JOB, 1).startswith(keys.job_prefixes(JOB)[-1]), "deleted with it"
    with pytest.raises(InvalidKey):
        keys.subtitles_key(JOB, 100)


def test_source_segment_key_round_trips():
    key = keys.source_segment_key(JOB, 0, 1, Layout.TAB)
    parsed = keys.parse_source_segment_key(key)
    assert (parsed.job_id, parsed.segment_index, parsed.total_segments, parsed.layout) == (
        JOB, 0, 1, Layout.TAB,
    )  # fmt: skip
    assert keys.parse_converted_segment_key(keys.converted_segment_key(JOB, 42)) == (JOB, 42)


@pytest.mark.parametrize(
    "key",
    [
        f"segments/{JOB}/00003_00002_sbs.mp4",  # index past the total
        f"segments/{JOB}/3_12_sbs.mp4",  # not zero-padded
        f"segments/{JOB}/00003_00012_3d.mp4",  # unknown layout
        f"segments/../{JOB}/00003_00012_sbs.mp4",
        f"jobs/{JOB}/segments/00001.mp4",  # a converted key is not a source segment key
    ],
)
def test_malformed_segment_keys_are_rejected_not_guessed(key):
    with pytest.raises(InvalidKey):
        keys.parse_source_segment_key(key)


@pytest.mark.parametrize("job_id", ["", "short", "../../etc/passwd", "a" * 65, "white space" * 3])
def test_job_ids_that_could_escape_or_collide_are_rejected(job_id):
    with pytest.raises(InvalidKey):
        keys.source_key(job_id)


def test_new_job_ids_are_unguessable_and_valid():
    ids = {new_job_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) >= 32 and keys.validate_job_id(i) for i in ids)


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "a/../b", "a/./b", "a\\b", "a\x00b"])
def test_storage_keys_cannot_escape_a_root(key):
    with pytest.raises(InvalidKey):
        keys.validate_key(key)


def test_uris_resolve_to_their_storage():
    assert keys.parse_uri("s3://media/input/x/source.mp4").root == "media"
    parsed = keys.parse_uri("file:///data/media/jobs/x/final.mp4", local_root="/data/media")
    assert (parsed.scheme, parsed.key) == ("file", "jobs/x/final.mp4")
    with pytest.raises(InvalidKey):
        keys.parse_uri("file:///etc/passwd", local_root="/data/media")
    with pytest.raises(InvalidKey):
        keys.parse_uri("http://example.com/video.mp4")


def test_a_source_key_names_its_job_and_no_other_key_does() -> None:
    job_id = "someJob_0123456789abcdef"
    assert keys.job_of_source_key(keys.source_key(job_id)) == job_id
    assert keys.job_of_source_key(keys.final_key(job_id)) is None
    assert keys.job_of_source_key("input/../source.mp4") is None
