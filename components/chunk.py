"""Stage 1 — chunk: probe the source (cut the part a job converts out of it, or the preview),
split its video into keyframe-aligned segments."""

from __future__ import annotations

import contextlib
import logging
import math
import tempfile
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from components.failures import reason_recorded
from stereo_spot import keys
from stereo_spot.disk_space import full_disk_said
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
from stereo_spot.media.excerpt import cut_excerpt, cut_part
from stereo_spot.media.probe import probe_source
from stereo_spot.media.split import split_video
from stereo_spot.settings import Settings
from stereo_spot.storage import ObjectStorage

log = logging.getLogger(__name__)


class SplitExpired(StereoSpotError):
    """A job resumed after its source segments expired; its converted ones cannot be matched."""


class RunRefused(InputRejected):
    """The run's parameters are invalid, or differ from the job's record."""


def run_settings_of(job: Job) -> dict:
    """The pipeline arguments that must match the job's record: the layout, the engine and the
    stereo and encoding parameters (``stereo_pipeline``'s names; a run takes them from the
    record, pipelines/local_runner.py ``pipeline_arguments``, as the portal's does)."""
    return _run_settings(job.layout, job.params, job.engine)


def _run_settings(layout: Layout, params: StereoParams, engine: str) -> dict:
    return {
        "layout": layout.value,
        "divergence": params.divergence,
        "convergence": params.convergence,
        "anaglyph_mode": params.anaglyph_mode.value,
        "edges_at_screen": params.edges_at_screen,
        "chroma": params.chroma,
        "codec": params.codec.value,
        "crf": params.crf,
        "preset": params.preset,
        "max_height": params.max_height or 0,
        "engine": engine,
    }


def chunk_source(
    job_id: str,
    source_uri: str,
    layout: str,
    segment_seconds: float,
    storage: ObjectStorage,
    jobs: JobStore,
    settings: Settings,
    asked: dict | None = None,
) -> list[dict]:
    """Split the job's source and return one work item per segment, in order.

    ``asked``: the run's other settings (:func:`run_settings_of`'s names but the layout), which
    with ``layout`` must be valid and match the job's record, since the join tags the result
    by the record and the pages show it; refused before anything is split.

    Idempotent: when every segment of an earlier run is already stored, nothing is redone.
    """
    with reason_recorded(jobs, job_id, "Splitting the video"):
        job = jobs.get(job_id)
        try:
            layout = _checked_run(job, layout, segment_seconds, asked)
        except RunRefused as refused:
            jobs.transition(job_id, JobStatus.FAILED, error=str(refused))
            raise
        existing = _stored_segments(job_id, job.total_segments, layout, storage)
        if existing:
            log.info("job %s: reusing %d stored segments", job_id, len(existing))
            jobs.transition(job_id, JobStatus.PROCESSING)
            _drop_preview_copy(job, storage)  # a run stopped before it went, resumed
            return existing
        if job.status in (JobStatus.PROCESSING, JobStatus.REASSEMBLING):
            # Split (and partly converted) before, and the split is gone: the segments/ prefix
            # expires. Converted segments are keyed by index alone, and a new split (its length
            # may have changed since) would not be sure to line up with them.
            reason = (
                f"This job's {job.total_segments} source segments are no longer stored (they "
                "expire some days after a job starts), so it cannot be resumed; convert the video "
                "again."
            )
            jobs.transition(job_id, JobStatus.FAILED, error=reason)
            raise SplitExpired(reason)

        jobs.transition(job_id, JobStatus.CHUNKING)
        with tempfile.TemporaryDirectory(prefix="stereo-chunk-") as tmp:
            source = Path(tmp) / "source.mp4"
            storage.get_file(storage.key_from_uri(source_uri), source, read_only=True)
            progress = _progress_recorder(jobs, job_id)
            whole: SourceInfo | None = None
            try:
                # A full disk cuts a segment short, which reads back as a damaged video: say
                # the disk.
                with full_disk_said("Splitting the video"):
                    whole = info = probe_source(source, settings)
                    if job.cut_preview:
                        if (waiting := _waiting_video(jobs, job)) is not None:
                            with _unless_it_moved_on():
                                jobs.update(waiting.job_id, source=whole)  # held, for the user's go
                        source, info = _cut_preview(job_id, source, info, job, storage, settings)
                    elif job.part is not None:
                        source, info = _cut_part(job_id, source, info, job.part, segment_seconds,
                                                 storage, settings, progress)  # fmt: skip
                    split = split_video(
                        source, info, segment_seconds, Path(tmp) / "segments", on_progress=progress
                    )
            except InputRejected as error:
                # With the whole video's probe, where it was read: its page then offers it again
                # (a part past its end converts with other times).
                jobs.transition(job_id, JobStatus.FAILED, error=str(error),
                                **({"source": whole} if whole else {}))  # fmt: skip
                waiting = _waiting_video(jobs, job) if job.cut_preview and whole is None else None
                if waiting is not None:
                    with _unless_it_moved_on():
                        jobs.transition(waiting.job_id, JobStatus.FAILED, error=str(error))
                _drop_preview_copy(job, storage)  # failed for good: nothing cuts it again
                raise
            total = len(split.segments)
            items = []
            for index, segment in enumerate(split.segments):
                key = keys.source_segment_key(job_id, index, total, layout)
                storage.put_file(segment, key, move=True)
                items.append(_work_item(job_id, index, total, layout, storage))
        # What is converted and joined is what the video shows and could be decoded.
        info = info.model_copy(
            update={"frames": split.frames(info), "first_picture_delay": split.first_picture_delay}
        )
        cut = job.cuts_its_source
        # An end past the video's is its end, as `convert` and the portal record it once they
        # have read the video (the portal on S3 has not: this run reads it).
        converted = {"part": job.part.in_video_of(whole.duration)} if job.part and whole else {}
        jobs.update(
            job_id, total_segments=total, source=whole if cut else info,
            part_source=info if cut else None, damaged_frames=split.damaged, **converted,
        )  # fmt: skip
        jobs.transition(job_id, JobStatus.PROCESSING)
        _drop_preview_copy(job, storage)
        return items


