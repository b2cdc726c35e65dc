"""Uploads in parts for the local adapter, kept to S3's rules (stereo_spot.storage.multipart).

Each unfinished upload is a hidden folder under the storage root, ``.multipart/{upload_id}``,
holding the key it is for and its parts as they arrive (``00001`` with its ETag beside it in
``00001.etag``). Completing joins the parts into the object through the same staged file a
form upload uses, so readers never see half a file. Nothing in ``.multipart`` is an object:
listings skip hidden names. An upload nobody completes or aborts is dropped two days after its
last part, as the bucket's lifecycle rule aborts one on S3.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from stereo_spot.errors import UploadNotFound, UploadRejected
from stereo_spot.keys import validate_key
from stereo_spot.storage.multipart import MAX_PARTS, MIN_PART_BYTES, UploadedPart, upload_gone
from stereo_spot.storage.signing import StagedFile

FOLDER = ".multipart"
ABANDONED_AFTER_SECONDS = 2 * 24 * 3600
_UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_COPY_BUFFER = 8 * 1024**2


class LocalParts:
    def __init__(self, root: Path) -> None:
        self.folder = Path(root) / FOLDER

    def start(self, key: str) -> str:
        self._drop_abandoned()
        upload_id = secrets.token_urlsafe(24)
        folder = self.folder / upload_id
        folder.mkdir(parents=True)
        (folder / "key").write_text(validate_key(key))
        return upload_id

    def staged_part(self, key: str, upload_id: str, part_number: int) -> PartFile:
        if not 1 <= part_number <= MAX_PARTS:
            raise UploadRejected(f"Part {part_number} is not one of 1..{MAX_PARTS}.")
        return PartFile(self._upload(key, upload_id) / f"{part_number:05d}")

    def uploaded(self, key: str, upload_id: str) -> list[UploadedPart]:
        folder = self._upload(key, upload_id)
        parts = []
        for path in sorted(folder.glob("[0-9]" * 5)):
            with contextlib.suppress(FileNotFoundError):  # a part sent again, being replaced
                etag = path.with_name(path.name + ".etag").read_text()
                parts.append(UploadedPart(int(path.name), etag, path.stat().st_size))
        return parts

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
        shutil.rmtree(folder, ignore_errors=True)

    def abort(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(UploadNotFound):
            shutil.rmtree(self._upload(key, upload_id), ignore_errors=True)

    def abort_under(self, prefix: str) -> None:
        """Drop every unfinished upload of a key under ``prefix`` (a deleted job's)."""
        for key_file in self.folder.glob("*/key"):
            with contextlib.suppress(FileNotFoundError):
                if key_file.read_text().startswith(prefix):
                    shutil.rmtree(key_file.parent, ignore_errors=True)

    def _upload(self, key: str, upload_id: str) -> Path:
        folder = self.folder / upload_id
        try:
            if _UPLOAD_ID.match(upload_id) and (folder / "key").read_text() == key:
                return folder
        except FileNotFoundError:
            pass
        raise upload_gone(upload_id)

    def _drop_abandoned(self) -> None:
        if not self.folder.is_dir():
            return
        cutoff = time.time() - ABANDONED_AFTER_SECONDS
        for folder in self.folder.iterdir():
            with contextlib.suppress(FileNotFoundError):  # completed or aborted meanwhile
                newest = max((p.stat().st_mtime for p in folder.iterdir()), default=0.0)
                if newest < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)


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


class PartFile:
    """One part being received: written under a temporary name, hashed as it comes, renamed
    into place (with its ETag) on commit, so a part sent again replaces the old one whole."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self._tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}")
        self._handle = self._tmp.open("wb")
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0
        self.etag = ""

    def write(self, data: bytes) -> None:
        self._handle.write(data)
        self._md5.update(data)
        self.size += len(data)

    def commit(self) -> None:
        self._handle.close()
        self.etag = f'"{self._md5.hexdigest()}"'
        etag_file = self.target.with_name(self.target.name + ".etag")
        etag_file.unlink(missing_ok=True)  # never an old ETag beside the new bytes
        self._tmp.replace(self.target)
        etag_file.write_text(self.etag)

    def discard(self) -> None:
        if not self._handle.closed:
            self._handle.close()
        self._tmp.unlink(missing_ok=True)
