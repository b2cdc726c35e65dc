"""Run launchers: how the portal hands a queued job to the pipeline.

``RunLauncher`` is the port. ``LocalRunLauncher`` is the embedded one: a single background worker
thread that runs queued jobs one after another through ``LocalRuns``, the runs of this machine —
in the embedded stack ``stereo_spot.cli.web.ChildProcessRuns``, one ``python -m pipelines``
process a job, injected by the composition root (``stereo-spot up``), because the portal must
not import the pipeline package (it pulls in the components, and deployables stay independent).
A KFP-client launcher is the cluster's.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import secrets
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Protocol, runtime_checkable

from stereo_spot.domain import LOCAL_RUN_PREFIX, Job, JobStatus
from stereo_spot.errors import (
    JobNotFound,
    RunInProgress,
    StereoSpotError,
    StoreUnavailable,
    TransitionConflict,
)
from stereo_spot.jobs import LEFT_PART_WAY, JobStore, RunnerLease, left_part_way, left_queued

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

    def wait_stopped(self, job_id: str, timeout: float) -> bool:
        """Whether this launcher's run of the job has ended, waiting up to ``timeout`` seconds
        for it: the run of a job that ended failed or cancelled is stopped first, a completed
        job's only waited for (it is ending). True where runs cannot be seen from here (a
        cluster's steps stop at their next write to the job)."""


class LocalRuns(Protocol):
    """The runs of jobs on this machine, as the embedded launcher drives them."""

    def run(self, job_id: str) -> None:
        """Run the job's pipeline to its end; raise with the reason when it does not complete."""

    def stop(self, job_id: str) -> None:
        """Stop the job's run (cancelled): now if it is running, at once if it starts later;
        ``run`` then returns or raises."""

    def forget(self, job_id: str) -> None:
        """Remove what the job's runs left on this machine (its run folder and log)."""

    def stopped_part_way(self, job: Job) -> bool:
        """Whether a run of the job on this machine ended before it finished and nobody runs it
        now (a killed ``convert``), while its record still says it is being converted."""


# How often the job of the run in progress is read to see whether another process cancelled it.
CANCEL_POLL_SECONDS = 1.0

# The job store's runner lease (JobStore.hold_runner_lease) is renewed this often, and taken
# over from a holder that has not renewed it for LEASE_STALE_SECONDS: one killed, or cut off
# from the store for that long. Four renewals missed, not one slow request.
LEASE_RENEW_SECONDS = 15.0
LEASE_STALE_SECONDS = 60.0


class RunnerTaken(StereoSpotError):
    """Another portal with a local runner holds the job store's runner lease: two would each
    resume and run the other's jobs (the same job converted twice at once)."""


def runner_taken_sentence(holder: RunnerLease, now: float) -> str:
    """Why a second portal with a local runner does not start, naming the one that runs, and
    when its claim lapses (a portal killed on another machine renews it no more)."""
    where = f", data folder {holder.data_dir}" if holder.data_dir else ""
    ago = max(0.0, now - holder.renewed_at)
    lapses = max(1.0, LEASE_STALE_SECONDS - ago)
    return (
        f"Another Stereo-Spot portal runs this job store's conversions with its local runner "
        f"(process {holder.pid} on {holder.host}{where}, its claim renewed {ago:.0f} s ago): "
        "use that one or stop it first, or run several portals over one table with Kubeflow "
        "Pipelines (STEREO_SPOT_KFP_HOST), which need no local runner. If that portal was "
        f"killed, its claim lapses in {lapses:.0f} s: start this one again then."
    )


def _ended_here(holder: RunnerLease) -> bool:
    """Whether the lease's holder was a process of this machine that is gone."""
    if holder.host != socket.gethostname():
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