def _cut_part(
    job_id: str,
    source: Path,
    info: SourceInfo,
    part: Part,
    segment_seconds: float,
    storage: ObjectStorage,
    settings: Settings,
    on_progress: Callable[[float], None],
) -> tuple[Path, SourceInfo]:
    """The part of ``source`` the job converts, and its probe: cut with a keyframe at every
    segment boundary where it is re-encoded (so its split needs no transcode of its own), and
    stored for the join, which takes its sound from it."""
    cut = cut_part(source, info, part, source.with_name("part.mkv"), segment_seconds, on_progress)
    log.info("job %s: converting the part %s", job_id, part.label)
    storage.put_file(cut, keys.part_key(job_id))
    return cut, probe_source(cut, settings)


def _cut_preview(
    job_id: str,
    source: Path,
    whole: SourceInfo,
    job: Job,
    storage: ObjectStorage,
    settings: Settings,
) -> tuple[Path, SourceInfo]:
    """The preview the job converts, cut from its copy of the whole video as the portal cuts
    one from a video on its own disk, and its probe; stored for the join, as a part is."""
    cut = cut_excerpt(
        source, whole, PREVIEW_SECONDS, source.with_name("preview.mp4"), job.preview_within
    )
    log.info("job %s: converting a preview of %s", job_id, job.preview_of)
    storage.put_file(cut, keys.part_key(job_id))
    return cut, probe_source(cut, settings)


def _drop_preview_copy(job: Job, storage: ObjectStorage) -> None:
    """Delete the copy of the whole video a preview's run cut its excerpt from
    (:attr:`Job.cut_preview`: the portal on S3 copies the upload, 20 GiB for a studio's
    master, to cut ~5 s of it), leaving the preview its cut (keys.part_key) and its result.

    The simplest of the ways to store no second video: the run reading the held job's upload
    instead of a copy would fail when that job is deleted mid-run (a held job may be deleted
    any time), and storing the cut as the source would leave a resumed step cutting the
    middle of the excerpt, the record's ``source`` probing a video no longer stored. Deleted
    only once the split is stored and the job has moved on to converting: a run stopped while
    cutting or splitting resumes by cutting again from this copy (the step reuses a complete
    split only, never a lone cut); from then on nothing reads it: a resume reuses the split
    (or fails, its split expired), the join and a rewrap take the cut, "convert again"
    converts the held job's upload (:attr:`Job.cut_from`), and the pages and the API show the
    probes on the record. A preview failed for good reads nothing either."""
    if not job.cut_preview:
        return
    try:
        storage.delete_prefix(keys.source_key(job.job_id))
    except Exception:  # the preview stands; the job's delete takes the copy later
        log.warning("job %s: its copy of the video was not deleted", job.job_id, exc_info=True)


