"""Uploads in parts for the local adapter, kept to S3's rules (stereo_spot.storage.multipart).

Each unfinished upload is a hidden folder under the storage root, ``.multipart/{upload_id}``,
holding the key it is for and its parts as they arrive (``00001`` with its ETag beside it in
``00001.etag``). Completing joins the parts into the object through the same staged file a
form upload uses, so readers never see half a file. Nothing in ``.multipart`` is an object:
listings skip hidden names. An upload nobody completes or aborts is dropped two days after its
last part, as the bucket's lifecycle rule aborts one on S3.

A key has one unfinished upload at a time: ``.multipart/.by-key/{key}`` names it, and beginning
another drops it. The portal begins one per file chosen (a page reloaded resumes its own by
asking what arrived), and each upload may hold up to the portal's limit: twenty begun for one
job would each have had that budget.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stereo_spot.atomic_files import remove_empty_folders, replaced_whole
from stereo_spot.errors import UploadNotFound, UploadRejected
from stereo_spot.keys import validate_key
from stereo_spot.storage.multipart import (
    MAX_PARTS,
    MIN_PART_BYTES,
    UploadedPart,
    UploadFull,
    upload_gone,
)
from stereo_spot.storage.signing import StagedFile

FOLDER = ".multipart"
BY_KEY = ".by-key"
ABANDONED_AFTER_SECONDS = 2 * 24 * 3600
# Looking for abandoned uploads reads every unfinished upload's folder: done on every begin,
# 5,000 of them made each begin take a second. Once a minute is plenty for a two-day rule.
SWEEP_EVERY_SECONDS = 60
_UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_BEING_MADE = ".new-"
_COPY_BUFFER = 8 * 1024**2
# Begins, completions and aborts change the by-key names together with the folders; the portal
# serves them from threads of one process.
_LOCK = threading.Lock()


class LocalParts:
    def __init__(self, root: Path) -> None:
        self.folder = Path(root) / FOLDER
        self.by_key = self.folder / BY_KEY
        self._swept_at: float | None = None

    def start(self, key: str) -> str:
        """Begin an upload of ``key``, dropping the one begun for it before, if unfinished."""
        key = validate_key(key)
        self._sweep_now_and_then()
        upload_id = secrets.token_urlsafe(24)
        with _LOCK:
            earlier = self._unfinished_of(key)
            self._make(upload_id, key)
            _write_replacing(self.by_key / key, upload_id)
        if earlier is not None:
            shutil.rmtree(self.folder / earlier, ignore_errors=True)
        return upload_id

    def staged_part(
        self, key: str, upload_id: str, part_number: int, most_bytes: int | None = None
    ) -> PartFile:
        """Where a PUT of one part is written. With ``most_bytes``, the part is refused
        (:class:`UploadFull`) as soon as it would take the upload past that many bytes, counting
        the parts held and those streaming beside it."""
        if not 1 <= part_number <= MAX_PARTS:
            raise UploadRejected(f"Part {part_number} is not one of 1..{MAX_PARTS}.")
        folder = self._upload(key, upload_id)
        ticket = _STREAMING.join(folder, part_number, most_bytes)
        return PartFile(folder / f"{part_number:05d}", ticket)

    def uploaded(self, key: str, upload_id: str) -> list[UploadedPart]:
        return _parts_in(self._upload(key, upload_id))

    def complete(
        self,
        key: str,
        upload_id: str,
        parts: Sequence[UploadedPart],
        staged: Callable[[], StagedFile],
    ) -> None:
        """Join ``parts`` into a ``staged()`` file of the object (opened once they are found
        complete) and drop the upload."""
        received = {part.number: part for part in self.uploaded(key, upload_id)}
        _check_completion(parts, received)
        folder = self.folder / upload_id
        target = staged()
        try:
            for part in parts:
                with (folder / f"{part.number:05d}").open("rb") as source:
                    while chunk := source.read(_COPY_BUFFER):
                        target.write(chunk)
            target.commit()
        except BaseException:
            target.discard()
            raise
        self._drop(key, upload_id)

    def abort(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(UploadNotFound):
            self._upload(key, upload_id)
            self._drop(key, upload_id)

    def abort_keys(self, keys: Iterable[str]) -> None:
        """Drop the unfinished upload of each of ``keys`` (those named under ``by_key``: a
        deleted job's)."""
        for key in keys:
            upload_id = _read(self.by_key / key)
            if upload_id is not None:
                self.abort(key, upload_id)

    def _make(self, upload_id: str, key: str) -> None:
        """The upload's folder, appearing with its key in it: a folder half made is never seen
        (a sweep once took one without its key yet for abandoned, and the begin failed)."""
        being_made = self.folder / f"{_BEING_MADE}{upload_id}"
        being_made.mkdir(parents=True)
        (being_made / "key").write_text(key)
        being_made.rename(self.folder / upload_id)

    def _unfinished_of(self, key: str) -> str | None:
        upload_id = _read(self.by_key / key)
        if upload_id is None or not _UPLOAD_ID.match(upload_id):
            return None
        return upload_id if _read(self.folder / upload_id / "key") == key else None

    def _upload(self, key: str, upload_id: str) -> Path:
        folder = self.folder / upload_id
        if _UPLOAD_ID.match(upload_id) and _read(folder / "key") == key:
            return folder
        raise upload_gone(upload_id)

    def _drop(self, key: str, upload_id: str) -> None:
        shutil.rmtree(self.folder / upload_id, ignore_errors=True)
        with _LOCK:
            named = self.by_key / key
            if _read(named) == upload_id:  # not one begun for the key since
                named.unlink(missing_ok=True)
                remove_empty_folders(named.parent, up_to=self.folder)

    def _sweep_now_and_then(self) -> None:
        now = time.monotonic()
        if self._swept_at is not None and now - self._swept_at < SWEEP_EVERY_SECONDS:
            return
        self._swept_at = now
        self._drop_abandoned()

    def _drop_abandoned(self) -> None:
        """Drop the uploads left two days. A folder's own time is that of the last name made in
        it (a part's, or the key's): one stat per upload, not one per part."""
        cutoff = time.time() - ABANDONED_AFTER_SECONDS
        with contextlib.suppress(FileNotFoundError), os.scandir(self.folder) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):  # completed or aborted meanwhile
                    if entry.name != BY_KEY and entry.stat().st_mtime < cutoff:
                        self._drop_left(entry.name)

    def _drop_left(self, name: str) -> None:
        key = _read(self.folder / name / "key")
        if key is not None and _UPLOAD_ID.match(name):
            self._drop(key, name)
        else:
            shutil.rmtree(self.folder / name, ignore_errors=True)


