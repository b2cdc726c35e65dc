"""The JSON API's uploads in parts (portal/uploads.py): any size the portal accepts, each part
retried alone, an upload broken off resumed. The upload page's script uses these; scripts may
too, or the single form POST ``POST /api/jobs`` returns (S3 takes at most 5 GB that way)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from portal import uploads
from portal.deps import JobsDep, SettingsDep, StorageDep
from portal.routes_api import ErrorOut, absolute_url
from stereo_spot.storage.multipart import MAX_PARTS, UploadedPart

router = APIRouter(prefix="/api", tags=["uploads"])

UploadId = Annotated[str, Field(min_length=1, max_length=1024)]
_ERRORS = {
    400: {
        "model": ErrorOut,
        "description": "A part missing, out of order, too small, or not the plan's size",
    },
    404: {"model": ErrorOut, "description": "No such job, or no such unfinished upload"},
    409: {
        "model": ErrorOut,
        "description": "The job is no longer waiting for its video, or the upload is complete",
    },
}
_TOO_LARGE = {413: {"model": ErrorOut, "description": "Larger than the portal accepts"}}


class StartUploadRequest(BaseModel):
    size: int = Field(ge=1, description="the file's size in bytes")


class UploadOut(BaseModel):
    """Send the file as ``part_count`` parts: part n holds bytes (n-1)*part_size up to
    n*part_size (the last, the rest). Sign URLs for them with ``sign``, PUT each part's bytes to
    its URL, keep each answer's ``ETag`` header, then ``complete`` with every number and ETag."""

    upload_id: str
    size: int
    part_size: int
    part_count: int
    max_bytes: int = Field(description="the largest file this portal accepts")
    links: dict[str, str]


class SignPartsRequest(BaseModel):
    upload_id: UploadId
    numbers: list[Annotated[int, Field(ge=1, le=MAX_PARTS)]] = Field(
        min_length=1, max_length=uploads.MAX_PARTS_SIGNED_AT_ONCE
    )


class PartUrlOut(BaseModel):
    number: int
    url: str = Field(description="PUT the part's bytes here; the answer's ETag header names it")


class SignedPartsOut(BaseModel):
    parts: list[PartUrlOut]
    expires_in: int = Field(description="seconds the URLs stay valid; sign again after")


class PartOut(BaseModel):
    number: int
    etag: str
    size: int = Field(description="bytes", ge=0)


class ReceivedPartsOut(BaseModel):
    parts: list[PartOut] = Field(description="the parts the storage holds, by number")


class PartIn(BaseModel):
    number: int = Field(ge=1, le=MAX_PARTS)
    etag: str = Field(min_length=1, max_length=256, description="the ETag its PUT answered")


class CompleteUploadRequest(BaseModel):
    upload_id: UploadId
    parts: list[PartIn] = Field(min_length=1, max_length=MAX_PARTS)


class AbortUploadRequest(BaseModel):
    upload_id: UploadId


def _links(job_id: str) -> dict[str, str]:
    base = f"/api/jobs/{job_id}/uploads"
    return {
        "sign": f"{base}/sign",
        "received": f"{base}/received",
        "complete": f"{base}/complete",
        "abort": f"{base}/abort",
        "start_job": f"/api/jobs/{job_id}/start",
    }


@router.post(
    "/jobs/{job_id}/uploads",
    status_code=201,
    summary="Begin uploading the job's video in parts",
    responses={**_ERRORS, **_TOO_LARGE},
)
def start_upload(
    job_id: str,
    body: StartUploadRequest,
    jobs: JobsDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> UploadOut:
    started = uploads.start_upload(jobs, storage, settings, job_id, body.size)
    return UploadOut(
        upload_id=started.upload_id,
        size=started.plan.size,
        part_size=started.plan.part_size,
        part_count=started.plan.part_count,
        max_bytes=settings.max_upload_bytes,
        links=_links(job_id),
    )


@router.post(
    "/jobs/{job_id}/uploads/sign",
    summary="Signed URLs to PUT parts of an upload to (up to 100 at a time)",
    responses=_ERRORS,
)
def sign_parts(
    request: Request,
    job_id: str,
    body: SignPartsRequest,
    jobs: JobsDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> SignedPartsOut:
    signed = uploads.sign_parts(jobs, storage, settings, job_id, body.upload_id, body.numbers)
    return SignedPartsOut(
        parts=[PartUrlOut(number=n, url=absolute_url(request, url)) for n, url in signed],
        expires_in=settings.upload_url_seconds,
    )


@router.get(
    "/jobs/{job_id}/uploads/received",
    summary="The parts of an upload the storage holds (to resume one broken off)",
    responses=_ERRORS,
)
def received_parts(
    job_id: str,
    upload_id: Annotated[str, Query(min_length=1, max_length=1024)],
    jobs: JobsDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> ReceivedPartsOut:
    parts = uploads.received_parts(jobs, storage, settings, job_id, upload_id)
    return ReceivedPartsOut(
        parts=[PartOut(number=p.number, etag=p.etag, size=p.size) for p in parts]
    )


@router.post(
    "/jobs/{job_id}/uploads/complete",
    status_code=204,
    response_class=Response,
    summary="Join the parts into the job's video (then start the job)",
    responses={**_ERRORS, **_TOO_LARGE},
)
def complete_upload(
    job_id: str,
    body: CompleteUploadRequest,
    jobs: JobsDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> Response:
    parts = [UploadedPart(number=part.number, etag=part.etag) for part in body.parts]
    uploads.finish_upload(jobs, storage, settings, job_id, body.upload_id, parts)
    return Response(status_code=204)


@router.post(
    "/jobs/{job_id}/uploads/abort",
    status_code=204,
    response_class=Response,
    summary="Drop an unfinished upload and the parts it received",
    responses={404: {"model": ErrorOut, "description": "No such job"}},
)
def abort_upload(
    job_id: str,
    body: AbortUploadRequest,
    jobs: JobsDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> Response:
    uploads.abort_upload(jobs, storage, settings, job_id, body.upload_id)
    return Response(status_code=204)
