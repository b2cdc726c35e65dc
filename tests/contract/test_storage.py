"""The ObjectStorage contract: the same assertions for LocalStorage and S3Storage (moto server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stereo_spot.errors import InvalidKey, ObjectNotFound
from stereo_spot.keys import converted_segment_key, final_key, source_key
from stereo_spot.storage import ObjectStorage

JOB_ID = "contractJob_0123456789"
OTHER_JOB_ID = "contractJob_9876543210"

INVALID_KEYS = [
    "",
    "/input/abs.mp4",
    "a/../b.mp4",
    "a//b.mp4",
    "a/./b.mp4",
    "a\\b.mp4",
    "..",
    "a\x00b",
]


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_storage_meets_the_port(storage: ObjectStorage) -> None:
    assert isinstance(storage, ObjectStorage)
    storage.check()  # a storage that can be used says nothing (a missing bucket: test_aws_unreachable)


def test_file_round_trips(storage: ObjectStorage, tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    storage.put_file(_write(tmp_path / "in.mp4", data), source_key(JOB_ID))

    out = storage.get_file(source_key(JOB_ID), tmp_path / "deep" / "dir" / "out.mp4")

    assert out == tmp_path / "deep" / "dir" / "out.mp4"
    assert out.read_bytes() == data


def test_a_file_given_up_is_moved_into_storage(storage: ObjectStorage, tmp_path: Path) -> None:
    # A step's scratch file (a segment, the result): gone from where it was, whole in storage.
    data = bytes(range(256)) * 1000
    scratch = _write(tmp_path / "scratch" / "seg.mp4", data)
    storage.put_file(scratch, converted_segment_key(JOB_ID, 0), move=True)

    assert not scratch.exists()
    assert storage.get_file(converted_segment_key(JOB_ID, 0), tmp_path / "o.mp4").read_bytes() == (
        data
    )


def test_a_file_only_read_holds_the_stored_bytes(storage: ObjectStorage, tmp_path: Path) -> None:
    key = source_key(JOB_ID)
    storage.put_file(_write(tmp_path / "in.mp4", b"first"), key)
    read = storage.get_file(key, tmp_path / "step" / "source.mp4", read_only=True)
    assert read.read_bytes() == b"first"
    # Replacing the object later does not change what a step already took.
    storage.put_file(_write(tmp_path / "in2.mp4", b"second"), key)
    assert read.read_bytes() == b"first"
    storage.delete_prefix(f"input/{JOB_ID}/")
    assert read.read_bytes() == b"first"


def test_put_replaces_an_existing_object(storage: ObjectStorage, tmp_path: Path) -> None:
    key = final_key(JOB_ID)
    storage.put_file(_write(tmp_path / "a.mp4", b"first version, longer"), key)
    storage.put_file(_write(tmp_path / "b.mp4", b"second"), key)

    assert storage.get_file(key, tmp_path / "out.mp4").read_bytes() == b"second"
    assert storage.size(key) == len(b"second")
    assert storage.list_prefix(f"jobs/{JOB_ID}/") == [key]


def test_exists_and_size(storage: ObjectStorage, tmp_path: Path) -> None:
    key = converted_segment_key(JOB_ID, 3)
    assert not storage.exists(key)

    storage.put_file(_write(tmp_path / "seg.mp4", b"x" * 1234), key)

    assert storage.exists(key)
    assert storage.size(key) == 1234


def test_empty_object_round_trips(storage: ObjectStorage, tmp_path: Path) -> None:
    key = f"jobs/{JOB_ID}/empty.bin"
    storage.put_file(
        _write(tmp_path / "empty.bin", b""), key, content_type="application/octet-stream"
    )

    assert storage.exists(key)
    assert storage.size(key) == 0
    assert storage.get_file(key, tmp_path / "out.bin").read_bytes() == b""


def test_copy_makes_an_independent_copy(storage: ObjectStorage, tmp_path: Path) -> None:
    data = bytes(range(256)) * 400
    storage.put_file(_write(tmp_path / "in.mp4", data), source_key(JOB_ID))

    storage.copy(source_key(JOB_ID), source_key(OTHER_JOB_ID))
    storage.delete_prefix(f"input/{JOB_ID}/")

    assert storage.get_file(source_key(OTHER_JOB_ID), tmp_path / "out.mp4").read_bytes() == data
    with pytest.raises(ObjectNotFound):
        storage.copy(source_key(JOB_ID), final_key(OTHER_JOB_ID))
    assert not storage.exists(final_key(OTHER_JOB_ID))


def test_missing_object_raises_object_not_found(storage: ObjectStorage, tmp_path: Path) -> None:
    key = final_key(JOB_ID)
    target = tmp_path / "downloads" / "final.mp4"

    with pytest.raises(ObjectNotFound):
        storage.get_file(key, target)
    with pytest.raises(ObjectNotFound):
        storage.size(key)

    # A failed download leaves nothing behind that a later step could mistake for the object.
    assert not target.exists()
    leftovers = list(target.parent.iterdir()) if target.parent.exists() else []
    assert leftovers == []


def test_list_prefix_is_sorted_and_scoped(storage: ObjectStorage, tmp_path: Path) -> None:
    src = _write(tmp_path / "seg.mp4", b"segment")
    keys = [converted_segment_key(JOB_ID, i) for i in (2, 0, 1)]
    for key in keys:
        storage.put_file(src, key)
    storage.put_file(src, final_key(OTHER_JOB_ID))
    storage.put_file(src, source_key(JOB_ID))

    assert storage.list_prefix(f"jobs/{JOB_ID}/segments/") == sorted(keys)
    assert storage.list_prefix(f"jobs/{JOB_ID}/") == sorted(keys)
    assert storage.list_prefix("nothing-here/") == []


def test_a_prefix_may_end_mid_name(storage: ObjectStorage, tmp_path: Path) -> None:
    # keys.segment_prefixes names a job's source segments by their index's first digit.
    src = _write(tmp_path / "seg.mp4", b"segment")
    keys = [
        f"segments/{JOB_ID}/0001_sbs.mp4",
        f"segments/{JOB_ID}/0002_sbs.mp4",
        f"segments/{JOB_ID}/1000_sbs.mp4",
        f"segments/{JOB_ID}/part.mp4",
        f"segments/{JOB_ID}/0deep/x.mp4",
        f"segments/{OTHER_JOB_ID}/0001_sbs.mp4",
        source_key(JOB_ID),
        f"input/{JOB_ID}/sourcer/x.mp4",
    ]
    for key in keys:
        storage.put_file(src, key)

    assert storage.list_prefix(f"segments/{JOB_ID}/0") == sorted([*keys[:2], keys[4]])
    assert storage.list_prefix(f"input/{JOB_ID}/source") == sorted([keys[6], keys[7]])
    assert storage.list_prefix(f"segments/{JOB_ID[:5]}") == sorted(keys[:6])
    assert storage.list_prefix("") == sorted(keys)
    assert storage.delete_prefix(f"segments/{JOB_ID}/1") == 1
    assert storage.list_prefix(f"segments/{JOB_ID}/") == sorted(keys[:2] + keys[3:5])


def test_delete_prefix_removes_only_that_prefix(storage: ObjectStorage, tmp_path: Path) -> None:
    src = _write(tmp_path / "seg.mp4", b"segment")
    for i in range(5):
        storage.put_file(src, converted_segment_key(JOB_ID, i))
    storage.put_file(src, final_key(JOB_ID))
    storage.put_file(src, final_key(OTHER_JOB_ID))

    assert storage.delete_prefix(f"jobs/{JOB_ID}/") == 6

    assert storage.list_prefix(f"jobs/{JOB_ID}/") == []
    assert not storage.exists(final_key(JOB_ID))
    assert storage.exists(final_key(OTHER_JOB_ID))
    assert storage.delete_prefix(f"jobs/{JOB_ID}/") == 0


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_are_rejected(storage: ObjectStorage, tmp_path: Path, key: str) -> None:
    src = _write(tmp_path / "x.mp4", b"x")
    with pytest.raises(InvalidKey):
        storage.put_file(src, key)
    with pytest.raises(InvalidKey):
        storage.get_file(key, tmp_path / "out.mp4")
    with pytest.raises(InvalidKey):
        storage.exists(key)
    with pytest.raises(InvalidKey):
        storage.size(key)
    with pytest.raises(InvalidKey):
        storage.uri_for(key)


def test_uri_round_trips_through_key_from_uri(storage: ObjectStorage) -> None:
    for key in (source_key(JOB_ID), converted_segment_key(JOB_ID, 7), final_key(JOB_ID)):
        uri = storage.uri_for(key)
        assert uri.startswith(("file://", "s3://"))
        assert storage.key_from_uri(uri) == key


def test_uri_is_usable_before_the_object_exists(storage: ObjectStorage) -> None:
    # Pipeline steps name their outputs by URI before writing them.
    key = final_key(JOB_ID)
    assert not storage.exists(key)
    assert storage.key_from_uri(storage.uri_for(key)) == key


@pytest.mark.parametrize(
    "foreign",
    [
        "https://example.com/input/x/source.mp4",
        "ftp://example.com/input/x/source.mp4",
        "file:///etc/passwd",
        "s3://someone-elses-bucket/input/x/source.mp4",
    ],
)
def test_foreign_uris_are_rejected(storage: ObjectStorage, foreign: str) -> None:
    with pytest.raises(InvalidKey):
        storage.key_from_uri(foreign)


def test_uri_with_an_invalid_key_is_rejected(storage: ObjectStorage) -> None:
    good = storage.uri_for(final_key(JOB_ID))
    with pytest.raises(InvalidKey):
        storage.key_from_uri(good.replace(f"jobs/{JOB_ID}/", f"jobs/{JOB_ID}/../../"))