def _parts_in(folder: Path) -> list[UploadedPart]:
    parts = []
    for path in sorted(folder.glob("[0-9]" * 5)):
        with contextlib.suppress(FileNotFoundError):  # a part sent again, being replaced
            etag = path.with_name(path.name + ".etag").read_text()
            parts.append(UploadedPart(int(path.name), etag, path.stat().st_size))
    return parts


def _dropped_meanwhile(part: Path) -> UploadNotFound:
    """A part whose upload was aborted, or replaced by another begun for its key, while it
    arrived: the upload is gone (404), not a fault of the portal's."""
    return upload_gone(part.parent.name)


def _held_sizes(folder: Path) -> dict[int, int]:
    """The size of each part the folder holds, its ETag written yet or not."""
    sizes = {}
    for path in folder.glob("[0-9]" * 5):
        with contextlib.suppress(FileNotFoundError):
            sizes[int(path.name)] = path.stat().st_size
    return sizes


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _write_replacing(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_whole(path, prefix=f".{path.name}.") as written:
        written.write_text(text)


def _check_completion(parts: Sequence[UploadedPart], received: dict[int, UploadedPart]) -> None:
    """S3's rules for CompleteMultipartUpload, in its words where it has some."""
    if not parts:
        raise UploadRejected("An upload is completed with at least one part.")
    numbers = [part.number for part in parts]
    if numbers != sorted(set(numbers)):
        raise UploadRejected("The parts are not listed in ascending order, each once.")
    for index, part in enumerate(parts):
        held = received.get(part.number)
        if held is None or held.etag.strip('"') != part.etag.strip('"'):
            raise UploadRejected(
                f"Part {part.number} was not received with the ETag {part.etag}; send it again."
            )
        if index < len(parts) - 1 and held.size < MIN_PART_BYTES:
            raise UploadRejected(
                f"Part {part.number} holds {held.size} bytes; every part but the last holds "
                f"at least {MIN_PART_BYTES} (5 MiB)."
            )


@dataclass
class _Upload:
    """An upload with parts streaming: the sizes of the parts it holds, and the bytes each part
    streaming now has taken (a part sent again counts twice until one of them is kept)."""

    held: dict[int, int]
    streaming: dict[int, tuple[int, int]] = field(default_factory=dict)  # ticket: (number, bytes)

    def total(self) -> int:
        replaced = {number for number, _ in self.streaming.values()}
        kept = sum(size for number, size in self.held.items() if number not in replaced)
        return kept + sum(taken for _, taken in self.streaming.values())


class _Streaming:
    """What each upload holds and what its parts streaming now add, shared by every PUT of it.

    Each PUT once counted what the upload held as it began: six 15 MB parts sent at once under a
    20 MB limit each saw an empty upload, and 90 MB were kept. Here each chunk is counted against
    the others' as they arrive. An upload is followed only while a part of it streams.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._uploads: dict[Path, _Upload] = {}
        self._tickets = iter(range(1, 2**63))

    def join(self, folder: Path, number: int, most_bytes: int | None) -> _Ticket:
        with self._lock:
            if folder not in self._uploads:
                self._uploads[folder] = _Upload(_held_sizes(folder))
            ticket = _Ticket(self, folder, number, next(self._tickets), most_bytes)
            self._uploads[folder].streaming[ticket.id] = (number, 0)
        return ticket

    def take(self, ticket: _Ticket, taken: int) -> None:
        """Let the part have ``taken`` bytes in all, or refuse it (:class:`UploadFull`) if the
        upload would then hold more than it may."""
        with self._lock:
            upload = self._uploads[ticket.folder]
            number, before = upload.streaming[ticket.id]
            upload.streaming[ticket.id] = (number, max(before, taken))
            if ticket.most_bytes is not None and upload.total() > ticket.most_bytes:
                upload.streaming[ticket.id] = (number, before)
                raise UploadFull(
                    f"The upload would hold more than {ticket.most_bytes:,} bytes with this part."
                )

    def leave(self, ticket: _Ticket, kept: int | None) -> None:
        with self._lock:
            upload = self._uploads[ticket.folder]
            number, _ = upload.streaming.pop(ticket.id)
            if kept is not None:
                upload.held[number] = kept
            if not upload.streaming:
                del self._uploads[ticket.folder]


_STREAMING = _Streaming()


@dataclass
class _Ticket:
    """One part's place among its upload's parts streaming, until it is kept or dropped."""

    streaming: _Streaming
    folder: Path
    number: int
    id: int
    most_bytes: int | None
    open: bool = True

    def take(self, taken: int) -> None:
        self.streaming.take(self, taken)

    def leave(self, kept: int | None) -> None:
        if self.open:
            self.open = False
            self.streaming.leave(self, kept)


class PartFile:
    """One part being received: written under a temporary name, hashed as it comes, renamed
    into place (with its ETag) on commit, so a part sent again replaces the old one whole."""

    def __init__(self, target: Path, ticket: _Ticket) -> None:
        self.target = target
        self._ticket = ticket
        self._tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}")
        try:
            self._handle = self._tmp.open("wb")
        except FileNotFoundError:
            ticket.leave(None)
            raise _dropped_meanwhile(target) from None
        except BaseException:
            ticket.leave(None)
            raise
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0
        self.etag = ""

    def reserve(self, size: int) -> None:
        """Take ``size`` bytes of the upload's room before they arrive (a PUT's Content-Length),
        so that a part that cannot fit is refused before a byte of it is written."""
        self._ticket.take(size)

    def write(self, data: bytes) -> None:
        self._ticket.take(self.size + len(data))
        self._handle.write(data)
        self._md5.update(data)
        self.size += len(data)

    def commit(self) -> None:
        self._handle.close()
        self.etag = f'"{self._md5.hexdigest()}"'
        etag_file = self.target.with_name(self.target.name + ".etag")
        etag_file.unlink(missing_ok=True)  # never an old ETag beside the new bytes
        kept = None
        try:
            self._tmp.replace(self.target)
            kept = self.size
            etag_file.write_text(self.etag)
        except FileNotFoundError:
            raise _dropped_meanwhile(self.target) from None
        finally:
            self._ticket.leave(kept)

    def discard(self) -> None:
        if not self._handle.closed:
            self._handle.close()
        self._tmp.unlink(missing_ok=True)
        self._ticket.leave(None)
