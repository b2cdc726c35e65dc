"""Run the pipeline on this machine through ``kfp.local`` (one process per task, no cluster)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from stereo_spot import keys
from stereo_spot.domain import Job, JobStatus
from stereo_spot.errors import RunInProgress, StereoSpotError
from stereo_spot.held_files import say_who_holds, try_to_hold
from stereo_spot.jobs import LEFT_PART_WAY
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from, storage_from

log = logging.getLogger(__name__)


class PipelineFailed(StereoSpotError):
    """The run ended without a result; the message is the job's recorded reason."""


def pipeline_arguments(settings: Settings, job_id: str, segment_seconds: float) -> dict:
    """The run's parameters for a stored job (shared with the cluster launcher)."""
    from components.chunk import run_settings_of

    job = job_store_from(settings).get(job_id)
    storage = storage_from(settings)
    return {
        "job_id": job_id,
        "source_uri": storage.uri_for(keys.source_key(job_id)),
        # What the chunk step checks against the record (the run's layout and parameters).
        **run_settings_of(job),
        "segment_seconds": segment_seconds,
        "model_url": settings.model_url or "",
    }


def run_job(settings: Settings, job_id: str, segment_seconds: float | None = None) -> None:
    """Run the whole pipeline for a job whose source is stored; block until it ends.

    Progress and the outcome are in the job store. Raises PipelineFailed with the job's reason
    when the run fails (the job is marked failed by then).
    """
    from kfp import local

    from pipelines.stereo_pipeline import stereo_pipeline

    jobs = job_store_from(settings)
    if not settings.model_url:
        # Recorded on the job too: the portal runs this in a child process and shows the job's
        # reason, not what the process printed.
        reason = "No model server is configured (STEREO_SPOT_MODEL_URL)."
        if not jobs.get(job_id).status.is_final:
            jobs.transition(job_id, JobStatus.FAILED, error=reason)
        raise PipelineFailed(reason)
    arguments = pipeline_arguments(settings, job_id, segment_seconds or settings.segment_seconds)
    # Each task runs in a child process that reads its settings from the environment.
    os.environ.update(settings.as_environment())
    run_root = Path(settings.runs_dir) / job_id
    lock = _hold_run_lock(run_root, job_id)
    try:
        with _scratch_folder(run_root) as scratch:
            local.init(
                runner=local.SubprocessRunner(use_venv=False),
                pipeline_root=str(run_root / "outputs"),
                workspace_root=str(scratch / "workspace"),
                raise_on_error=True,
            )
            stereo_pipeline(**arguments)
    except Exception as error:  # kfp.local raises RuntimeError with its own summary
        log.info("job %s: pipeline ended with %s", job_id, error)
        job = jobs.get(job_id)
        if not job.status.is_final:
            jobs.transition(job_id, JobStatus.FAILED, error=job.error or "The pipeline failed.")
            job = jobs.get(job_id)
        raise PipelineFailed(job.error or "The pipeline failed.") from None
    finally:
        lock.close()
    job = jobs.get(job_id)
    if job.status is not JobStatus.COMPLETED:
        raise PipelineFailed(job.error or "The pipeline finished without a result.")


def being_converted(job_id: str, holder: str | None) -> str:
    """How every refusal names a job that a process on this machine runs: ``holder`` as its run
    lock gives it ("process 1234"), or None when the lock was let go before it was asked."""
    return f"Job {job_id} is being converted by {holder or 'another process'}"


def _lock_path(run_root: Path) -> Path:
    return run_root / "run.lock"


def _hold_run_lock(run_root: Path, job_id: str) -> TextIO:
    """Hold the job's run lock for as long as this process runs it (the kernel lets go of it
    when the process ends, however it ends); raises RunInProgress when another holds it."""
    run_root.mkdir(parents=True, exist_ok=True)
    lock, holder = try_to_hold(_lock_path(run_root))
    if lock is None:
        raise RunInProgress(f"{being_converted(job_id, holder)}.")
    say_who_holds(lock, f"process {os.getpid()}")
    return lock


def run_in_progress(settings: Settings, job_id: str) -> str | None:
    """Who runs the job on this machine now ("process 1234"), or None when nobody does."""
    path = _lock_path(Path(settings.runs_dir) / job_id)
    if not path.exists():
        return None
    lock, holder = try_to_hold(path)
    if lock is not None:
        lock.close()  # nobody had it: let go at once
    return holder


