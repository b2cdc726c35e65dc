"""The model server reads only a source segment of the request's own job and index, and writes
only that segment's converted key (DESIGN.md, object keys: invalid keys are rejected, never
guessed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference_service.payload import SegmentRequest
from inference_service.segment_conversion import StorageMismatch, segment_keys
from stereo_spot import keys
from stereo_spot.errors import InvalidKey
from stereo_spot.storage.local import LocalStorage

JOB = "keysJob_0123456789ab"
OTHER = "otherJob_0123456789ab"


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media")


def _request(storage: LocalStorage, input_key: str, output_key: str, **fields) -> SegmentRequest:
    return SegmentRequest(
        **{
            "job_id": JOB,
            "segment_index": 1,
            "input_uri": storage.uri_for(input_key),
            "output_uri": storage.uri_for(output_key),
            **fields,
        }
    )


SEGMENT = keys.source_segment_key(JOB, 1, 3, "anaglyph")
CONVERTED = keys.converted_segment_key(JOB, 1)


def test_the_segment_and_its_converted_key_are_taken(storage) -> None:
    assert segment_keys(_request(storage, SEGMENT, CONVERTED), storage) == (SEGMENT, CONVERTED)


@pytest.mark.parametrize(
    ("input_key", "output_key", "fields", "said"),
    [
        (SEGMENT, keys.source_key(JOB), {}, f"is {CONVERTED}, not input/{JOB}/source.mp4"),
        (SEGMENT, SEGMENT, {}, f"is {CONVERTED}, not {SEGMENT}"),
        (SEGMENT, keys.converted_segment_key(OTHER, 1), {}, f"is {CONVERTED}, not jobs/{OTHER}"),
        (SEGMENT, keys.final_key(JOB), {}, f"is {CONVERTED}, not jobs/{JOB}/final.mp4"),
        (SEGMENT, CONVERTED, {"segment_index": 7}, f"{SEGMENT} is not segment 7 of job {JOB}"),
        (SEGMENT, CONVERTED, {"job_id": OTHER}, f"{SEGMENT} is not segment 1 of job {OTHER}"),
        (SEGMENT, CONVERTED, {"job_id": "../../x"}, "'../../x' is not a valid job id"),
        (f"segments/{JOB}/bad.mp4", CONVERTED, {}, f"segments/{JOB}/bad.mp4 is not a source seg"),
        (keys.source_key(JOB), CONVERTED, {}, f"input/{JOB}/source.mp4 is not a source segment"),
        (SEGMENT, CONVERTED, {"layout": "sbs"}, "was split for layout anaglyph, not sbs"),
    ],
)
def test_a_request_for_any_other_key_is_refused(storage, input_key, output_key, fields, said):
    with pytest.raises(InvalidKey) as refused:
        segment_keys(_request(storage, input_key, output_key, **fields), storage)
    assert said in str(refused.value)


def test_segments_of_another_data_folder_are_a_server_configured_apart(storage, tmp_path):
    # `jobs retry` against a server started with another STEREO_SPOT_DATA_DIR: not the
    # request's fault (a 400 failed the job for good), the server's (a 5xx, with where it looks).
    elsewhere = LocalStorage(tmp_path / "elsewhere")
    request = _request(elsewhere, SEGMENT, CONVERTED)
    with pytest.raises(StorageMismatch) as mismatch:
        segment_keys(request, storage)
    assert str(mismatch.value).startswith(
        f"This model server reads and writes {storage.root.as_uri()}"
    )
    assert "STEREO_SPOT_DATA_DIR" in str(mismatch.value)


def test_a_foreign_uri_that_names_no_segment_is_still_refused(storage) -> None:
    request = SegmentRequest(
        job_id=JOB, segment_index=1, input_uri="file:///etc/passwd",
        output_uri=storage.uri_for(CONVERTED),
    )  # fmt: skip
    with pytest.raises(InvalidKey, match="outside the local storage root"):
        segment_keys(request, storage)
