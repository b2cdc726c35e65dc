"""On one disk, the local storage neither copies a step's scratch file in nor the stored bytes
out: a film is not on the disk twice while a step works on it (docs/BENCHMARKS.md, "Disk")."""

from __future__ import annotations

from stereo_spot.keys import converted_segment_key, source_key
from stereo_spot.storage.local import LocalStorage

JOB_ID = "oneDiskJob_0123456789"


def test_a_file_only_read_is_the_stored_file_not_a_copy(tmp_path):
    storage = LocalStorage(tmp_path / "media")
    (tmp_path / "film.mp4").write_bytes(b"film" * 1000)
    storage.put_file(tmp_path / "film.mp4", source_key(JOB_ID))
    stored = storage.path_for(source_key(JOB_ID))

    read = storage.get_file(source_key(JOB_ID), tmp_path / "scratch" / "source.mp4", read_only=True)
    copied = storage.get_file(source_key(JOB_ID), tmp_path / "scratch" / "mine.mp4")

    assert read.stat().st_ino == stored.stat().st_ino, "one file, two names"
    assert copied.stat().st_ino != stored.stat().st_ino, "a file the caller may write is its own"
    # The user's file that `convert` stores stays the user's: stored as a copy.
    assert (tmp_path / "film.mp4").stat().st_ino != stored.stat().st_ino


def test_a_file_given_up_is_renamed_into_place(tmp_path):
    storage = LocalStorage(tmp_path / "media")
    segment = tmp_path / "scratch" / "00000.mp4"
    segment.parent.mkdir()
    segment.write_bytes(b"segment")
    inode = segment.stat().st_ino

    storage.put_file(segment, converted_segment_key(JOB_ID, 0), move=True)

    assert storage.path_for(converted_segment_key(JOB_ID, 0)).stat().st_ino == inode
    assert not segment.exists()
    assert not list(storage.path_for(converted_segment_key(JOB_ID, 0)).parent.glob(".*"))
