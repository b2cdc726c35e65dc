"""Uploading a job's video in parts (S3 multipart upload), as plain functions over the ports.

The browser (or a script) asks for an upload of a file of some size, gets a plan (parts of
``part_size`` bytes), asks for signed URLs for the parts it is about to send, PUTs each part
straight to the storage (retrying a part alone when it fails), and completes the upload with
each part's ETag; then it starts the job as after a form upload. The file never passes through
the portal on S3, any size up to the portal's limit goes (a form POST stops at 5 GB), and an
upload broken off resumes from the parts the storage holds (:func:`received_parts`).

The upload id the portal hands out is the storage's, its plan's part count and a MAC over both
and the job (:func:`_upload_id`): parts are signed only within the plan (numbers past it once
let a 20 MB upload take parts up to 9,999), on S3 too, where nothing else keeps the plan. A job
has one unfinished upload at a time: the storage drops the one begun before as another begins.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from portal.services import NotReady, get_job
from stereo_spot import keys
from stereo_spot.disk_space import in_words
from stereo_spot.domain import JobStatus
from stereo_spot.errors import StereoSpotError, UploadNotFound, UploadRejected
from stereo_spot.jobs import JobStore, status_said
from stereo_spot.settings import Settings
from stereo_spot.storage import ObjectStorage
from stereo_spot.storage.multipart import (
    MAX_PARTS,
    PartPlan,
    UploadedPart,
    plan_parts,
    upload_gone,
)
from stereo_spot.storage.signing import UrlSigner, secret_from

# Signed in batches: a 20 GiB file is 1,280 parts, and URLs signed far ahead of their PUT
# could expire before it.
MAX_PARTS_SIGNED_AT_ONCE = 100


class UploadTooLarge(StereoSpotError):
    """More bytes than the portal accepts for one video."""


@dataclass(frozen=True)
class StartedUpload:
    upload_id: str
    plan: PartPlan


def start_upload(
    jobs: JobStore, storage: ObjectStorage, settings: Settings, job_id: str, size: int
) -> StartedUpload:
    """Begin uploading the job's video, a file of ``size`` bytes, in parts."""
    _waiting_for_its_video(jobs, job_id)
    _refuse_over_limit(size, settings)
    try:
        plan = plan_parts(size, settings.upload_part_bytes)
    except ValueError as unfit:
        raise UploadTooLarge(str(unfit)) from None
    begun = storage.start_multipart_upload(keys.source_key(job_id))
    return StartedUpload(upload_id=_upload_id(settings, job_id, begun, plan.part_count), plan=plan)


def sign_parts(
    jobs: JobStore,
    storage: ObjectStorage,
    settings: Settings,
    job_id: str,
    upload_id: str,
    numbers: Sequence[int],
) -> list[tuple[int, str]]:
    """Signed PUT URLs for the parts ``numbers`` of the upload, valid for the upload links'
    lifetime (``settings.upload_url_seconds``); only parts of its plan are signed."""
    _waiting_for_its_video(jobs, job_id)
    if not 1 <= len(numbers) <= MAX_PARTS_SIGNED_AT_ONCE:
        raise UploadRejected(f"Ask for 1 to {MAX_PARTS_SIGNED_AT_ONCE} parts at a time.")
    begun, part_count = _opened(settings, job_id, upload_id)
    if any(not 1 <= number <= part_count for number in numbers):
        raise UploadRejected(f"This upload's parts are numbered 1 to {part_count}.")
    key = keys.source_key(job_id)
    storage.uploaded_parts(key, begun)  # an upload that is gone says so now, not per PUT
    return [
        (number, storage.presign_upload_part(key, begun, number, settings.upload_url_seconds))
        for number in numbers
    ]


def received_parts(
    jobs: JobStore, storage: ObjectStorage, settings: Settings, job_id: str, upload_id: str
) -> list[UploadedPart]:
    """The parts the storage holds, to resume an upload that was broken off."""
    get_job(jobs, job_id)
    begun, _ = _opened(settings, job_id, upload_id)
    return storage.uploaded_parts(keys.source_key(job_id), begun)


def finish_upload(
    jobs: JobStore,
    storage: ObjectStorage,
    settings: Settings,
    job_id: str,
    upload_id: str,
    parts: Sequence[UploadedPart],
) -> None:
    """Join the parts into the job's video; then it can be started.

    The sizes are the storage's, not the sender's: an upload that grew past the portal's limit
    (parts sent larger than planned) is dropped whole rather than completed.
    """
    _waiting_for_its_video(jobs, job_id)
    begun, _ = _opened(settings, job_id, upload_id)
    key = keys.source_key(job_id)
    held = {part.number: part.size for part in storage.uploaded_parts(key, begun)}
    total = sum(held.get(part.number, 0) for part in parts)
    if total > settings.max_upload_bytes:
        storage.abort_multipart_upload(key, begun)
        _refuse_over_limit(total, settings)
    storage.complete_multipart_upload(key, begun, parts)


def abort_upload(
    jobs: JobStore, storage: ObjectStorage, settings: Settings, job_id: str, upload_id: str
) -> None:
    """Drop an upload and the parts it received (one that is already gone is fine)."""
    get_job(jobs, job_id)
    try:
        begun, _ = _opened(settings, job_id, upload_id)
    except UploadNotFound:
        return  # no upload the portal began: nothing to drop
    storage.abort_multipart_upload(keys.source_key(job_id), begun)


def _upload_id(settings: Settings, job_id: str, begun: str, part_count: int) -> str:
    """The id the portal hands out for the storage's upload ``begun``: it carries the plan's
    part count, which a MAC binds to the upload and the job."""
    return f"{begun}.{part_count}.{_mac(settings, job_id, begun, part_count)}"


def _opened(settings: Settings, job_id: str, upload_id: str) -> tuple[str, int]:
    """The storage's upload id and the part count of an id :func:`_upload_id` made; an id it
    did not make, or made for another job, is no upload of this job's (UploadNotFound)."""
    begun, _, rest = upload_id.rpartition(".")
    begun, _, count = begun.rpartition(".")
    if begun and count.isdigit() and 0 < int(count) <= MAX_PARTS:
        expected = _mac(settings, job_id, begun, int(count))
        if hmac.compare_digest(expected, rest):
            return begun, int(count)
    raise upload_gone(upload_id)


def _mac(settings: Settings, job_id: str, begun: str, part_count: int) -> str:
    secret = UrlSigner(secret_from(settings)).derive("uploads in parts")
    message = f"{job_id}\n{begun}\n{part_count}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def _waiting_for_its_video(jobs: JobStore, job_id: str) -> None:
    """A job's video is written only while the job waits for it: completing an upload after the
    job started would replace the video under its running conversion."""
    job = get_job(jobs, job_id)
    if job.status is not JobStatus.CREATED:
        raise NotReady(f"This job is {status_said(job)}; it takes no more uploads.")


def _refuse_over_limit(size: int, settings: Settings) -> None:
    if size > settings.max_upload_bytes:
        raise UploadTooLarge(_too_large(size, settings.max_upload_bytes))


def _too_large(size: int, limit: int) -> str:
    """Why a file of ``size`` bytes is refused, its size and the limit told so that they
    differ: in bytes when rounded they read the same (a file 1 byte over 20 GiB)."""
    said, most = in_words(size), in_words(limit)
    if said == most:
        said, most = f"{size:,} bytes", f"{limit:,} bytes ({most})"
    return f"The file is {said}; this portal accepts videos of up to {most}."
