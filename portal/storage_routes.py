"""The local storage endpoints behind signed URLs (what S3 does for the cluster).

``POST /storage/upload`` takes the S3 presigned-POST shape: signed form fields, then ``file``.
The body is parsed as it streams: the signature is checked when the file part begins (before a
byte is written), the size limit while the bytes arrive, and the object appears only when the
whole file is in. Tampered/expired → 403, too big → 413; either way nothing is written.

``PUT /storage/parts/{upload_id}/{n}`` takes one part of an upload in parts (S3's UploadPart, see
stereo_spot.storage.multipart): signed for its key, upload and number, streamed into a staged
part, answered with the part's ETag.

``GET /storage/{key}`` serves a signed download with Range support (the video element seeks).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.responses import FileResponse
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect
from starlette.responses import MalformedRangeHeader

from stereo_spot import keys
from stereo_spot.domain import JobStatus
from stereo_spot.errors import InvalidKey, JobNotFound, ObjectNotFound
from stereo_spot.jobs import status_said
from stereo_spot.storage.disposition import content_disposition
from stereo_spot.storage.multipart import MAX_PART_BYTES, MAX_PARTS, UploadFull
from stereo_spot.storage.signing import (
    SignatureRejected,
    SignedLocalStorage,
    StagedFile,
    UploadGrant,
    UrlSigner,
)

router = APIRouter(prefix="/storage", tags=["local storage"])

_MAX_FIELD_BYTES = 4096
_MAX_FIELDS = 32
# Multipart framing and the signed fields ride on top of the file's own bytes.
_FORM_OVERHEAD_BYTES = 64 * 1024


def _local_storage(request: Request) -> tuple[SignedLocalStorage, UrlSigner]:
    storage = request.app.state.storage
    if not isinstance(storage, SignedLocalStorage) or storage.signer is None:
        raise HTTPException(404, "This portal's storage does not serve files itself.")
    return storage, storage.signer


@router.post(
    "/upload",
    status_code=204,
    response_class=Response,
    summary="Upload a file through a signed form (local stand-in for an S3 presigned POST)",
    responses={403: {"description": "Tampered or expired"}, 413: {"description": "Too large"}},
)
async def upload(request: Request) -> Response:
    storage, signer = _local_storage(request)
    max_total = request.app.state.settings.max_upload_bytes + _FORM_OVERHEAD_BYTES
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_total:
        raise HTTPException(413, "The file is larger than this portal accepts.")
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise HTTPException(400, "Send the upload as a multipart form.")

    # Checked as the file begins, before a byte is staged, and again before it is kept: the
    # job may be started or deleted while the file arrives.
    form = _StreamingForm(signer, storage, lambda key: _refuse_unless_the_job_waits(request, key))
    parser = MultipartParser(boundary, form.callbacks())
    try:
        async for chunk in request.stream():
            _parsed(parser.write, chunk)
            form.drain()
        _parsed(parser.finalize)
        form.drain()
        _refuse_unless_the_job_waits(request, form.key)
        form.commit()
    except ClientDisconnect:
        form.discard()
        return Response(status_code=400)
    except BaseException:
        form.discard()
        raise
    return Response(status_code=204)


@router.put(
    "/parts/{upload_id}/{part_number}",
    status_code=200,
    response_class=Response,
    summary="Upload one part through a signed URL (local stand-in for an S3 UploadPart)",
    responses={
        403: {"description": "Tampered or expired"},
        404: {"description": "No such unfinished upload"},
        413: {"description": "Too large"},
    },
)
async def upload_part(
    request: Request,
    upload_id: str,
    part_number: Annotated[int, Path(ge=1, le=MAX_PARTS)],
    key: Annotated[str, Query(max_length=1024)],
    expires: Annotated[str, Query(max_length=32)],
    signature: Annotated[str, Query(max_length=128)],
) -> Response:
    storage, signer = _local_storage(request)
    try:
        signer.verify_part(key, upload_id, part_number, expires, signature)
    except SignatureRejected as rejected:
        raise HTTPException(403, str(rejected)) from None
    _refuse_unless_the_job_waits(request, key)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_PART_BYTES:
        raise HTTPException(413, "The part is larger than this portal accepts.")
    # Counted against the whole upload as the bytes arrive, beside its other parts streaming
    # now: parts sent past the limit, or side by side, would otherwise fill the disk before
    # completing the upload refuses them.
    most = request.app.state.settings.max_upload_bytes
    part = storage.staged_part(key, upload_id, part_number, most_bytes=most)
    try:
        if declared is not None and declared.isdigit():
            part.reserve(int(declared))  # refused before a byte of it is written
        async for chunk in request.stream():
            if part.size + len(chunk) > MAX_PART_BYTES:
                raise HTTPException(413, "The part is larger than this portal accepts.")
            part.write(chunk)
        part.commit()
    except UploadFull:
        part.discard()
        raise HTTPException(
            413, "The part would take the upload past what this portal accepts."
        ) from None
    except ClientDisconnect:
        part.discard()
        return Response(status_code=400)
    except BaseException:
        part.discard()
        raise
    return Response(status_code=200, headers={"ETag": part.etag})


def _parsed(step: Callable[..., object], *chunk: bytes) -> None:
    """A body that is no well-formed multipart form (a part header past python-multipart's
    limit, a broken boundary) is the sender's fault: 400, not a 500 whose traceback anyone could
    fill the portal's log with, since this endpoint is open to whoever holds a signed form."""
    try:
        step(*chunk)
    except MultipartParseError:
        raise HTTPException(400, "The upload is not a well-formed multipart form.") from None


