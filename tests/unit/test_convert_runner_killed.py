"""``convert`` following a pipeline runner that is killed from outside (the OOM killer,
``kill -9``): the job stays resumable and the message says how the run ended, in the words the
model server's failures use (``inference_service.launcher.how_it_ended``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from inference_service.launcher import how_it_ended
from stereo_spot.cli.follow_run import ConversionFailed, run_with_progress
from stereo_spot.domain import Job, JobStatus
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from


def test_a_runner_killed_from_outside_leaves_the_job_resumable_and_says_how(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, backend="local")
    jobs = job_store_from(settings)
    job = jobs.create(Job())
    jobs.transition(job.job_id, JobStatus.UPLOADED)
    jobs.transition(job.job_id, JobStatus.QUEUED)
    # A real child that the kernel kills with SIGKILL, as the OOM killer would.
    runner = subprocess.Popen(
        [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
        start_new_session=True,
    )

    with pytest.raises(ConversionFailed) as failed:
        run_with_progress(settings, job.job_id, None, started=(runner, tmp_path / "run.log"))

    assert str(failed.value) == (
        "The run stopped (killed by SIGKILL, signal 9) before it finished; "
        f"resume it with: stereo-spot jobs retry {job.job_id}"
    )
    assert not jobs.get(job.job_id).status.is_final, "resumable with jobs retry"


def test_how_a_process_ended_is_worded_once() -> None:
    assert how_it_ended(0) == "exit code 0"
    assert how_it_ended(3) == "exit code 3"
    assert how_it_ended(-11) == "killed by SIGSEGV, signal 11"
