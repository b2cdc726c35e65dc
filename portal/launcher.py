"""Run launchers: how the portal hands a queued job to the pipeline.

``RunLauncher`` is the port. ``LocalRunLauncher`` is the embedded one: a single background worker
thread that runs queued jobs one after another through a ``run_job(job_id)`` callable — in the
embedded stack ``functools.partial(pipelines.local_runner.run_job, settings)``, injected by the
composition root (``stereo-spot up``), because the portal must not import the pipeline package
(it pulls in the components, and deployables stay independent). A KFP-client launcher is the
cluster's.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from stereo_spot.domain import Job, JobStatus
from stereo_spot.errors import JobNotFound, RunInProgress, StereoSpotError, TransitionConflict
from stereo_spot.jobs import LEFT_PART_WAY, JobStore, left_part_way, left_queued

log = logging.getLogger(__name__)


@runtime_checkable
class RunLauncher(Protocol):
    def submit(self, job_id: str) -> str:
        """Start (or queue) the pipeline for a queued job; returns a run id.

        Submitting a job that is already waiting or running returns its run id again and starts
        nothing new.
        """

    def cancel(self, job_id: str) -> None:
        """Stop the job's run, waiting or running (the job is marked failed by the caller, so
        a run that has not started yet never will); nothing when it has none."""

    def forget(self, job_id: str) -> None:
        """Remove what the runs of a deleted job left where they ran, beside its stored media
        (on this machine its run folder and log); nothing where the runs keep no such files."""

    def stopped_part_way(self, job: Job) -> bool:
        """Whether the job's record says it is being converted while its run ended before it
        finished and nothing runs it or waits to (a ``convert`` on this machine that was
        killed). False where runs cannot be seen from here."""


class LocalRunLauncher:
    """Drains queued jobs one at a time on a worker thread.

    One at a time because a 2-core machine gains nothing from two conversions at once (each
    already uses every core through ffmpeg and the engine). A run that raises leaves the job
    failed (the runner records the reason; this marks it if the runner could not) and the worker
    goes on with the next job.
    """

    def __init__(
        self,
        jobs: JobStore,
        run_job: Callable[[str], None],
        stop_run: Callable[[str], None] | None = None,
        forget_run: Callable[[str], None] | None = None,
        run_stopped: Callable[[Job], bool] | None = None,
    ) -> None:
        self._jobs = jobs
        self._run_job = run_job
        # How to stop the run of a job that is running (``ChildProcessRuns.stop``): ``run_job``
        # then returns or raises, and the worker goes on with the next job.
        self._stop_run = stop_run
        # How to remove a deleted job's run folder and log (``local_runner.forget_run``).
        self._forget_run = forget_run
        # Whether a run of the job on this machine ended part-way (``local_runner.stopped_part_way``).
        self._run_stopped = run_stopped
        self._running: str | None = None
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._run_ids: dict[str, str] = {}  # job id -> run id, while waiting or running
        self._counter = itertools.count(1)
        self._idle = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> LocalRunLauncher:
        """Start the worker and queue the jobs a previous start left part-way or queued (oldest
        first)."""
        if self._thread is None:
            for job in [*left_part_way(self._jobs), *left_queued(self._jobs)]:
                self.submit(job.job_id)
            self._thread = threading.Thread(
                target=self._work, name="stereo-spot-local-runner", daemon=True
            )
            self._thread.start()
        return self

    def submit(self, job_id: str) -> str:
        with self._lock:
            run_id = self._run_ids.get(job_id)
            if run_id is None:
                run_id = f"local-{next(self._counter)}-{job_id[:8]}"
                self._run_ids[job_id] = run_id
                self._queue.put(job_id)
            return run_id

    def cancel(self, job_id: str) -> None:
        # A waiting job is skipped when its turn comes (it is no longer queued).
        with self._lock:
            running = self._running == job_id
        if running and self._stop_run is not None:
            self._stop_run(job_id)

    def forget(self, job_id: str) -> None:
        if self._forget_run is not None:
            self._forget_run(job_id)

    def stopped_part_way(self, job: Job) -> bool:
        with self._lock:
            mine = job.job_id in self._run_ids  # waiting here to be resumed, or running
        return not mine and self._run_stopped is not None and self._run_stopped(job)

    def run_ids(self) -> dict[str, str]:
        """Job id -> run id of every job waiting or running now."""
        with self._lock:
            return dict(self._run_ids)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking jobs. A run in progress is not interrupted (the thread is a daemon)."""
        self._stopping.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is waiting or running (for tests and orderly shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._run_ids, timeout)

    def _work(self) -> None:
        while not self._stopping.is_set():
            job_id = self._queue.get()
            if job_id is None:
                break
            try:
                self._run_one(job_id)
            finally:
                with self._idle:
                    self._run_ids.pop(job_id, None)
                    self._idle.notify_all()

    def _run_one(self, job_id: str) -> None:
        # Running from before the status is read: a cancel that comes after the read finds it
        # running and stops it; one that comes before is seen here.
        with self._lock:
            self._running = job_id
        try:
            try:
                job = self._jobs.get(job_id)
            except JobNotFound:
                return  # deleted while it waited
            if job.status is not JobStatus.QUEUED and job.status not in LEFT_PART_WAY:
                return  # already run (by an earlier start), failed or cancelled meanwhile
            self._run_job(job_id)
        except RunInProgress as error:
            log.info("Job %s left to the process running it: %s", job_id, error)
        except Exception as error:  # the worker outlives any one run
            if self._stopping.is_set():
                return  # interrupted by shutdown: leave the job for a resumed run
            log.warning("Run of job %s failed: %s", job_id, error)
            self._mark_failed(job_id, error)
        finally:
            with self._lock:
                self._running = None

    def _mark_failed(self, job_id: str, error: Exception) -> None:
        try:
            job = self._jobs.get(job_id)
            if not job.status.is_final:
                reason = (
                    str(error)
                    if isinstance(error, StereoSpotError) and str(error)
                    else "The conversion stopped because of an internal error; see the portal log."
                )
                self._jobs.transition(job_id, JobStatus.FAILED, error=reason)
        except (JobNotFound, TransitionConflict):
            pass
