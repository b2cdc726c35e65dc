"""Starting conversions of an uploaded video: the first start (probe, queue, submit), a
resume of one stopped part-way, a preview first with the whole video held for the user's go,
and converting the video again with other settings, a part of it or a preview, without a new
upload. The rest of a job's life (create, list, play, cancel, delete) is in ``portal.services``.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path, PurePath
from typing import TypedDict

from portal.asks import RecentAsks
from portal.launcher import RunLauncher
from portal.services import (
    FieldRejected,
    NoLauncher,
    NotReady,
    NotUploaded,
    clean_name,
    get_job,
    part_converted,
    part_in_video,
    served_engine,
)
from stereo_spot import keys
from stereo_spot.domain import (
    PREVIEW_SECONDS,
    Job,
    JobStatus,
    Layout,
    Part,
    SourceInfo,
    StereoParams,
)
from stereo_spot.errors import InputRejected, JobNotFound, StereoSpotError, TransitionConflict
from stereo_spot.jobs import JobStore
from stereo_spot.media.excerpt import cut_excerpt, part_bounds
from stereo_spot.media.probe import probe_source
from stereo_spot.settings import Settings
from stereo_spot.storage import ObjectStorage
from stereo_spot.storage.signing import SignedLocalStorage


class Restyle(TypedDict):
    """The settings a conversion of an uploaded video may change."""

    layout: Layout
    params: StereoParams
    engine: str


# Starting a job probes a file and submits a run; two starts of one job racing inside this process
# must not both submit. (Across processes the launcher's own de-duplication and the runner's status
# checks are the guard.)
_start_lock = threading.Lock()


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
            changes = {"source_name": clean_name(source_name)} if source_name else {}
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
    same_part = part_in_video(part, job.source) == part_in_video(job.part, job.source)
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


def _on_this_disk(storage: ObjectStorage, key: str) -> Path | None:
    """The file of ``key`` where this process can read it in place (local storage), else
    None: a video in S3 is read by the run, never downloaded into the portal."""
    return storage.path_for(key) if isinstance(storage, SignedLocalStorage) else None


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
        and part_converted(job) == part_in_video(part, job.source)
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
