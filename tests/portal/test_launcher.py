"""LocalRunLauncher with the real runner, a process a run as ``stereo-spot up`` runs it: one
worker, survives failures, resumes queued jobs.

No model server is configured here, so each run fails at once with the runner's own reason —
which is exactly what these tests need to see handled.
"""

from __future__ import annotations

from portal.launcher import LocalRunLauncher
from stereo_spot.cli.web import ChildProcessRuns
from stereo_spot.domain import Job, JobStatus


def _queued(jobs) -> str:
    job = jobs.create(Job())
    jobs.transition(job.job_id, JobStatus.QUEUED)
    return job.job_id


def test_worker_survives_failed_runs_and_records_the_reason(jobs, settings) -> None:
    launcher = LocalRunLauncher(jobs, ChildProcessRuns(settings, jobs)).start()
    first, second = _queued(jobs), _queued(jobs)

    launcher.submit(first)
    launcher.submit(second)
    assert launcher.wait_idle(timeout=30)
    launcher.stop()

    for job_id in (first, second):
        job = jobs.get(job_id)
        assert job.status is JobStatus.FAILED
        assert "model server" in job.error


def test_queued_jobs_left_from_a_previous_start_are_picked_up(jobs, settings) -> None:
    left_over = _queued(jobs)
    never_started = jobs.create(Job()).job_id

    launcher = LocalRunLauncher(jobs, ChildProcessRuns(settings, jobs))
    assert list(launcher.start().run_ids()) in ([left_over], [])  # it may have finished already
    assert launcher.wait_idle(timeout=30)
    launcher.stop()

    assert jobs.get(left_over).status is JobStatus.FAILED  # it ran (and failed: no model server)
    assert jobs.get(never_started).status is JobStatus.CREATED


def test_a_job_that_is_no_longer_queued_is_not_run(jobs, settings) -> None:
    launcher = LocalRunLauncher(jobs, ChildProcessRuns(settings, jobs)).start()
    job_id = _queued(jobs)
    jobs.transition(job_id, JobStatus.COMPLETED)

    launcher.submit(job_id)
    assert launcher.wait_idle(timeout=30)
    launcher.stop()

    assert jobs.get(job_id).status is JobStatus.COMPLETED


def test_a_run_the_portal_left_part_way_is_resumed_and_a_convert_job_is_not(jobs, settings):
    part_way = _queued(jobs)
    jobs.transition(part_way, JobStatus.CHUNKING)
    jobs.transition(part_way, JobStatus.PROCESSING)  # the portal stopped during its run
    of_a_convert = _queued(jobs)  # a `convert` that was interrupted: `jobs retry` resumes it
    jobs.update(of_a_convert, output_path="/home/me/film_3d.mp4")

    launcher = LocalRunLauncher(jobs, ChildProcessRuns(settings, jobs)).start()
    assert launcher.wait_idle(timeout=30)
    launcher.stop()

    assert jobs.get(part_way).status is JobStatus.FAILED  # it ran (and failed: no model server)
    assert jobs.get(of_a_convert).status is JobStatus.QUEUED


def test_a_job_a_kubeflow_run_converts_is_not_resumed_here(jobs, settings):
    # A portal with the local runner over a table a cluster's portals also use: the cluster's
    # run goes on without it, and resumed here the job was converted twice at once.
    on_the_cluster = _queued(jobs)
    jobs.transition(on_the_cluster, JobStatus.CHUNKING)
    jobs.transition(on_the_cluster, JobStatus.PROCESSING)
    jobs.update(on_the_cluster, run_id="9a1f0c2e-kfp-run")

    launcher = LocalRunLauncher(jobs, ChildProcessRuns(settings, jobs)).start()
    assert launcher.wait_idle(timeout=30)
    launcher.stop()

    assert jobs.get(on_the_cluster).status is JobStatus.PROCESSING
