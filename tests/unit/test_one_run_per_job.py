"""A job runs in one process at a time on a machine: a second ``jobs retry`` (or a runner the
portal starts) while a ``convert`` runs it is refused and leaves the job as it is. Two runs
would redo each other's segments, and the first to end removed the other's scratch folder.

The run lock is the runner's own (``pipelines.local_runner``), held here by a real child
process, as a running ``python -m pipelines JOB`` holds it (``tests.processes.run_lock_held``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from pipelines.local_runner import run_in_progress
from stereo_spot.cli import main
from stereo_spot.domain import Job, JobStatus
from stereo_spot.errors import RunInProgress
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from
from tests.processes import run_lock_held


def test_a_job_run_elsewhere_is_not_run_again_and_is_left_as_it_is(tmp_path, capsys) -> None:
    settings = Settings(data_dir=tmp_path, backend="local")
    jobs = job_store_from(settings)
    job = jobs.create(Job(source_name="film.mp4"))
    for status in (JobStatus.UPLOADED, JobStatus.QUEUED, JobStatus.CHUNKING):
        jobs.transition(job.job_id, status)
    with run_lock_held(settings.runs_dir, job.job_id) as holder:
        assert run_in_progress(settings, job.job_id) == f"process {holder.pid}"

        retried = main(["jobs", "retry", "--data-dir", str(tmp_path), job.job_id])
        runner = subprocess.run(
            [sys.executable, "-m", "pipelines", job.job_id],
            # A server that is never reached: the lock is looked at first.
            env={**os.environ, **settings.as_environment(), "STEREO_SPOT_MODEL_URL": "http://127.0.0.1:9"},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    assert retried == 1
    assert capsys.readouterr().err.strip() == (
        f"stereo-spot: Job {job.job_id} is being converted by process {holder.pid} on this "
        f"machine; let it finish, or stop it with: stereo-spot jobs cancel {job.job_id}"
    )
    assert runner.returncode == RunInProgress.exit_code, runner.stderr
    assert jobs.get(job.job_id).status is JobStatus.CHUNKING, "left to the run that has it"
    # The kernel lets go of the lock with the process, however it ended.
    deadline = time.monotonic() + 10
    while run_in_progress(settings, job.job_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run_in_progress(settings, job.job_id) is None