def stopped_part_way(settings: Settings, job: Job) -> bool:
    """Whether the job's record says it is being converted while its run on this machine has
    ended, nobody running it now (the run was killed or its machine stopped). A job whose runs
    were never on this machine (a cluster's) is not judged: its lock file is not here.

    A queued job counts when a ``convert`` made it (it has an output path) and its run was
    stopped before it took its lock (:func:`mark_run_stopped`): no queue will ever start it. A
    portal's queued job (no output path) is waiting its turn, not stopped."""
    convert_stopped_it_early = job.status is JobStatus.QUEUED and bool(job.output_path)
    return (
        (job.status in LEFT_PART_WAY or convert_stopped_it_early)
        and _lock_path(Path(settings.runs_dir) / job.job_id).exists()
        and run_in_progress(settings, job.job_id) is None
    )


def mark_run_stopped(settings: Settings, job_id: str) -> None:
    """Leave the job's run lock file behind, held by nobody, for a run that was stopped: one
    stopped in its first second or two (its runner still importing) had not made it yet, and
    its job, left queued with no trace of a run, read as running forever (jobs list, its page,
    a delete refused). Harmless when the run had made it: it is only a file."""
    run_root = Path(settings.runs_dir) / job_id
    with contextlib.suppress(OSError):  # a full disk: the job is then left as it was
        run_root.mkdir(parents=True, exist_ok=True)
        _lock_path(run_root).touch()


@contextlib.contextmanager
def _scratch_folder(run_root: Path) -> Iterator[Path]:
    """The run's temporary folder, made the temporary folder of every task it starts while
    the run lasts, then removed.

    kfp.local makes a workspace folder per run, and each lightweight component writes its code
    into a ``mktemp -d`` folder that nothing removes: thousands of folders in /tmp after a few
    hundred conversions. Here they all land in one folder the run removes when it ends; a run
    that was killed leaves it to the job's next run, which clears it first.
    """
    scratch = run_root / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    (scratch / "workspace").mkdir(parents=True)
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(scratch)
    tempfile.tempdir = None  # this process's own temporary files follow too
    try:
        yield scratch
    finally:
        if before is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = before
        tempfile.tempdir = None
        shutil.rmtree(scratch, ignore_errors=True)


def drop_scratch(settings: Settings, job_id: str) -> None:
    """Remove the scratch folder a stopped run left (its next run would clear it first): on a
    disk that filled, the room it frees lets the job store there record why the job failed."""
    shutil.rmtree(Path(settings.runs_dir) / job_id / "scratch", ignore_errors=True)


def run_log_path(settings: Settings, job_id: str) -> Path:
    """Where the output of the job's runs on this machine goes (each run appends)."""
    return Path(settings.data_dir) / "logs" / f"run-{job_id}.log"


def drop_run_folder(settings: Settings, job: Job) -> None:
    """Remove the run folder of a job that ended failed or cancelled, once no run holds it: no
    run resumes such a job, and one stopped by a signal skipped its own cleanup, leaving its
    scratch (kfp.local's workspace, a link to the source) and outputs until the job's delete.
    Its log stays: it tells why the job failed."""
    if job.status is JobStatus.FAILED and run_in_progress(settings, job.job_id) is None:
        shutil.rmtree(Path(settings.runs_dir) / job.job_id, ignore_errors=True)


def forget_run(settings: Settings, job_id: str) -> None:
    """Remove what the job's runs left on this machine: its run folder (segment work, the run
    lock) and its log. For a job being deleted; its stored media go separately."""
    shutil.rmtree(Path(settings.runs_dir) / job_id, ignore_errors=True)
    run_log_path(settings, job_id).unlink(missing_ok=True)


