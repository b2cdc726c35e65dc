"""Uploads in parts (S3 multipart upload) meet one contract on both adapters: parts PUT over HTTP
to the URLs each signs (moto server for S3, the portal's endpoint for the local adapter)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stereo_spot.errors import UploadNotFound, UploadRejected
from stereo_spot.keys import source_key
from stereo_spot.storage.multipart import MIN_PART_BYTES, UploadedPart
from tests.contract.conftest import PARTS_JOB_ID

KEY = source_key(PARTS_JOB_ID)
FIRST = bytes(range(256)) * (MIN_PART_BYTES // 256)  # exactly 5 MiB, the least a part may hold
SECOND = b"the rest of the file" * 1000


def _send(storage, put, upload_id: str, number: int, data: bytes) -> UploadedPart:
    answer = put(storage.presign_upload_part(KEY, upload_id, number, expires_in=300), data)
    assert answer.status_code == 200, answer.text
    return UploadedPart(number, answer.headers["etag"], len(data))


def test_parts_sent_in_any_order_join_in_number_order(parts_storage, tmp_path: Path) -> None:
    storage, put = parts_storage
    upload_id = storage.start_multipart_upload(KEY)

    second = _send(storage, put, upload_id, 2, SECOND)
    assert not storage.exists(KEY), "nothing is visible before the upload is completed"
    first = _send(storage, put, upload_id, 1, FIRST)
    received = storage.uploaded_parts(KEY, upload_id)
    storage.complete_multipart_upload(KEY, upload_id, [first, second])

    assert [(p.number, p.size) for p in received] == [(1, len(FIRST)), (2, len(SECOND))]
    assert [p.etag.strip('"') for p in received] == [first.etag.strip('"'), second.etag.strip('"')]
    assert storage.get_file(KEY, tmp_path / "out.mp4").read_bytes() == FIRST + SECOND
    with pytest.raises(UploadNotFound):
        storage.uploaded_parts(KEY, upload_id)  # a completed upload is over


def test_a_part_sent_again_replaces_the_first(parts_storage, tmp_path: Path) -> None:
    storage, put = parts_storage
    upload_id = storage.start_multipart_upload(KEY)
    stale = _send(storage, put, upload_id, 1, b"a first try that broke off")
    fresh = _send(storage, put, upload_id, 1, SECOND)

    with pytest.raises(UploadRejected):
        storage.complete_multipart_upload(KEY, upload_id, [stale])
    assert [p.size for p in storage.uploaded_parts(KEY, upload_id)] == [len(SECOND)]
    storage.complete_multipart_upload(KEY, upload_id, [fresh])

    assert storage.get_file(KEY, tmp_path / "out.mp4").read_bytes() == SECOND


def test_parts_but_the_last_hold_at_least_5_mib(parts_storage) -> None:
    storage, put = parts_storage
    upload_id = storage.start_multipart_upload(KEY)
    parts = [_send(storage, put, upload_id, n, SECOND) for n in (1, 2)]

    with pytest.raises(UploadRejected):
        storage.complete_multipart_upload(KEY, upload_id, parts)
    assert not storage.exists(KEY)


def test_a_part_never_sent_cannot_be_completed(parts_storage) -> None:
    storage, put = parts_storage
    upload_id = storage.start_multipart_upload(KEY)
    first = _send(storage, put, upload_id, 1, FIRST)

    with pytest.raises(UploadRejected):
        storage.complete_multipart_upload(KEY, upload_id, [first, UploadedPart(2, '"0123"')])
    assert not storage.exists(KEY)


def test_an_aborted_upload_is_gone_with_its_parts(parts_storage) -> None:
    storage, put = parts_storage
    upload_id = storage.start_multipart_upload(KEY)
    _send(storage, put, upload_id, 1, FIRST)

    storage.abort_multipart_upload(KEY, upload_id)
    storage.abort_multipart_upload(KEY, upload_id)  # one that is gone already is fine

    with pytest.raises(UploadNotFound):
        storage.uploaded_parts(KEY, upload_id)
    # (Completing it is not tried here: S3 answers NoSuchUpload, moto server a 500.)
    assert not storage.exists(KEY) and storage.list_prefix("input/") == []


def test_an_unknown_upload_id_is_not_found(parts_storage) -> None:
    storage, _put = parts_storage
    storage.start_multipart_upload(KEY)

    with pytest.raises(UploadNotFound):
        storage.uploaded_parts(KEY, "noSuchUpload_0123456789abcdef")


def test_deleting_a_prefix_drops_its_unfinished_uploads(parts_storage) -> None:
    # A job deleted while its page was mid-upload: its parts go with it.
    storage, put = parts_storage
    upload_id = storage.start_multipart_upload(KEY)
    _send(storage, put, upload_id, 1, FIRST)

    storage.delete_prefix("input/contractJob_0123456789/")

    with pytest.raises(UploadNotFound):
        storage.uploaded_parts(KEY, upload_id)


def test_beginning_another_upload_of_a_key_drops_the_one_before(parts_storage) -> None:
    # A key has one unfinished upload at a time: each may hold up to the portal's limit.
    storage, put = parts_storage
    earlier = storage.start_multipart_upload(KEY)
    _send(storage, put, earlier, 1, FIRST)

    later = storage.start_multipart_upload(KEY)

    with pytest.raises(UploadNotFound):
        storage.uploaded_parts(KEY, earlier)
    assert storage.uploaded_parts(KEY, later) == []
    storage.delete_prefix("input/contractJob_0123456789/")
    with pytest.raises(UploadNotFound):
        storage.uploaded_parts(KEY, later)