def _refuse_unless_the_job_waits(request: Request, key: str | None) -> None:
    """A job's source is written only while the job waits for it: a signed form used again
    after the job started (a double submit, a retried upload) would replace the video under
    its running conversion, and one used after the job was deleted would leave a file no job
    owns, which no delete reaches. What S3 would take until the form expires, this refuses."""
    job_id = keys.job_of_source_key(key) if key else None
    if job_id is None:
        return
    try:
        job = request.app.state.jobs.get(job_id)
    except JobNotFound:
        raise HTTPException(
            404, "There is no such job (it may have been deleted); the upload was not kept."
        ) from None
    if job.status is not JobStatus.CREATED:
        raise HTTPException(409, f"This job is {status_said(job)}; it takes no more uploads.")


@router.get(
    "/{key:path}",
    summary="Download a file through a signed URL (supports Range requests)",
    response_class=FileResponse,
    responses={403: {"description": "Tampered or expired"}, 404: {"description": "No such file"}},
)
async def download(
    request: Request,
    key: str,
    expires: Annotated[str | None, Query()] = None,
    signature: Annotated[str | None, Query()] = None,
    filename: Annotated[str | None, Query()] = None,
) -> FileResponse:
    storage, signer = _local_storage(request)
    try:
        signer.verify_download(key, expires, signature, filename)
        path = storage.path_for(key)
    except SignatureRejected as rejected:
        raise HTTPException(403, str(rejected)) from None
    except (InvalidKey, ObjectNotFound):
        raise HTTPException(404, "There is no such file.") from None
    try:
        stat_result = path.stat()
    except FileNotFoundError:
        raise HTTPException(404, "There is no such file.") from None
    if not path.is_file():
        raise HTTPException(404, "There is no such file.")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers = {"Cache-Control": "private, max-age=300"}
    if filename:
        # As S3's presigned download names it: the exact name, and an ASCII one beside it.
        headers["Content-Disposition"] = content_disposition(filename)
    answer = _RangeIgnoringFileResponse(
        path,
        media_type=media_type,
        content_disposition_type="attachment" if filename else "inline",
        headers=headers,
        stat_result=stat_result,
    )
    if _matches(request.headers.get("if-none-match"), answer.headers["etag"]):
        # The copy the client holds is this one (RFC 9110 §13.1.2), as S3 answers.
        kept = ("etag", "last-modified", "cache-control")
        return Response(status_code=304, headers={name: answer.headers[name] for name in kept})
    return answer


