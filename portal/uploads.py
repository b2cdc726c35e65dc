"""Uploading a job's video in parts (S3 multipart upload), as plain functions over the ports.

The browser (or a script) asks for an upload of a file of some size, gets a plan (parts of
``part_size`` bytes), asks for signed URLs for the parts it is about to send, PUTs each part
straight to the storage (retrying a part alone when it fails), and completes the upload with
each part's ETag; then it starts the job as after a form upload. The file never passes through
the portal on S3, any size up to the portal's limit goes (a form POST stops at 5 GB), and an
upload broken off resumes from the parts the storage holds (:func:`received_parts`).

The upload id the portal hands out is the storage's, its plan (the file's size and the part
size) and a MAC over them and the job (:func:`_upload_id`): parts are signed only within the
plan (numbers past it once let a 20 MB upload take parts up to 9,999), and completing checks the
parts the storage holds against it (a part left out once completed into a file with a hole,
which the job then blamed on the video), on S3 too, where nothing else keeps the plan. A job
has one unfinished upload at a time: the storage drops the one begun before as another begins.
"""

from __future__ import annotations

import hashlib
import hmac
import math
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

UPLOAD_COMPLETE = "This upload is complete: the video is stored; start the job."

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
    return StartedUpload(upload_id=_upload_id(settings, job_id, begun, plan), plan=plan)


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
    begun, plan = _opened(settings, job_id, upload_id)
    if any(not 1 <= number <= plan.part_count for number in numbers):
        raise UploadRejected(f"This upload's parts are numbered 1 to {plan.part_count}.")
    key = keys.source_key(job_id)
    _held_parts(storage, key, upload_id, begun, plan)  # one that is gone says so now, not per PUT
    return [
        (number, storage.presign_upload_part(key, begun, number, settings.upload_url_seconds))
        for number in numbers
    ]


def received_parts(
    jobs: JobStore, storage: ObjectStorage, settings: Settings, job_id: str, upload_id: str
) -> list[UploadedPart]:
    """The parts the storage holds, to resume an upload that was broken off."""
    waiting = get_job(jobs, job_id).status is JobStatus.CREATED
    begun, plan = _opened(settings, job_id, upload_id)
    return _held_parts(storage, keys.source_key(job_id), upload_id, begun, plan, waiting)


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
    (parts sent larger than planned) is dropped whole rather than completed; one whose parts
    are not the plan's (one missing, one of another size) is refused and stays open, for the
    sender to send what is missing and complete it again.
    """
    _waiting_for_its_video(jobs, job_id)
    begun, plan = _opened(settings, job_id, upload_id)
    key = keys.source_key(job_id)
    held = {part.number: part for part in _held_parts(storage, key, upload_id, begun, plan)}
    total = sum(held[part.number].size for part in parts if part.number in held)
    if total > settings.max_upload_bytes:
        storage.abort_multipart_upload(key, begun)
        _refuse_over_limit(total, settings)
    _refuse_unless_as_planned(plan, parts, held)
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


def _upload_id(settings: Settings, job_id: str, begun: str, plan: PartPlan) -> str:
    """The id the portal hands out for the storage's upload ``begun``: it carries the plan (the
    file's size and the part size), which a MAC binds to the upload and the job. The plan rides
    in the id rather than in a store: S3 keeps none of it, and a portal's replicas share only
    the secret."""
    sizes = f"{plan.size}.{plan.part_size}"
    return f"{begun}.{sizes}.{_mac(settings, job_id, begun, sizes)}"


def _opened(settings: Settings, job_id: str, upload_id: str) -> tuple[str, PartPlan]:
    """The storage's upload id and the plan of an id :func:`_upload_id` made; an id it did not
    make, or made for another job, is no upload of this job's (UploadNotFound)."""
    rest, _, mac = upload_id.rpartition(".")
    rest, _, part_size = rest.rpartition(".")
    begun, _, size = rest.rpartition(".")
    if begun and _is_count(size) and _is_count(part_size):
        sizes = f"{size}.{part_size}"
        if hmac.compare_digest(_mac(settings, job_id, begun, sizes), mac):
            count = math.ceil(int(size) / int(part_size))
            if count <= MAX_PARTS:
                return begun, PartPlan(size=int(size), part_size=int(part_size), part_count=count)
    raise upload_gone(upload_id)


