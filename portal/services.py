"""What the portal does, as plain functions over the ports (routes only translate HTTP).

create_job → (the browser uploads to the signed target) → ``portal.conversions.start_job`` →
the launcher runs the pipeline, which moves the job through chunking/processing/reassembling to
completed or failed. Here: a job's life around its conversions (create, list, play, cancel,
delete, the names of its files); starting, previewing and converting again are in
``portal.conversions``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath

from portal.launcher import RunLauncher
from stereo_spot import keys
from stereo_spot.domain import (
    DEFAULT_CRF,
    Job,
    JobStatus,
    Layout,
    Part,
    SourceInfo,
    StereoParams,
)
from stereo_spot.errors import (
    InputRejected,
    InvalidKey,
    JobBusy,
    JobNotFound,
    StereoSpotError,
)
from stereo_spot.jobs import (
    STOPPING_SECONDS,
    JobPage,
    JobStore,
    cancel,
    delete,
    drop_files_of_failed,
)
from stereo_spot.settings import Settings
from stereo_spot.storage import ObjectStorage, UploadTarget

log = logging.getLogger(__name__)


class NotUploaded(StereoSpotError):
    """start was called before the source arrived."""


class NotReady(StereoSpotError):
    """The job has no result (yet) to play."""


class NoLauncher(StereoSpotError):
    """This portal was built without a way to run pipelines."""


class BadPageLink(StereoSpotError):
    """A page of a list of jobs asked for with a cursor the job store did not make."""


class FieldRejected(InputRejected):
    """A value of a request refused for what it asks of this portal or of the video (an engine
    its model server does not run, a part past the video's end), naming the request's field
    (``field``), which the API's 422 names as it names a value of the wrong type."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class PlaybackTrack:
    """A text track for the player: a signed URL of its WebVTT and what the menu says."""

    url: str
    label: str
    language: str | None
    kind: str  # "captions" or "subtitles", as <track kind> names them


@dataclass(frozen=True)
class Playback:
    video_url: str
    download_url: str
    download_name: str
    expires_in: int
    subtitles: tuple[PlaybackTrack, ...] = ()


def served_engine(settings: Settings, asked: str | None = None) -> str:
    """The engine a new conversion uses: the one this portal's model server runs
    (``STEREO_SPOT_ENGINE``, which ``stereo-spot up`` gives its model server and a cluster's
    InferenceService is built from), when none is ``asked`` for. Another is refused before
    anything is uploaded: its every segment would fail on that server."""
    if asked is None or asked == settings.engine:
        return settings.engine
    raise FieldRejected(
        "engine",
        f"This portal's model server runs the '{settings.engine}' engine, not '{asked}'; "
        f"convert with '{settings.engine}' or leave the engine out.",
    )


def create_job(
    jobs: JobStore,
    settings: Settings,
    layout: Layout,
    params: StereoParams,
    engine: str | None = None,
    source_name: str = "",
) -> Job:
    """A new job waiting for its video; ``engine`` must be the served one (None: that one)."""
    job = Job(
        layout=layout,
        params=params,
        engine=served_engine(settings, engine),
        source_name=clean_name(source_name),
    )
    return jobs.create(job)


def settings_kept(job: Job, asked: dict[str, object]) -> tuple[Layout, StereoParams]:
    """The layout and stereo settings of a conversion of ``job``'s video asked with only the
    settings in ``asked`` (a field of the API's settings: layout, divergence, crf...): each one
    not asked is the job's own, as the page's "Convert again" form is filled with them. A quality
    (crf) not asked that is the job's codec's default follows a codec asked for to its default
    (HEVC's 20, not H.264's 18); another the job was given stays."""
    asked = dict(asked)
    layout = Layout(asked.pop("layout", job.layout))
    own = job.params.model_dump()
    if "codec" in asked and "crf" not in asked and own["crf"] == DEFAULT_CRF[job.params.codec]:
        del own["crf"]
    return layout, StereoParams(**{**own, **asked})


def upload_target(storage: ObjectStorage, settings: Settings, job: Job) -> UploadTarget:
    """A fresh signed upload for the job's source (each page load signs anew)."""
    return storage.presign_upload(
        keys.source_key(job.job_id),
        max_bytes=settings.max_upload_bytes,
        expires_in=settings.upload_url_seconds,
        content_type="video/mp4",
    )


def part_in_video(part: Part | None, info: SourceInfo | None) -> Part | None:
    """``part`` as it is converted of the video ``info`` describes, when that was read."""
    if part is None or info is None:
        return part
    return part.in_video_of(info.duration)


def part_converted(job: Job) -> Part | None:
    """The part of its video the job converts, its end the video's where the asked end is past
    it (a job queued on S3, whose video its run reads, records the part as asked)."""
    return part_in_video(job.part, job.source)


def as_converted(job: Job) -> Job:
    """The job as pages, the API and file names show it: its part, and the part a preview its
    run cut was taken from, as they are converted (:func:`part_converted`). (A preview cut by
    the portal records the part it was taken from so already; its ``source`` is the excerpt.)"""
    within = job.preview_within if job.cut_preview else None
    if job.source is None or (job.part is None and within is None):
        return job
    changes: dict[str, Part | None] = {"part": part_converted(job)}
    if within is not None:
        changes["preview_within"] = part_in_video(within, job.source)
    return job.model_copy(update=changes)


def get_job(jobs: JobStore, job_id: str) -> Job:
    """The job, or JobNotFound/InvalidKey (an id that could never exist is just as unknown)."""
    return jobs.get(keys.validate_job_id(job_id))


class Listing(StrEnum):
    """The portal's lists of jobs: the finished results, or every job that has not finished
    (waiting, converting, held for its preview, failed, cancelled), to find it again."""

    COMPLETED = "completed"
    UNFINISHED = "unfinished"


UNFINISHED = tuple(status for status in JobStatus if status is not JobStatus.COMPLETED)


def list_jobs(
    jobs: JobStore,
    show: Listing = Listing.COMPLETED,
    limit: int = 20,
    cursor: str | None = None,
) -> JobPage:
    """A page of the list: completed jobs newest finished first, the others newest made first."""
    limit = max(1, min(limit, 100))
    try:
        if show is Listing.UNFINISHED:
            return jobs.list_by_status(UNFINISHED, limit=limit, cursor=cursor or None)
        return jobs.list_completed(limit=limit, cursor=cursor or None)
    except InvalidKey:
        # Not "no such job", as a bad job id is: the link to the page was mistyped.
        raise BadPageLink(
            "That page link is not valid; go back to the first page of the list."
        ) from None


def playback(storage: ObjectStorage, settings: Settings, job: Job) -> Playback:
    if job.cancelled:
        raise NotReady("This job was cancelled before it finished, so it has no result to play.")
    if job.status is JobStatus.FAILED:
        raise NotReady("This job failed, so it has no result to play; its page says why.")
    if job.status is not JobStatus.COMPLETED:
        raise NotReady(
            f"This job is {job.status.value}; there is nothing to play until it has completed."
        )
    key = keys.final_key(job.job_id)
    name = download_name(job)
    return Playback(
        video_url=storage.presign_download(key, expires_in=settings.download_url_seconds),
        download_url=storage.presign_download(
            key, expires_in=settings.download_url_seconds, filename=name
        ),
        download_name=name,
        expires_in=settings.download_url_seconds,
        subtitles=tuple(
            PlaybackTrack(
                url=storage.presign_download(
                    keys.subtitles_key(job.job_id, number),
                    expires_in=settings.download_url_seconds,
                ),
                label=track.label,
                language=track.language,
                kind="captions" if track.captions else "subtitles",
            )
            for number, track in enumerate(job.subtitles)
        ),
    )


def download_name(job: Job) -> str:
    """``holiday_redcyan.mp4``, ``holiday_1m30s-2m00s_LR.mp4``: the layout tag tells players
    how to show it, and the part's which part it is (as ``convert`` names its results). The stem
    is cut where the whole would pass NAME_MAX_BYTES, so that the file can be saved."""
    stem = PurePath(job.source_name).stem if job.source_name else f"stereo-{job.job_id[:8]}"
    converted = part_converted(job)
    part = converted.filename_tag if converted else ""
    tail = f"{part}{job.filename_tag}.mp4"
    return _cut_to_bytes(stem, NAME_MAX_BYTES - len(tail.encode())) + tail


def cancel_job(
    jobs: JobStore, storage: ObjectStorage, launcher: RunLauncher | None, job_id: str
) -> Job:
    """Stop a job that has not finished: it ends failed with the reason ``CANCELLED``, its run
    is stopped, its segments are deleted once it has (nothing resumes a cancelled job), and the
    rest of its files can then be deleted (:func:`stereo_spot.jobs.cancel` first, so a run that
    has not started never starts)."""
    get_job(jobs, job_id)  # an id that could never exist is unknown, as everywhere here
    job = cancel(jobs, job_id)
    if launcher is not None:
        launcher.cancel(job_id)
        if not launcher.wait_stopped(job_id, STOPPING_SECONDS):
            return job  # still writing them: they go with the job's delete
    _drop_files_of_cancelled(storage, job)
    return job


def _drop_files_of_cancelled(storage: ObjectStorage, job: Job) -> None:
    try:
        drop_files_of_failed(storage, job)
    except Exception:  # the job is cancelled all the same; its delete takes them later
        log.warning("job %s: its segments were not deleted", job.job_id, exc_info=True)


def whole_video_kept(jobs: JobStore, job: Job) -> bool:
    """Whether the whole video a preview was cut from can still be converted (its job was not
    deleted); True for any other job (a part job keeps a copy of the whole video)."""
    return not job.preview_of or job_kept(jobs, job.preview_of)


def job_kept(jobs: JobStore, job_id: str) -> bool:
    """Whether the job ``job_id`` still exists (a job another was made from may be deleted)."""
    try:
        jobs.get(job_id)
    except JobNotFound:
        return False
    return True


def delete_job(
    jobs: JobStore, storage: ObjectStorage, launcher: RunLauncher | None, job_id: str
) -> int:
    """Forget the job and delete every object it has (``stereo_spot.jobs.delete``), then what
    its runs left where they ran (``RunLauncher.forget``).

    A job that has ended while its run here is still stopping (cancelled from another process a
    moment ago) is deleted once the run has stopped, waiting a few seconds for it; a run still
    going after that is refused (JobBusy): it would write segments no job owns. One whose run
    stopped part-way (its command killed) is deleted as it is, as ``jobs delete`` does: nothing
    converts it, and cancelling it first would only throw its segments away."""
    job = get_job(jobs, job_id)
    if (
        launcher is not None
        and job.status.is_final
        and not launcher.wait_stopped(job_id, STOPPING_SECONDS)
    ):
        raise JobBusy(
            "This job's conversion is still stopping; try again in a few seconds to delete it."
        )
    run_ended = launcher is not None and launcher.stopped_part_way(job)
    if job.status is JobStatus.QUEUED and not run_ended:
        # Not "still running", which it is not yet: it is waiting for its turn.
        raise JobBusy(
            "This job is waiting for its turn to be converted; cancel it first (it then never "
            "starts), then delete it."
        )
    deleted = delete(jobs, storage, job_id, run_ended=run_ended)
    if launcher is not None:
        launcher.forget(job_id)
    return deleted


# The longest file name ext4, XFS and APFS take, in bytes of UTF-8 (NTFS's 255 UTF-16 units
# are never fewer characters).
NAME_MAX_BYTES = 255
# An uploaded video's name is kept to this, which leaves a download's tags room: a part's
# (_1h00m00s-1h30m00s) and a layout's (_3dh_LR, _greenmagenta), and a preview's _preview.
SOURCE_NAME_MAX_BYTES = 200


def clean_name(name: str) -> str:
    """Only the last path part of a browser-supplied file name, printable, and at most
    SOURCE_NAME_MAX_BYTES of UTF-8: a longer name loses the end of its stem, not its extension."""
    base = PurePath(name.replace("\\", "/")).name
    printable = "".join(ch for ch in base if ch.isprintable())
    if len(printable.encode()) <= SOURCE_NAME_MAX_BYTES:
        return printable
    suffix = PurePath(printable).suffix
    if len(suffix.encode()) > 16:
        suffix = ""  # a dot in the middle of a long name, not an extension
    stem = printable.removesuffix(suffix)
    return _cut_to_bytes(stem, SOURCE_NAME_MAX_BYTES - len(suffix.encode())) + suffix


def _cut_to_bytes(text: str, limit: int) -> str:
    """The longest start of ``text`` whose UTF-8 takes at most ``limit`` bytes, never half a
    character."""
    return text.encode()[: max(limit, 0)].decode("utf-8", "ignore")