class _RangeIgnoringFileResponse(FileResponse):
    """A range header that is no byte range this file has (another unit, ``bytes=5-2``,
    ``bytes=abc``) is ignored: the whole file, 200, as RFC 9110 §14.2 asks and S3 does, where
    Starlette answers 400. A valid range past the end is still 416."""

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        try:
            return super()._parse_range_header(http_range, file_size)
        except MalformedRangeHeader:
            return []  # no range: the whole file


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag``, compared weakly (a ``W/`` tag matches
    the same tag), or is ``*``."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


class _StreamingForm:
    """Collects small signed fields, then streams the ``file`` part into a staged object."""

    def __init__(
        self,
        signer: UrlSigner,
        storage: SignedLocalStorage,
        check_key: Callable[[str], None] = lambda key: None,
    ) -> None:
        self._signer = signer
        self._storage = storage
        self._check_key = check_key
        self._events: list[tuple[str, bytes]] = []
        self._header_field = b""
        self._header_value = b""
        self._part_headers: dict[bytes, bytes] = {}
        self.fields: dict[str, str] = {}
        self._field_name: str | None = None
        self._field_value = bytearray()
        self._grant: UploadGrant | None = None
        self._staged: StagedFile | None = None
        self._in_file = False
        self._written = 0
        self.done = False

    def callbacks(self) -> dict:
        def on_part_begin() -> None:
            self._part_headers = {}

        def on_header_field(data: bytes, start: int, end: int) -> None:
            self._header_field += data[start:end]

        def on_header_value(data: bytes, start: int, end: int) -> None:
            self._header_value += data[start:end]

        def on_header_end() -> None:
            self._part_headers[self._header_field.lower()] = self._header_value
            self._header_field = self._header_value = b""

        def on_headers_finished() -> None:
            self._events.append(("begin", self._part_headers.get(b"content-disposition", b"")))

        def on_part_data(data: bytes, start: int, end: int) -> None:
            self._events.append(("data", bytes(data[start:end])))

        def on_part_end() -> None:
            self._events.append(("end", b""))

        return {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        }

    def drain(self) -> None:
        events, self._events = self._events, []
        for kind, data in events:
            if self.done:
                return  # like S3, whatever follows the file is ignored
            if kind == "begin":
                self._begin_part(data)
            elif kind == "data":
                self._part_data(data)
            else:
                self._end_part()

    def _begin_part(self, disposition: bytes) -> None:
        _, options = parse_options_header(disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options and name != "file":
            # S3's presigned POST takes the file only as the field ``file``: a script that sent
            # it under another name here would fail on the cluster.
            sent_as = f"`{name[:60]}`" if name else "a field without a name"
            raise HTTPException(
                400,
                f"Send the file as the form field `file`, after the signed fields, not as {sent_as}.",
            )
        if name == "file":
            try:
                self._grant = self._signer.verify_upload(self.fields)
            except (SignatureRejected, InvalidKey) as rejected:
                raise HTTPException(403, str(rejected)) from None
            self._check_key(self._grant.key)
            self._staged = self._storage.staged_writer(self._grant.key)
            self._in_file = True
            return
        if len(self.fields) >= _MAX_FIELDS:
            raise HTTPException(400, "The upload form has too many fields.")
        self._field_name = name
        self._field_value = bytearray()

    def _part_data(self, data: bytes) -> None:
        if self._in_file:
            assert self._staged is not None and self._grant is not None
            self._written += len(data)
            if self._written > self._grant.max_bytes:
                raise HTTPException(413, "The file is larger than this upload allows.")
            self._staged.write(data)
            return
        self._field_value += data
        if len(self._field_value) > _MAX_FIELD_BYTES:
            raise HTTPException(400, "A field of the upload form is too long.")

    def _end_part(self) -> None:
        if self._in_file:
            self._in_file = False
            self.done = True
        elif self._field_name is not None:
            self.fields[self._field_name] = self._field_value.decode("utf-8", "replace")
            self._field_name = None

    @property
    def key(self) -> str | None:
        """The object key the signed form grants, once its fields are verified."""
        return self._grant.key if self._grant is not None else None

    def commit(self) -> None:
        if not self.done or self._staged is None:
            self.discard()
            raise HTTPException(400, "The upload form carried no file.")
        self._staged.commit()
        self._staged = None

    def discard(self) -> None:
        if self._staged is not None:
            self._staged.discard()
            self._staged = None