class LocalRunLauncher:
    """Drains queued jobs one at a time on a worker thread.

    One at a time because a 2-core machine gains nothing from two conversions at once (each
    already uses every core through ffmpeg and the engine). A run that raises leaves the job
    failed (the runner records the reason; this marks it if the runner could not) and the worker
    goes on with the next job. A run whose job is cancelled, here or by another process, is
    stopped within a second or so.

    It runs every job of its store that is queued or was left part-way, so it is the store's
    only one: it holds the store's runner lease from ``start`` to ``release`` (a second
    launcher's start is refused, naming this one), renewing it on a thread of its own.
    ``data_dir`` is where its runs' files are, for the refused one to name.
    """

    def __init__(self, jobs: JobStore, runs: LocalRuns, data_dir: Path | None = None) -> None:
        self._jobs = jobs
        self._runs = runs
        self._lease = RunnerLease(
            token=secrets.token_urlsafe(16),
            host=socket.gethostname(),
            pid=os.getpid(),
            data_dir=str(data_dir) if data_dir is not None else "",
            renewed_at=0.0,
        )
        self._lease_lock = threading.Lock()  # a renewal and the release never cross
        self._lease_held = False  # granted once: there is something to give up
        self._lease_given_up = False
        self._running: str | None = None
        self._stops_asked: set[str] = set()  # running jobs whose run was told to stop
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._run_ids: dict[str, str] = {}  # job id -> run id, while waiting or running
        self._counter = itertools.count(1)
        self._idle = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> LocalRunLauncher:
        """Take the job store's runner lease, start the worker and queue the jobs a previous
        start left part-way or queued (oldest first). Another launcher holding the lease raises
        RunnerTaken naming it. A job store that cannot be read (its table missing, its endpoint
        down) raises StoreUnavailable here, so that a portal refuses to start, saying so, rather
        than listening with every page failing."""
        if self._thread is None:
            held = self._renew_lease()
            if held.token != self._lease.token and _ended_here(held):
                # Its portal was killed on this machine: nobody renews it, nobody waits a minute.
                log.warning("Taking over the runner lease of process %d, which has ended", held.pid)
                self._lease = replace(self._lease, renewed_at=time.time())
                held = self._jobs.hold_runner_lease(self._lease, 0.0)
            if held.token != self._lease.token:
                raise RunnerTaken(runner_taken_sentence(held, time.time()))
            self._lease_held = True
            try:
                for job in [*left_part_way(self._jobs), *left_queued(self._jobs)]:
                    self.submit(job.job_id)
            except BaseException:
                self.release()
                raise
            threading.Thread(
                target=self._keep_lease, name="stereo-spot-runner-lease", daemon=True
            ).start()
            self._thread = threading.Thread(
                target=self._work, name="stereo-spot-local-runner", daemon=True
            )
            self._thread.start()
        return self

    def _renew_lease(self) -> RunnerLease:
        """Take or renew the lease; the lease held now (another's when refused)."""
        self._lease = replace(self._lease, renewed_at=time.time())
        return self._jobs.hold_runner_lease(self._lease, LEASE_STALE_SECONDS)

    def _keep_lease(self) -> None:
        """Renew the lease until it is released. A store that does not answer is asked again
        at the next turn (the lease lapses only after LEASE_STALE_SECONDS); a lease another
        launcher took meanwhile (this one was cut off for that long) stops this one's runs,
        which that one resumes."""
        while not self._stopping.wait(LEASE_RENEW_SECONDS):
            with self._lease_lock:
                if self._lease_given_up:
                    return
                try:
                    held = self._renew_lease()
                except Exception as error:  # the store answers a later turn
                    log.warning("The runner lease could not be renewed: %s", error)
                    continue
                if held.token == self._lease.token:
                    continue
                self._lease_given_up = True
            log.error(
                "Another portal took over this job store's runs; this one runs no more jobs: %s",
                runner_taken_sentence(held, time.time()),
            )
            self._give_up_runs()
            return

    def _give_up_runs(self) -> None:
        """Take no more jobs and stop the run in progress, leaving its job as it is for the
        lease's new holder to resume."""
        self._stopping.set()
        self._queue.put(None)
        with self._lock:
            running = self._running
        if running is not None:
            self._stop_run(running)

    def release(self) -> None:
        """Give the job store's runner lease up, for another portal to start: once ``stop``
        was called and the run in progress, if any, was stopped (its job is then resumed by
        whichever portal starts next)."""
        self._stopping.set()
        with self._lease_lock:
            if self._lease_given_up or not self._lease_held:
                self._lease_given_up = True
                return
            self._lease_given_up = True
        try:
            self._jobs.release_runner_lease(self._lease.token)
        except Exception as error:  # it lapses after LEASE_STALE_SECONDS
            log.warning("The runner lease could not be given up: %s", error)

    def submit(self, job_id: str) -> str:
        with self._lock:
            run_id = self._run_ids.get(job_id)
            if run_id is None:
                run_id = f"{LOCAL_RUN_PREFIX}{next(self._counter)}-{job_id[:8]}"
                self._run_ids[job_id] = run_id
                self._queue.put(job_id)
            return run_id

    def cancel(self, job_id: str) -> None:
        # A waiting job is skipped when its turn comes (it is no longer queued).
        self._stop_run(job_id)

    def wait_stopped(self, job_id: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._running != job_id:
                return True
        try:
            failed = self._jobs.get(job_id).status is JobStatus.FAILED
        except JobNotFound:
            failed = True
        if failed:
            self._stop_run(job_id)
        with self._idle:
            return self._idle.wait_for(
                lambda: self._running != job_id, max(0.0, deadline - time.monotonic())
            )

    def _stop_run(self, job_id: str) -> None:
        """Stop the run of ``job_id`` if it is the one running, once (a cancel here, a cancel
        seen from elsewhere and a delete may all ask; the run's log says once that it was
        interrupted)."""
        with self._lock:
            if self._running != job_id or job_id in self._stops_asked:
                return
            self._stops_asked.add(job_id)
        self._runs.stop(job_id)

    def forget(self, job_id: str) -> None:
        self._runs.forget(job_id)

    def stopped_part_way(self, job: Job) -> bool:
        with self._lock:
            mine = job.job_id in self._run_ids  # waiting here to be resumed, or running
        return not mine and self._runs.stopped_part_way(job)

    def run_ids(self) -> dict[str, str]:
        """Job id -> run id of every job waiting or running now."""
        with self._lock:
            return dict(self._run_ids)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking jobs. A run in progress is not interrupted (the thread is a daemon); once
        none is (the worker has ended within ``timeout``), the runner lease is given up too."""
        self._stopping.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self.release()

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
            ended = threading.Event()
            threading.Thread(
                target=self._stop_if_cancelled_elsewhere,
                args=(job_id, ended),
                name=f"stereo-spot-cancel-watch-{job_id[:8]}",
                daemon=True,
            ).start()
            try:
                self._runs.run(job_id)
            finally:
                ended.set()
        except RunInProgress as error:
            log.info("Job %s left to the process running it: %s", job_id, error)
        except StoreUnavailable as error:
            # The job store is gone or unreachable: the job can be neither read nor marked, so
            # it stays as it is for the next start to take up, and the worker goes on.
            log.warning("Job %s left as it is: %s", job_id, error)
        except Exception as error:  # the worker outlives any one run
            if self._stopping.is_set():
                return  # interrupted by shutdown: leave the job for a resumed run
            log.warning("Run of job %s failed: %s", job_id, error)
            self._mark_failed(job_id, error)
        finally:
            with self._idle:
                self._running = None
                self._stops_asked.discard(job_id)
                self._idle.notify_all()

    def _stop_if_cancelled_elsewhere(self, job_id: str, ended: threading.Event) -> None:
        """Stop the run once its job is cancelled by another process (``jobs cancel``, another
        portal): the run itself would notice only at its steps' next write to the job, minutes
        away on a slow segment, and meanwhile it holds this one-at-a-time queue."""
        while not ended.wait(CANCEL_POLL_SECONDS):
            try:
                cancelled = self._jobs.get(job_id).cancelled
            except JobNotFound:
                cancelled = True  # nothing left to convert for
            except Exception:  # the store answers the next poll; the run goes on meanwhile
                log.debug("job %s: could not read it to see if it was cancelled", job_id)
                continue
            if cancelled:
                self._stop_run(job_id)
                return

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
        except StoreUnavailable as unavailable:
            # Not marked, not lost: the worker outlives the store's outage.
            log.warning("Job %s could not be marked failed: %s", job_id, unavailable)
