"""Following a job's run on this machine to its end: the progress bar, the model server it runs
against, and what the way it ended means for the job (`convert` and `jobs retry`)."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from stereo_spot.cli.progress import run_progress
from stereo_spot.disk_space import DiskFull
from stereo_spot.domain import Job, JobStatus
from stereo_spot.errors import (
    RunInProgress,
    StereoSpotError,
    StoreUnavailable,
    TransitionConflict,
)
from stereo_spot.jobs import JobStore, status_said
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from

POLL_SECONDS = 0.5


class ConversionFailed(StereoSpotError):
    """The job failed; the message is its recorded reason."""


class ModelServerFailed(ConversionFailed):
    """The model server could not start: no later video would fare better."""


class ModelServerHandle(Protocol):
    """What the progress loop needs of the model server it runs against."""

    def raise_if_failed(self) -> None:
        """Raise if the server failed to start (its weights did not load, say)."""

    def release(self) -> None:
        """The run needs the server no more: let it wind down."""


class _ExternalServer:
    """A server someone else runs (``STEREO_SPOT_MODEL_URL``): nothing to watch or stop."""

    def raise_if_failed(self) -> None:
        pass

    def release(self) -> None:
        pass


@contextlib.contextmanager
def model_server(settings: Settings) -> Iterator[tuple[Settings, ModelServerHandle]]:
    """The settings with a model URL, and a handle on that server.

    A server of our own is started, not awaited: the run's chunk step needs no model, and its
    convert steps wait for the server to listen.
    """
    if settings.model_url:
        yield settings, _ExternalServer()
        return
    from inference_service.launcher import starting_model_server

    with starting_model_server(settings) as server:
        print("starting the model server on 127.0.0.1 ...", file=sys.stderr)
        yield settings.model_copy(update={"model_url": server.url}), server


def converted_elsewhere(job_id: str, holder: str | None) -> str:
    """What ``convert`` and ``jobs retry`` say of a job that ``holder`` on this machine runs,
    and what to do about it."""
    from pipelines.local_runner import being_converted

    return (
        f"{being_converted(job_id, holder)} on this machine; let it finish, or stop it with: "
        f"stereo-spot jobs cancel {job_id}"
    )


def run_with_progress(
    settings: Settings,
    job_id: str,
    segment_seconds: float | None,
    server: ModelServerHandle | None = None,
    *,
    started: tuple[subprocess.Popen, Path] | None = None,
    when_joining: Callable[[], None] | None = None,
) -> Job:
    """Run the job in a child process (or follow the one ``started`` for it) and draw its
    progress until it ends.

    A ``server`` that failed to start stops the run at once with its reason and leaves the job
    resumable; once every segment is converted the server is released, so it winds down while
    the segments are joined, and ``when_joining`` is called, once: as the join starts, or at the
    latest when the run has completed.
    """
    from inference_service.launcher import how_it_ended
    from pipelines.local_runner import (
        drop_run_folder,
        drop_scratch,
        mark_run_stopped,
        run_in_progress,
        start_job_process,
        stop_job_process,
    )

    server = server or _ExternalServer()
    jobs = job_store_from(settings)
    progress = run_progress()
    # Started inside the try: Ctrl-C the moment after would otherwise find nobody to stop it.
    process: subprocess.Popen | None = None
    try:
        process, log_path = started or start_job_process(settings, job_id, segment_seconds)
        while True:
            job = jobs.get(job_id)
            phase = status_said(job)  # a cancelled run's last line says so, not "failed"
            if job.status is JobStatus.CHUNKING and job.chunk_progress:
                phase = f"chunking, transcoding {job.chunk_progress:.0%}"
            progress.show(
                phase,
                job.completed_segments,
                job.total_segments,
                converting=job.status is JobStatus.PROCESSING,
            )
            if job.status in (JobStatus.REASSEMBLING, JobStatus.COMPLETED):
                server.release()
                if when_joining is not None:
                    when_joining()
                    when_joining = None
            if job.cancelled and process.poll() is None:
                # Cancelled from elsewhere (the portal, `jobs cancel`): stop the run now rather
                # than when its steps next write to the job.
                stop_job_process(process, log_path)
            try:
                server.raise_if_failed()
            except StereoSpotError as failure:
                stop_job_process(process, log_path)
                jobs.update(job_id, error=str(failure))
                raise ModelServerFailed(
                    f"{failure} Fix that, then resume the job: stereo-spot jobs retry {job_id}"
                ) from None
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=POLL_SECONDS)  # returns the moment the run ends
            if process.returncode is not None:
                break
    except KeyboardInterrupt:
        # The run has a process group of its own, which the terminal's Ctrl-C does not reach.
        if process is not None:
            stop_job_process(process, log_path)
            # Stopped before its runner took the run lock, the job would read as queued
            # forever: `jobs list` says stopped, and `jobs delete` takes it.
            mark_run_stopped(settings, job_id)
        raise
    except DiskFull as full:
        # The job store's disk filled: the run cannot say how it goes, so it stops, and the
        # sentence its step wrote in its log (the folder it was writing in) is the reason.
        if process is not None:
            stop_job_process(process, log_path)
            drop_scratch(settings, job_id)
        reason = _full_disk_in_log(log_path) or str(full)
        _fail_if_store_writable(jobs, job_id, reason)
        raise DiskFull(reason) from None
    finally:
        progress.close()
    # A runner that ended by itself (cancelled, failed) may leave a task it was starting.
    stop_job_process(process, log_path)
    try:
        job = jobs.get(job_id)
    except DiskFull as full:
        raise DiskFull(_full_disk_in_log(log_path) or str(full)) from None
    drop_run_folder(settings, job)
    if when_joining is not None and job.status is JobStatus.COMPLETED:
        # A join over between two polls: the next video still starts before this one's result
        # is fetched (a copy, or a rewrap into another container).
        when_joining()
    if process.returncode == RunInProgress.exit_code:
        raise ConversionFailed(converted_elsewhere(job_id, run_in_progress(settings, job_id)))
    if job.status is not JobStatus.COMPLETED and process.returncode < 0 and not job.status.is_final:
        # The runner was killed (OOM killer, kill -9) rather than failing: leave the job
        # resumable; its finished segments are reused by a retry.
        reason = (
            f"The run stopped ({how_it_ended(process.returncode)}) before it finished; "
            f"resume it with: stereo-spot jobs retry {job_id}"
        )
        jobs.update(job_id, error=reason)
        raise ConversionFailed(reason)
    if job.status is not JobStatus.COMPLETED:
        full = _full_disk_in_log(log_path)
        if full and "disk space" not in (job.error or ""):
            # A step that filled the disk could not write its reason to the job store there.
            _fail_if_store_writable(jobs, job_id, full)
            raise DiskFull(full)
        reason = job.error or f"The pipeline stopped unexpectedly; see {log_path}."
        if not job.status.is_final:
            jobs.transition(job_id, JobStatus.FAILED, error=reason)
        raise ConversionFailed(reason)
    return job


# The sentence stereo_spot.disk_space.ran_out writes, as a step's failure puts it in the run's
# log: "The model server ran out of disk space in /data/runs/... (0.0 MiB left). Converting a
# segment takes ...: free some, then convert the video again."
_RAN_OUT = re.compile(
    r"[A-Z][\w .]*? ran out of disk space in [^\n]*?: free some, [^\n]*?\.(?=\s|$)"
)

# A run's log starts so (kfp.local): the sentence looked for is the last run's, not an earlier
# one's (each run of a job appends to its log).
_RUN_STARTS = "Running pipeline:"


def _full_disk_in_log(log_path: Path) -> str | None:
    """The last "... ran out of disk space in ..." sentence of the job's last run, if any."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return None
    found = _RAN_OUT.findall(text[text.rfind(_RUN_STARTS) :] if _RUN_STARTS in text else text)
    return found[-1] if found else None


def _fail_if_store_writable(jobs: JobStore, job_id: str, reason: str) -> None:
    """Mark the job failed with ``reason`` where the store can still be written: on a disk
    that is still full it cannot (the job is then listed as stopped, and can be resumed)."""
    with contextlib.suppress(StoreUnavailable, TransitionConflict):
        if not jobs.get(job_id).status.is_final:
            jobs.transition(job_id, JobStatus.FAILED, error=reason)