def _waiting_video(jobs: JobStore, preview: Job) -> Job | None:
    """The whole video's job where it waits for this preview to read the video ("Preview
    first" on a portal that reads no video): nothing else will record its probe, or its
    refusal. None once it was deleted, read, started or failed."""
    try:
        origin = jobs.get(preview.preview_of) if preview.preview_of else None
    except JobNotFound:
        return None
    if origin is None or origin.status is not JobStatus.UPLOADED or origin.source is not None:
        return None
    return origin


def _unless_it_moved_on() -> contextlib.AbstractContextManager:
    """A waiting video's job deleted, started or failed since it was read: it waits no more."""
    return contextlib.suppress(JobNotFound, TransitionConflict)


def _progress_recorder(jobs: JobStore, job_id: str) -> Callable[[float], None]:
    """Records how far the split has got, for the progress bars."""

    def record(done: float) -> None:
        try:
            jobs.update(job_id, chunk_progress=round(done, 3))
        except TransitionConflict:
            raise  # cancelled (or failed) meanwhile: the transcode is stopped, not finished
        except Exception:  # a progress figure is not worth failing an hours-long transcode
            log.warning("job %s: the split's progress could not be recorded", job_id, exc_info=True)

    return record


def _work_item(job_id: str, index: int, total: int, layout: Layout, storage: ObjectStorage) -> dict:
    return {
        "segment_index": index,
        "total_segments": total,
        "input_uri": storage.uri_for(keys.source_segment_key(job_id, index, total, layout)),
        "output_uri": storage.uri_for(keys.converted_segment_key(job_id, index)),
    }


def _stored_segments(job_id: str, total: int, layout: Layout, storage: ObjectStorage) -> list[dict]:
    if total <= 0:
        return []
    wanted = [keys.source_segment_key(job_id, i, total, layout) for i in range(total)]
    if not all(storage.exists(key) for key in wanted):
        return []
    return [_work_item(job_id, i, total, layout, storage) for i in range(total)]


def _checked_run(job: Job, layout: str, segment_seconds: float, asked: dict | None) -> Layout:
    """The run's layout, once its parameters are valid and those the job records match it;
    RunRefused, in the command line's words, otherwise (a pipeline started through the kfp SDK
    is checked by nothing else: a segment length of 0 split a video into one segment a frame)."""
    if not (isinstance(segment_seconds, int | float) and math.isfinite(segment_seconds)) or (
        segment_seconds <= 0
    ):
        raise RunRefused(
            f"Invalid segment_seconds: {segment_seconds!r} is not a length in seconds above 0."
        )
    try:
        chosen = Layout(layout)
    except ValueError:
        raise RunRefused(
            f"Invalid layout: {layout!r} is not one of {', '.join(x.value for x in Layout)}."
        ) from None
    wanted = {"layout": chosen.value}
    if asked is not None:
        fields = {name: value for name, value in asked.items() if name != "engine"}
        try:
            params = StereoParams(**{**fields, "max_height": fields.get("max_height") or None})
        except ValidationError as error:
            first = error.errors()[0]
            name = ".".join(str(part) for part in first["loc"]) or "parameters"
            message = first["msg"].removeprefix("Value error, ")
            raise RunRefused(f"Invalid {name}: {message[:1].lower()}{message[1:]}.") from None
        wanted = _run_settings(chosen, params, asked.get("engine", job.engine))
    recorded = run_settings_of(job)
    differing = [name for name, value in wanted.items() if recorded[name] != value]
    if differing:
        said = ", ".join(f"{name} {wanted[name]!r}" for name in differing)
        has = ", ".join(f"{name} {recorded[name]!r}" for name in differing)
        raise RunRefused(
            f"This run asks for {said}, but job {job.job_id} was created with {has}: start the "
            "run with the job's settings (stereo-spot and the portal do), or create a job with "
            "the ones you want."
        )
    return chosen
