"""The object-storage port. Stage logic takes an :class:`ObjectStorage`, never a path or a client.

Adapters: :mod:`stereo_spot.storage.local` (embedded default) and :mod:`stereo_spot.storage.s3`
(cluster). :func:`stereo_spot.wiring.storage_from` picks one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from stereo_spot.storage.multipart import UploadedPart


@dataclass(frozen=True)
class UploadTarget:
    """Where a browser or script sends a file: a multipart form POST of ``fields`` plus ``file``.

    The shape of an S3 presigned POST; the local adapter signs the same shape with an HMAC.
    """

    url: str
    fields: dict[str, str] = field(default_factory=dict)
    max_bytes: int = 0
    expires_in: int = 0


@runtime_checkable
class ObjectStorage(Protocol):
    def put_file(
        self, local_path: Path, key: str, content_type: str = "video/mp4", *, move: bool = False
    ) -> None:
        """Upload a local file to ``key``, replacing what is there (atomic for readers).

        ``move``: the caller gives the file up (a step's scratch file): it is gone from
        ``local_path`` afterwards, moved into place where the adapter can (the local one, on
        the same disk) rather than copied, so a video is not on the disk twice meanwhile.
        """

    def get_file(self, key: str, local_path: Path, *, read_only: bool = False) -> Path:
        """Download ``key`` to ``local_path``; raises ObjectNotFound if it is missing.

        ``read_only``: the caller only reads the file, and writes nothing into it: the local
        adapter may then hand over the stored bytes themselves (a hard link, on the same disk)
        rather than a copy. Writing into such a file would change the stored object.
        """

    def copy(self, source_key: str, target_key: str) -> None:
        """Make ``target_key`` a copy of ``source_key`` inside the storage (nothing passes
        through this process on S3); raises ObjectNotFound if the source is missing."""

    def exists(self, key: str) -> bool: ...

    def check(self) -> None:
        """Raise StoreUnavailable, saying why, if the storage itself cannot be used (an S3
        bucket that does not exist, an endpoint that does not answer): a service asks before
        it takes requests, since ``exists`` reads a missing bucket as a missing key."""

    def size(self, key: str) -> int:
        """Size in bytes; raises ObjectNotFound if it is missing."""

    def list_prefix(self, prefix: str) -> list[str]:
        """Keys under ``prefix``, sorted."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix``; returns how many were deleted."""

    def uri_for(self, key: str) -> str:
        """The ``file://`` or ``s3://`` URI of ``key``."""

    def key_from_uri(self, uri: str) -> str:
        """The key a URI of this storage names; raises InvalidKey for a foreign URI."""

    def presign_upload(
        self, key: str, max_bytes: int, expires_in: int = 3600, content_type: str = "video/mp4"
    ) -> UploadTarget:
        """A signed form POST that can write exactly ``key``, at most ``max_bytes``, until expiry."""

    def presign_download(
        self, key: str, expires_in: int = 3600, filename: str | None = None
    ) -> str:
        """A signed GET URL for ``key`` (``filename`` sets Content-Disposition when given)."""

    # -- uploads in parts (stereo_spot.storage.multipart) ---------------------------------------

    def start_multipart_upload(self, key: str, content_type: str = "video/mp4") -> str:
        """Begin an upload of ``key`` in parts; returns its upload id. Nothing is visible at
        ``key`` until :meth:`complete_multipart_upload`. An unfinished upload of ``key`` begun
        before is dropped with its parts: a key has one at a time."""

    def presign_upload_part(
        self, key: str, upload_id: str, part_number: int, expires_in: int = 3600
    ) -> str:
        """A signed URL that a PUT of part ``part_number`` (1..10000) goes to; its answer's
        ``ETag`` header names the part at completion. Signing looks nothing up: a PUT under an
        unknown upload id is refused when it arrives."""

    def uploaded_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        """The parts received so far, by number; raises UploadNotFound for an unknown id."""

    def complete_multipart_upload(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart]
    ) -> None:
        """Join ``parts`` (ascending numbers, each with the ETag its PUT answered) into the
        object at ``key``. Raises UploadNotFound, or UploadRejected for a part that is missing,
        out of order or (but the last) smaller than 5 MiB."""

    def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        """Drop the upload and every part it received; an unknown id is already gone."""
