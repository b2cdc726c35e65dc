"""Signed URLs for local storage, standing in for S3 presigned URLs on the embedded stack.

An upload is the shape of an S3 presigned POST: a multipart form of signed ``fields`` followed by
the ``file``. A download is a GET URL with ``expires`` and ``signature`` query parameters. Both are
HMAC-SHA256 over the method, the exact key, the expiry and (uploads) the size limit and content
type, so a signature for one key, size or deadline is worthless for any other.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import quote, urlencode

from stereo_spot.errors import StereoSpotError
from stereo_spot.keys import validate_key
from stereo_spot.settings import Settings

UPLOAD_PATH = "/storage/upload"
PART_PATH = "/storage/parts/"
DOWNLOAD_PATH = "/storage/"
# The form fields a signed upload carries, in the order the browser must send them (before file).
UPLOAD_FIELDS = ("key", "content_type", "expires", "max_bytes", "signature")


class SignatureRejected(StereoSpotError):
    """A signed URL or form that was tampered with, has expired or names another key."""


@dataclass(frozen=True)
class UploadGrant:
    """What a verified upload form allows: write ``key``, at most ``max_bytes``."""

    key: str
    max_bytes: int
    content_type: str


class UrlSigner:
    def __init__(self, secret: bytes, clock=time.time) -> None:
        if len(secret) < 16:
            raise ValueError("The signing secret must be at least 16 bytes.")
        self._secret = secret
        self._clock = clock

    def _digest(self, *parts: str) -> str:
        message = "\n".join(parts).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign_upload(
        self, key: str, max_bytes: int, expires_in: int, content_type: str
    ) -> dict[str, str]:
        expires = str(int(self._clock()) + int(expires_in))
        fields = {
            "key": validate_key(key),
            "content_type": content_type,
            "expires": expires,
            "max_bytes": str(int(max_bytes)),
        }
        fields["signature"] = self._digest(
            "POST", fields["key"], expires, fields["max_bytes"], content_type
        )
        return fields

    def verify_upload(self, fields: dict[str, str]) -> UploadGrant:
        try:
            key, content_type, expires, max_bytes, signature = (
                fields[name] for name in UPLOAD_FIELDS
            )
        except KeyError as missing:
            raise SignatureRejected(f"The upload form lacks the signed field {missing}.") from None
        expected = self._digest("POST", key, expires, max_bytes, content_type)
        if not hmac.compare_digest(expected, signature):
            raise SignatureRejected("The upload form's signature does not match its fields.")
        self._check_expiry(expires)
        return UploadGrant(
            key=validate_key(key), max_bytes=int(max_bytes), content_type=content_type
        )

    def sign_part(self, key: str, upload_id: str, part_number: int, expires_in: int) -> str:
        """The query string (without ``?``) that authorises a PUT of one part of an upload."""
        expires = str(int(self._clock()) + int(expires_in))
        signature = self._digest("PUT", validate_key(key), upload_id, str(part_number), expires)
        return urlencode({"key": key, "expires": expires, "signature": signature})

    def verify_part(
        self, key: str, upload_id: str, part_number: int, expires: str, signature: str
    ) -> None:
        expected = self._digest("PUT", key, upload_id, str(part_number), expires)
        if not hmac.compare_digest(expected, signature):
            raise SignatureRejected("The part's upload link does not match its signature.")
        self._check_expiry(expires)

    def sign_download(self, key: str, expires_in: int, filename: str | None = None) -> str:
        """The query string (without ``?``) that authorises a GET of ``key``."""
        expires = str(int(self._clock()) + int(expires_in))
        query = {"expires": expires}
        if filename:
            query["filename"] = filename
        query["signature"] = self._digest("GET", validate_key(key), expires, filename or "")
        return urlencode(query)

    def verify_download(
        self, key: str, expires: str | None, signature: str | None, filename: str | None = None
    ) -> None:
        if not expires or not signature:
            raise SignatureRejected("The download link is not signed.")
        expected = self._digest("GET", key, expires, filename or "")
        if not hmac.compare_digest(expected, signature):
            raise SignatureRejected("The download link's signature does not match.")
        self._check_expiry(expires)

    def _check_expiry(self, expires: str) -> None:
        try:
            deadline = int(expires)
        except ValueError:
            raise SignatureRejected("The signed expiry is not a number.") from None
        if self._clock() > deadline:
            raise SignatureRejected("The signed link has expired; reload the page for a new one.")

    def derive(self, purpose: str) -> bytes:
        """A separate key for another use of the same secret (CSRF tokens), never the raw one."""
        return hmac.new(self._secret, f"derive:{purpose}".encode(), hashlib.sha256).digest()


def download_url(base_url: str, key: str, query: str) -> str:
    return f"{base_url.rstrip('/')}{DOWNLOAD_PATH}{quote(key)}?{query}"


def part_url(base_url: str, upload_id: str, part_number: int, query: str) -> str:
    return f"{base_url.rstrip('/')}{PART_PATH}{upload_id}/{part_number}?{query}"


def secret_from(settings: Settings) -> bytes:
    """The configured secret, or one generated on first use and kept in the data dir.

    Every process of the embedded stack (portal, pipeline tasks) reads the same file, so a URL one
    of them signs verifies in the portal. Created with O_EXCL so racing processes agree.
    """
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    path = Path(settings.data_dir) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text().strip()
        if len(secret) >= 32:
            return secret.encode()
        raise StereoSpotError(f"The secret key file {path} is damaged; delete it.") from None
    secret = secrets.token_hex(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret.encode()


class StagedFile(Protocol):
    """A file being written to a key: invisible to readers until ``commit``."""

    def write(self, data: bytes) -> None: ...

    def commit(self) -> None: ...

    def discard(self) -> None: ...


class StagedPart(StagedFile, Protocol):
    """A part being written: its ETag (quoted, as S3 answers a part's PUT) once committed."""

    etag: str

    def reserve(self, size: int) -> None:
        """Take ``size`` bytes of the upload's room before they arrive (a PUT's
        Content-Length); raises UploadFull when they would not fit."""


@runtime_checkable
class SignedLocalStorage(Protocol):
    """What the portal's local storage endpoints need beyond the port: the signer and the files.

    Only the local adapter has this; with S3 the browser talks to S3 and the endpoints are unused.
    """

    signer: UrlSigner | None

    def path_for(self, key: str) -> Path: ...

    def staged_writer(self, key: str) -> StagedFile: ...

    def staged_part(
        self, key: str, upload_id: str, part_number: int, most_bytes: int | None = None
    ) -> StagedPart:
        """Where a PUT of one part is written; raises UploadNotFound unless ``upload_id`` is an
        unfinished upload of ``key``, and UploadFull once the upload, with the parts streaming
        beside this one, would hold more than ``most_bytes``."""