def _is_count(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 20 and int(text) > 0


def _mac(settings: Settings, job_id: str, begun: str, sizes: str) -> str:
    secret = UrlSigner(secret_from(settings)).derive("uploads in parts")
    message = f"{job_id}\n{begun}\n{sizes}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def _held_parts(
    storage: ObjectStorage,
    key: str,
    upload_id: str,
    begun: str,
    plan: PartPlan,
    waiting: bool = True,
) -> list[UploadedPart]:
    """The parts the storage holds of the upload. One the storage no longer has, whose video is
    stored (its size the plan's) while the job waits, was completed: asked again (a script
    whose answer to ``complete`` was lost), that is what it is told, rather than to upload
    the video again."""
    try:
        return storage.uploaded_parts(key, begun)
    except UploadNotFound:
        if waiting and storage.exists(key) and storage.size(key) == plan.size:
            raise NotReady(UPLOAD_COMPLETE) from None
        raise upload_gone(upload_id) from None  # the id its sender knows, not the storage's


def _refuse_unless_as_planned(
    plan: PartPlan, parts: Sequence[UploadedPart], held: dict[int, UploadedPart]
) -> None:
    """Completing joins what is listed, as S3 does: a part left out, or one of another size
    than planned, would make a file with a hole or a seam, which the job then fails on,
    blaming the video. What is missing is named, and the upload stays open."""
    count = plan.part_count
    listed = {part.number for part in parts}
    if any(number > count for number in listed):
        raise UploadRejected(f"This upload's parts are numbered 1 to {count}.")
    every = range(1, count + 1)
    if missing := [n for n in every if n not in held]:
        raise UploadRejected(
            f"{_numbered(missing).capitalize()} of this upload's {count} "
            f"{'has' if len(missing) == 1 else 'have'} not arrived; send "
            f"{'it' if len(missing) == 1 else 'them'}, then complete the upload again."
        )
    if left_out := [n for n in every if n not in listed]:
        raise UploadRejected(
            f"The parts listed leave out {_numbered(left_out)}; list every part, 1 to {count}, "
            "with the ETag its PUT answered."
        )
    if wrong := [n for n in every if held[n].size != plan.part_bytes(n)]:
        first, them = wrong[0], "it" if len(wrong) == 1 else "them"
        said = f"part {first:,} holds {held[first].size:,} bytes where the plan has "
        said += f"{plan.part_bytes(first):,}"
        if len(wrong) > 1:
            said = f"{_numbered(wrong)} are not the plan's size ({said})"
        total = sum(part.size for part in held.values())
        if total != plan.size:
            begun_for = f"not the {plan.size:,} the upload was begun for"
            said = f"The parts hold {total:,} bytes, {begun_for}: {said}"
        raise UploadRejected(
            f"{said[0].upper()}{said[1:]}; send {them} again, then complete the upload again."
        )


def _numbered(numbers: list[int], most: int = 10) -> str:
    """Part numbers in words, runs as ranges: "part 2", "parts 1, 3 to 7 and 9"; past ``most``
    runs, how many more."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and runs[-1][1] == number - 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    said = [f"{a:,}" if a == b else f"{a:,} to {b:,}" for a, b in runs[:most]]
    if len(runs) > most:
        said.append(f"{sum(b - a + 1 for a, b in runs[most:]):,} more")
    if len(numbers) == 1:
        return f"part {said[0]}"
    return f"parts {', '.join(said[:-1])} and {said[-1]}" if len(said) > 1 else f"parts {said[0]}"


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
