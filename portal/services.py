"""What the portal does, as plain functions over the ports (routes only translate HTTP).

create_job → (the browser uploads to the signed target) → start_job → the launcher runs the
pipeline, which moves the job through chunking/processing/reassembling to completed or failed.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePath
from typing import TypedDict

from portal.asks import RecentAsks
from portal.launcher import RunLauncher
from stereo_spot import keys
from stereo_spot.domain import (
    DEFAULT_CRF,
    PREVIEW_SECONDS,
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
    TransitionConflict,
)
from stereo_spot.jobs import (
    STOPPING_SECONDS,
    JobPage,
    JobStore,
    cancel,
    delete,
    drop_files_of_failed,
)
from stereo_spot.media.excerpt import cut_excerpt, part_bounds
from stereo_spot.media.probe import probe_source
from stereo_spot.settings import Settings
from stereo_spot.storage import ObjectStorage, UploadTarget
from stereo_spot.storage.signing import SignedLocalStorage

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


class Restyle(TypedDict):
    """The settings a conversion of an uploaded video may change."""

    layout: Layout
    params: StereoParams
    engine: str


# Starting a job probes a file and submits a run; two starts of one job racing inside this process
# must not both submit. (Across processes the launcher's own de-duplication and the runner's status
# checks are the guard.)
_start_lock = threading.Lock()


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
        source_name=_clean_name(source_name),
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


def start_job(
    jobs: JobStore,
    storage: ObjectStorage,
    settings: Settings,
    launcher: RunLauncher | None,
    job_id: str,
    source_name: str = "",
    *,
    preview: bool = False,
    restyle: Restyle | None = None,
    part: Part | None = None,
) -> Job:
    """Probe the upload and queue the job (to convert only ``part`` of it, if one is given); a
    job already past ``uploaded`` is returned as is, and one stopped part-way (its run killed,
    :meth:`RunLauncher.stopped_part_way`) is resumed, reusing the segments it converted. Either
    way a start that asks for anything else than the job converts (a preview, another part,
    other settings) is refused (TransitionConflict, saying how to convert it so); one that asks
    for nothing, or for the same, is answered with the job.

    With ``preview`` the job is held instead (:attr:`Job.held`) and a preview job, a few seconds
    from the middle of the video or of ``part``, is started and returned: the whole video waits
    for the user's go, which is this call again without ``preview`` (``restyle`` then changes
    its settings first).

    A part whose end is at or past the video's end is recorded as one to the end (as ``convert``
    records it, and names its result ``_0m01s-end``).

    A source that is not a usable video, or a part that starts past its end, fails the job with the reason
    (the job page then says why, and converts the upload again with other times) rather than
    raising: the request succeeded, the job did not. A held video was read before: a part past
    its end is refused (FieldRejected, ``start``) and the video stays held. A job that has failed or was
    cancelled is not started again (TransitionConflict, saying so): its video is converted
    again in a new job (:func:`convert_again`).

    Only a video on this machine's disk is read here (the embedded stack). One in S3 is left to
    the run, which downloads it anyway: a portal that downloaded each video it starts (20 GiB
    for a studio's master) would wait minutes in a request and need the disk for every start
    at once. Its job is queued unread, and its chunk step refuses it with the reason, or cuts
    its preview and then holds the whole video with the probe (:func:`_start_preview`).
    """
    with _start_lock:
        job = jobs.get(job_id)
        if job.status is JobStatus.FAILED:
            raise TransitionConflict(_not_started_again(job))
        stopped = launcher is not None and launcher.stopped_part_way(job)
        if stopped or job.status not in (JobStatus.CREATED, JobStatus.UPLOADED):
            _refuse_other_than_it_converts(job, preview, part, restyle)
            return _resumed(jobs, settings, launcher, job) if stopped else job
        if preview and job.status is JobStatus.UPLOADED:
            return job  # held, or waiting for its preview to read the video
        _require_launcher(launcher)
        info, whole = job.source, None
        read_before = job.status is JobStatus.UPLOADED  # held: its video was read earlier
        if job.status is JobStatus.CREATED:
            source = keys.source_key(job_id)
            if not storage.exists(source):
                raise NotUploaded(
                    "The video has not been uploaded yet; upload it, then start the job."
                )
            changes = {"source_name": _clean_name(source_name)} if source_name else {}
            job = jobs.transition(job_id, JobStatus.UPLOADED, **changes)
            whole = _on_this_disk(storage, source)
            if whole is not None:
                try:
                    info = probe_source(whole, settings)
                except InputRejected as rejected:
                    return jobs.transition(job_id, JobStatus.FAILED, error=str(rejected))
        if part is not None and info is not None:
            if read_before:
                # Known before anything changes: refused, as convert_again refuses it, and
                # the video stays held for other times.
                part = _part_within(info, part)
            else:
                try:
                    part = _part_within(info, part)
                except InputRejected as rejected:
                    # With the probe: the page offers the video again, with other times.
                    return jobs.transition(
                        job_id, JobStatus.FAILED, error=str(rejected), source=info
                    )
        if not preview:
            job = jobs.transition(
                job_id, JobStatus.QUEUED, source=info, part=part, **(restyle or {})
            )
            run_id = launcher.submit(job_id)
            # Recorded under the lock: a second start racing this one then answers with the
            # same run id, not a queued job without one.
            try:
                return jobs.update(job_id, run_id=run_id)
            except TransitionConflict:
                return jobs.get(job_id)  # a fast run already finished; its record is news
        # Held with the part it was uploaded for: its page offers that part, and converts it.
        job = jobs.update(job_id, part=part, **({"source": info} if info is not None else {}))
    # Outside the lock: starting the preview takes it again.
    return _start_preview(
        jobs, storage, settings, launcher, job, _style_of(job), whole, within=part
    )


def _refuse_other_than_it_converts(
    job: Job, preview: bool, part: Part | None, restyle: Restyle | None
) -> None:
    """Refuse a start of a job already started (or stopped part-way) that asks for something
    else than the job converts: a preview, another part, other settings. Silently ignored, a
    script would take the job for what it asked. A start that asks for nothing (no body, no
    part) or for the same is a repeat, answered with the job."""
    if not preview and part is None and restyle is None:
        return
    same_part = _part_in_video(part, job.source) == _part_in_video(job.part, job.source)
    if not preview and same_part and (restyle is None or restyle == _style_of(job)):
        return
    what = part_converted(job)
    converts = "the whole video" if what is None else f"the part {what.label}"
    if job.preview_of:
        converts = "a preview"
    done = "has converted" if job.status is JobStatus.COMPLETED else "already converts"
    raise TransitionConflict(
        f"This job {done} {converts} with its own settings; a start does not change what a "
        "started job converts. To convert its video otherwise (another part, a preview, other "
        f"settings), convert it again: POST /api/jobs/{job.job_id}/again, as its page does."
    )


def _resumed(jobs: JobStore, settings: Settings, launcher: RunLauncher | None, job: Job) -> Job:
    """The job stopped part-way handed to the launcher again: its run takes the job's run lock
    (refused while another process runs it) and reuses the segments already converted, as
    ``up`` resumes the jobs it left part-way when it starts again."""
    assert launcher is not None, "only a launcher tells a job stopped part-way"
    if job.engine != settings.engine:
        # Its every segment would fail on this portal's model server.
        raise TransitionConflict(
            f"This job stopped part-way; it converts with the '{job.engine}' engine, which this "
            f"portal's model server does not run ('{settings.engine}'): resume it with "
            f"`stereo-spot jobs retry {job.job_id}`, or cancel it."
        )
    run_id = launcher.submit(job.job_id)
    try:
        return jobs.update(job.job_id, run_id=run_id)
    except TransitionConflict:
        return jobs.get(job.job_id)  # a fast run already finished; its record is news


def _part_within(info: SourceInfo, part: Part) -> Part:
    """``part`` of the video ``info`` describes, as its run converts it: an end at or past the
    video's end is its end (:meth:`Part.in_video_of`). A part that starts past the end is
    refused (FieldRejected naming ``start``)."""
    try:
        part_bounds(info, part)
    except InputRejected as rejected:
        raise FieldRejected("start", str(rejected)) from None
    return part.in_video_of(info.duration)


def _part_in_video(part: Part | None, info: SourceInfo | None) -> Part | None:
    """``part`` as it is converted of the video ``info`` describes, when that was read."""
    if part is None or info is None:
        return part
    return part.in_video_of(info.duration)


def part_converted(job: Job) -> Part | None:
    """The part of its video the job converts, its end the video's where the asked end is past
    it (a job queued on S3, whose video its run reads, records the part as asked)."""
    return _part_in_video(job.part, job.source)


def as_converted(job: Job) -> Job:
    """The job as pages, the API and file names show it: its part, and the part a preview its
    run cut was taken from, as they are converted (:func:`part_converted`). (A preview cut by
    the portal records the part it was taken from so already; its ``source`` is the excerpt.)"""
    within = job.preview_within if job.cut_preview else None
    if job.source is None or (job.part is None and within is None):
        return job
    changes: dict[str, Part | None] = {"part": part_converted(job)}
    if within is not None:
        changes["preview_within"] = _part_in_video(within, job.source)
    return job.model_copy(update=changes)


def _not_started_again(job: Job) -> str:
    """Why a start of a failed or cancelled job is refused, and what to do instead."""
    if job.cancelled:
        said = "This job was cancelled; a cancelled job does not start again"
    else:
        reason = (job.error or "no reason was recorded").rstrip(".")
        said = f"This job failed ({reason}); a failed job does not start again"
    return f"{said}: convert its video again from its page, or upload it in a new job."


def _require_launcher(launcher: RunLauncher | None) -> None:
    if launcher is None:
        raise NoLauncher("This portal cannot run conversions: no pipeline runner is configured.")


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


def convert_again(
    jobs: JobStore,
    storage: ObjectStorage,
    settings: Settings,
    launcher: RunLauncher | None,
    job_id: str,
    layout: Layout,
    params: StereoParams,
    engine: str | None = None,
    preview: bool = False,
    part: Part | None = None,
) -> Job:
    """Start a new job on the video uploaded for ``job_id``, with other settings, on a
    ``part`` of it (as ``convert --start/--end``), or on a preview of it or of the part (a few
    seconds from the middle, as ``convert --preview``): no second upload.

    From a preview or a part the whole video is the one it was cut from. The source is copied
    inside the storage (or the excerpt cut from it stored), so each job keeps and deletes its
    own. A video held for its preview (:attr:`Job.held`) is not copied: that job itself starts;
    asked again alike once started, it is returned as it is, converting nothing twice.
    ``engine`` must be the served one (:func:`served_engine`; None: that one).
    """
    _require_launcher(launcher)
    earlier = get_job(jobs, job_id)
    engine = served_engine(settings, engine)
    try:
        origin = jobs.get(earlier.cut_from) if earlier.cut_from else earlier
    except JobNotFound:
        if earlier.preview_of:
            raise NotUploaded(
                "The job whose video this preview was cut from has been deleted; upload the "
                "video in a new job."
            ) from None
        origin = earlier  # a part job keeps a copy of the whole video
    source = keys.source_key(origin.job_id)
    stored = storage.exists(source)
    if origin.source is None:
        raise _not_read(origin, stored)
    if not stored:
        raise NotUploaded("This job's video is not stored any more; upload it in a new job.")
    style: Restyle = {"layout": layout, "params": params, "engine": engine}
    if part is not None:
        part = _part_within(origin.source, part)  # refused before anything changes
    if not preview and origin.held:
        return start_job(jobs, storage, settings, launcher, origin.job_id, restyle=style, part=part)
    if not preview and _converting_alike(origin, style, part, launcher):
        # The same start again (a double click on "Convert the whole video like this" started
        # the held video the first time): that job, as a second start answers; other settings
        # or another part, or a failed first try, make another conversion.
        return origin
    ask = _ask_of(origin, style, part, preview)
    earlier, job_id = _asked_before(jobs, launcher, ask)
    if earlier is not None:
        return earlier
    if preview:
        job = _start_preview(
            jobs, storage, settings, launcher, origin, style, within=part, job_id=job_id
        )
        _recent_asks.made(ask, job.job_id)
        return job
    # A new job on a copy of the video; a part of it is cut by the job's run (a long part
    # takes as long to cut as to transcode, which is no work for a web request).
    part_of = origin.job_id if part is not None else None
    job, made = _created_once(
        jobs,
        Job(**style, job_id=job_id, source_name=origin.source_name, part_of=part_of, part=part),
    )
    if not made:
        return job
    with _forgotten_unless_stored(jobs, job):
        storage.copy(source, keys.source_key(job.job_id))
    _recent_asks.made(ask, job.job_id)
    return start_job(jobs, storage, settings, launcher, job.job_id, part=part)


def _not_read(origin: Job, stored: bool) -> StereoSpotError:
    """Why the video of ``origin``, which was never read (no probe), is not converted again,
    and what to do instead."""
    if origin.status is JobStatus.CREATED:
        return NotUploaded(
            "This job's video has not been uploaded yet; upload it on the job's page, which "
            "then converts it."
        )
    if not stored:
        return NotUploaded("This job's video is not stored any more; upload it in a new job.")
    if origin.cancelled:
        return NotUploaded(
            "This job was cancelled before its video was read, so it cannot be converted "
            "again from here; upload the video in a new job."
        )
    if origin.status is JobStatus.FAILED:
        reason = (origin.error or "no reason was recorded").rstrip(".")
        return NotUploaded(
            f"This job's upload could not be converted ({reason}), so there is nothing to "
            "convert again; upload a video in a new job."
        )
    if origin.status is JobStatus.UPLOADED:
        return NotReady(
            "This job's video is still being read by its preview's conversion; convert it "
            "again once its page offers it."
        )
    return NotReady(
        "This job's video is still being read by its run; convert it again once its page "
        "shows the video."
    )


# The asks of videos this portal answered lately (portal/asks.py).
_recent_asks = RecentAsks()


def _ask_of(origin: Job, style: Restyle, part: Part | None, preview: bool) -> str:
    """What a "convert again" asks, as a key: which video, how, which part, preview or not."""
    return json.dumps(
        {
            "video": origin.job_id,
            "layout": style["layout"].value,
            "params": style["params"].model_dump(mode="json"),
            "engine": style["engine"],
            "part": part.model_dump(mode="json") if part is not None else None,
            "preview": preview,
        },
        sort_keys=True,
    )


def _asked_before(jobs: JobStore, launcher: RunLauncher | None, ask: str) -> tuple[Job | None, str]:
    """The job the same ask made lately, unless it failed, was cancelled, stopped part-way or
    was deleted: the ask is answered with it. Else the id a new job for the ask takes."""
    job_id, made = _recent_asks.claim(ask)
    if not made:
        return None, job_id  # the first ask, or one that has not made its job yet
    try:
        earlier = jobs.get(job_id)
    except JobNotFound:
        earlier = None
    if earlier is not None and not _ended_unfinished(earlier, launcher):
        return earlier, job_id
    return None, _recent_asks.renew(ask)


@contextmanager
def _forgotten_unless_stored(jobs: JobStore, job: Job) -> Iterator[None]:
    """Delete the new job again if storing its video fails: no job is left waiting for a video
    nobody sends (the ask's next try makes it under the same id, no run having started)."""
    try:
        yield
    except BaseException:
        jobs.delete(job.job_id)
        raise


def _created_once(jobs: JobStore, job: Job) -> tuple[Job, bool]:
    """Create ``job``, or find the one a racing request made under its id: (job, made here)."""
    try:
        return jobs.create(job), True
    except TransitionConflict:
        return jobs.get(job.job_id), False


def _converting_alike(
    job: Job, style: Restyle, part: Part | None, launcher: RunLauncher | None
) -> bool:
    """Whether ``job`` was started, has neither failed nor stopped part-way, and converts its
    video as asked."""
    return (
        job.status not in (JobStatus.CREATED, JobStatus.UPLOADED)
        and not _ended_unfinished(job, launcher)
        and _style_of(job) == style
        and part_converted(job) == _part_in_video(part, job.source)
    )


def _ended_unfinished(job: Job, launcher: RunLauncher | None) -> bool:
    """Whether ``job`` failed, was cancelled, or stopped part-way (nothing runs it): an ask
    alike is a new try, not a repeat to answer with it."""
    return job.status is JobStatus.FAILED or (
        launcher is not None and launcher.stopped_part_way(job)
    )


def _style_of(job: Job) -> Restyle:
    return {"layout": job.layout, "params": job.params, "engine": job.engine}


def _start_preview(
    jobs: JobStore,
    storage: ObjectStorage,
    settings: Settings,
    launcher: RunLauncher | None,
    origin: Job,
    style: Restyle,
    whole: Path | None = None,
    within: Part | None = None,
    job_id: str | None = None,
) -> Job:
    """A new job converting a few seconds from the middle of ``origin``'s video, or of the part
    ``within`` it, started (under ``job_id`` if given: a racing request with the same id gets
    the job this one made). On this machine's disk the excerpt is cut here (the video's probe
    reused; ``whole``: a local copy of it already at hand) and stored as that job's source;
    elsewhere the job gets a copy of the whole video and its run cuts the excerpt
    (:attr:`Job.cut_preview`), reading the video for ``origin`` too if nothing has yet, then
    deletes the copy once the excerpt is split (``components.chunk``): a preview keeps only its
    excerpt and its result."""
    name = _named_after(origin, (within.filename_tag if within else "") + "_preview")
    preview = Job(
        **style,
        **({"job_id": job_id} if job_id else {}),
        source_name=name,
        preview_of=origin.job_id,
        preview_within=within,
    )
    source = keys.source_key(origin.job_id)
    whole = whole or _on_this_disk(storage, source)
    if whole is None:
        job, made = _created_once(jobs, preview.model_copy(update={"cut_preview": True}))
        if not made:
            return job
        with _forgotten_unless_stored(jobs, job):
            storage.copy(source, keys.source_key(job.job_id))
        _link_from_the_held_video(jobs, origin, job)
        return start_job(jobs, storage, settings, launcher, job.job_id)
    assert origin.source is not None, "only a video that was read has a middle"
    with tempfile.TemporaryDirectory(prefix="stereo-spot-preview-") as scratch:
        # Cut before the job exists: a cut that fails leaves no job behind.
        excerpt = cut_excerpt(
            whole, origin.source, PREVIEW_SECONDS, Path(scratch) / "cut.mp4", within
        )
        job, made = _created_once(jobs, preview)
        if not made:
            return job
        with _forgotten_unless_stored(jobs, job):
            storage.put_file(excerpt, keys.source_key(job.job_id))
    _link_from_the_held_video(jobs, origin, job)
    return start_job(jobs, storage, settings, launcher, job.job_id)


def preview_made_first(jobs: JobStore, job: Job) -> Job | None:
    """The preview a held video waits on (its latest), while it is kept; None for a job not
    held, or held before previews were recorded on it."""
    if not job.held or job.previewed_by is None:
        return None
    try:
        return jobs.get(job.previewed_by)
    except JobNotFound:
        return None


def _link_from_the_held_video(jobs: JobStore, origin: Job, preview: Job) -> None:
    """Record ``preview`` on ``origin`` where that video waits for its go after it (held, or
    on S3 still being read by the preview's run): its page links to the preview it waits on,
    which was found only in the lists."""
    if origin.status is not JobStatus.UPLOADED:
        return  # a preview of a finished video: that video waits for nothing
    with suppress(JobNotFound, TransitionConflict):  # deleted or started meanwhile
        jobs.update(origin.job_id, previewed_by=preview.job_id)


def _named_after(origin: Job, tag: str) -> str:
    """The name of the video uploaded for ``origin`` with ``tag`` after its stem."""
    name = PurePath(origin.source_name or "video.mp4")
    return name.with_stem(f"{name.stem}{tag}").name


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


def _clean_name(name: str) -> str:
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


def _on_this_disk(storage: ObjectStorage, key: str) -> Path | None:
    """The file of ``key`` where this process can read it in place (local storage), else
    None: a video in S3 is read by the run, never downloaded into the portal."""
    return storage.path_for(key) if isinstance(storage, SignedLocalStorage) else None