def start_job_process(
    settings: Settings, job_id: str, segment_seconds: float | None = None
) -> tuple[subprocess.Popen, Path]:
    """Run :func:`run_job` in a child process (isolates kfp.local's global state and its output).

    Returns the process and the log file its output goes to. The runner leads a process group of
    its own, with the task processes kfp.local starts: stop it with :func:`stop_job_process`,
    which reaches them too (a convert task left behind would keep waiting for its server).

    Ctrl-C or SIGTERM while the runner starts is held off until it has been stopped again: the
    caller, interrupted, never gets the process to stop, and the run would go on converting
    after the command had ended (``convert`` of a batch, whose next video starts while it is
    busy, lost it so on a loaded machine).
    """
    log_path = run_log_path(settings, job_id)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pipelines"]
    if segment_seconds:
        command += ["--segment-seconds", f"{segment_seconds:g}"]
    # The runner ends with this process, however this one ends (pipelines/__main__.py).
    command += ["--parent-pid", str(os.getpid())]
    # "--": an id stored before ids avoided a leading "-" must not be read as an option.
    command += ["--", job_id]
    with _interrupts_held() as interrupts:
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(
                command,
                env={**os.environ, **settings.as_environment()},
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        if interrupts:
            stop_job_process(process, log_path)
    if interrupts:
        # Again for one that came as the handlers were given back, after the look above (for a
        # runner already stopped, a look at its empty group).
        stop_job_process(process, log_path)
        signal.raise_signal(interrupts[0])  # lands as it would have: KeyboardInterrupt, or death
    return process, log_path


@contextlib.contextmanager
def _interrupts_held() -> Iterator[list[int]]:
    """Hold SIGINT and SIGTERM off while the body runs, noting those that came in the list it
    yields. Only the main thread is interrupted by them, so elsewhere nothing is held."""
    came: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield came
        return
    # One ignored stays ignored; one handled outside Python (None) could not be given back.
    held = [
        signum
        for signum in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(signum) not in (signal.SIG_IGN, None)
    ]

    def note(signum: int, _frame: object) -> None:
        came.append(signum)

    previous = {signum: signal.signal(signum, note) for signum in held}
    try:
        yield came
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _signal_group(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to a runner from :func:`start_job_process` and every task it started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


# How long the tasks of a stopped run may take to end after its runner has, before they are
# killed.
STRAGGLER_SECONDS = 2.0
# How long a runner may take to end on SIGTERM before it is killed. It ends at once (it leaves
# the signal to the kernel: pipelines/__main__.py); one that has not by then never will, and
# the command stopping it would wait for it forever.
RUNNER_STOP_SECONDS = 10.0


def stop_job_process(
    process: subprocess.Popen, log_path: Path, runner_seconds: float = RUNNER_STOP_SECONDS
) -> None:
    """Stop a runner from :func:`start_job_process` and every task it started, and return once
    none of them runs any more (the runner killed if it takes over ``runner_seconds``). A
    runner that the signal ended is said to have been interrupted in its log, ``log_path``,
    once it has ended: nothing it writes can come after that line. One that was ending by
    itself as it was stopped (its exit code its own, or its pipeline's end its log's last line)
    is not: its log said the pipeline had finished, then that it was interrupted.

    One SIGTERM to the process group is not enough: a task the runner (or a task's shell) was
    starting in that very moment joins the group after the signal went out, and would go on
    converting a segment of a stopped run. So once the runner has ended, and can start no
    more, the group is signalled again until nobody is left in it. A runner that has ended by
    itself is not signalled (its group's number may be another's by now), only what is left of
    its group.
    """
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=runner_seconds)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
        if _ended_by_signal(process.returncode) and not _pipeline_finished(log_path):
            note_interrupted(log_path)
    deadline = time.monotonic() + STRAGGLER_SECONDS
    while _group_running(process.pid):
        if time.monotonic() > deadline:
            _signal_group(process, signal.SIGKILL)
            break
        _signal_group(process, signal.SIGTERM)
        time.sleep(0.05)


# The last line of the log of a run that was stopped.
INTERRUPTED = "The run was interrupted; the segments it converted are kept."


def note_interrupted(log_path: Path) -> None:
    stamp = time.strftime("%H:%M:%S")
    # A full disk (often why the run is stopped) cannot take the line: its "No space left on
    # device" would take the place of the reason the run stopped.
    with contextlib.suppress(OSError), open(log_path, "a") as log_file:
        log_file.write(f"\n{stamp} {INTERRUPTED}\n")


# kfp.local's last line of a run: "Pipeline 'stereo-spot' finished with status SUCCESS", the
# name and status in colour (terminal escapes around them).
_PIPELINE_FINISHED = re.compile(r"Pipeline \S+ finished with status")


def _ended_by_signal(returncode: int) -> bool:
    """Whether an exit code says the process was ended by a signal: negative from Python, above 128
    (128 + the signal's number) from a shell or a handler that exits as one would."""
    return returncode < 0 or returncode > 128


def _pipeline_finished(log_path: Path) -> bool:
    """Whether the log's last line says the pipeline ended: a runner stopped after that was
    winding down (its lock let go, its scratch folder being removed), not interrupted."""
    try:
        with open(log_path, "rb") as log_file:
            log_file.seek(max(0, log_file.seek(0, os.SEEK_END) - 4096))
            tail = log_file.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return False
    return bool(tail) and _PIPELINE_FINISHED.search(tail[-1]) is not None


def _group_running(group: int) -> bool:
    """Whether a process of process group ``group`` still runs (ended ones waiting to be reaped
    by whoever inherited them do not count). Read from /proc; where there is none, False: the
    kernel's own answer would count those ended ones, and a group found empty may have its
    number given to another."""
    proc = Path("/proc")
    if not proc.is_dir():
        return False
    for stat in proc.glob("[0-9]*/stat"):
        try:
            # After the command's name: state, parent, process group.
            state, _parent, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue  # ended while we looked
        if int(pgrp) == group and state != "Z":
            return True
    return False
