"""One portal with a local runner per DynamoDB table (docs/AWS.md): the local runner resumes every
job of its table left part-way or queued, so a second one over the same table, another
replica, would run the first one's jobs again at the same time. Its start is refused naming the
first; a killed one's claim is taken over once it has not been renewed for a minute; and a
portal whose claim was taken runs nothing more. On moto server, as `stereo-spot portal` runs."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import boto3
import pytest

from portal import launcher as launcher_module
from portal.launcher import LEASE_STALE_SECONDS, LocalRunLauncher, RunnerTaken
from stereo_spot.cli import main
from stereo_spot.cli.web import ChildProcessRuns
from stereo_spot.domain import Job, JobStatus
from stereo_spot.jobs import RunnerLease
from stereo_spot.jobs.dynamo import RUNNER_LEASE_KEY
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from
from tests import aws_fixtures


@pytest.fixture
def table_settings(moto_endpoint: str, tmp_path: Path) -> Settings:
    """A table and bucket of their own; no model server (a run fails at once, saying so)."""
    return aws_fixtures.made_aws_settings("lease", data_dir=tmp_path / "first")


def _launcher(settings: Settings) -> LocalRunLauncher:
    jobs = job_store_from(settings)
    return LocalRunLauncher(jobs, ChildProcessRuns(settings, jobs), settings.data_dir)


def _replica(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"data_dir": tmp_path / "second"})


def _part_way(jobs) -> str:
    job_id = jobs.create(Job()).job_id
    for status in (JobStatus.QUEUED, JobStatus.CHUNKING, JobStatus.PROCESSING):
        jobs.transition(job_id, status)
    return job_id


def _write_renewal_back(settings: Settings, seconds: float) -> None:
    """What a holder killed ``seconds`` ago leaves: its last renewal that long past."""
    boto3.client("dynamodb").update_item(
        TableName=settings.jobs_table,
        Key={"job_id": {"S": RUNNER_LEASE_KEY}},
        UpdateExpression="SET renewed_at = :then",
        ExpressionAttributeValues={":then": {"N": repr(time.time() - seconds)}},
    )


def test_a_second_local_runner_over_the_table_is_refused_naming_the_first(
    table_settings: Settings, tmp_path: Path
) -> None:
    first = _launcher(table_settings).start()
    try:
        converting = _part_way(job_store_from(table_settings))  # the first would resume it
        second = _launcher(_replica(table_settings, tmp_path))
        with pytest.raises(RunnerTaken) as refused:
            second.start()
        said = re.sub(r"(renewed|lapses in) \d+ s", r"\1 N s", str(refused.value))
        assert said == (
            "Another Stereo-Spot portal runs this job store's conversions with its local "
            f"runner (process {os.getpid()} on {socket.gethostname()}, data folder "
            f"{table_settings.data_dir}, its claim renewed N s ago): use that one or stop it "
            "first, or run several portals over one table with Kubeflow Pipelines "
            "(STEREO_SPOT_KFP_HOST), which need no local runner. If that portal was killed, its "
            "claim lapses in N s: start this one again then."
        )
        assert converting not in second.run_ids()
    finally:
        first.stop()

    # Stopped cleanly, the first gave its claim up: the next starts at once.
    second = _launcher(_replica(table_settings, tmp_path)).start()
    try:
        assert converting in second.run_ids() or second.wait_idle(timeout=30)
    finally:
        second.stop()


def test_a_killed_portals_claim_is_taken_over_once_a_minute_old(
    table_settings: Settings, tmp_path: Path
) -> None:
    jobs = job_store_from(table_settings)
    killed = RunnerLease(
        token="killed", host="gone-host", pid=31534, data_dir="/srv/gone", renewed_at=time.time()
    )
    jobs.hold_runner_lease(killed, LEASE_STALE_SECONDS)
    left = _part_way(jobs)
    _write_renewal_back(table_settings, LEASE_STALE_SECONDS - 10)

    with pytest.raises(RunnerTaken, match=r"process 31534 on gone-host, data folder /srv/gone"):
        _launcher(table_settings).start()

    _write_renewal_back(table_settings, LEASE_STALE_SECONDS + 5)
    taking_over = _launcher(table_settings).start()
    try:
        assert taking_over.wait_idle(timeout=30)
        assert jobs.get(left).status is JobStatus.FAILED  # resumed (no model server: it failed)
        with pytest.raises(RunnerTaken, match=f"process {os.getpid()} "):
            _launcher(_replica(table_settings, tmp_path)).start()
    finally:
        taking_over.stop()


def test_a_claim_left_by_a_process_of_this_machine_that_has_ended_is_taken_at_once(
    table_settings: Settings, tmp_path: Path
) -> None:
    # A portal killed here a moment ago: its claim would otherwise hold the next start off for
    # a minute, the refusal naming a process that no longer exists.
    ended = subprocess.Popen(["true"])
    ended.wait()
    jobs = job_store_from(table_settings)
    killed = RunnerLease(
        token="killed",
        host=socket.gethostname(),
        pid=ended.pid,
        data_dir="",
        renewed_at=time.time(),
    )
    jobs.hold_runner_lease(killed, LEASE_STALE_SECONDS)

    starting = _launcher(table_settings).start()
    try:
        with pytest.raises(RunnerTaken, match=f"process {os.getpid()} "):
            _launcher(_replica(table_settings, tmp_path)).start()
    finally:
        starting.stop()


def test_a_portal_whose_claim_was_taken_runs_no_more_jobs(
    table_settings: Settings, tmp_path: Path, monkeypatch, caplog
) -> None:
    """Cut off from the table for over a minute, a portal finds on its next renewal that
    another took its jobs over: it stops taking them rather than run them a second time."""
    monkeypatch.setattr(launcher_module, "LEASE_RENEW_SECONDS", 0.1)
    jobs = job_store_from(table_settings)
    cut_off = _launcher(table_settings).start()
    try:
        _write_renewal_back(table_settings, LEASE_STALE_SECONDS + 5)
        other = RunnerLease(
            token="other", host="other-host", pid=7, data_dir="/srv/other", renewed_at=time.time()
        )
        assert jobs.hold_runner_lease(other, LEASE_STALE_SECONDS) == other
        with caplog.at_level(logging.ERROR, logger="portal.launcher"):
            deadline = time.monotonic() + 10
            while "took over" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.05)
        assert "Another portal took over this job store's runs" in caplog.text

        queued = jobs.create(Job()).job_id
        jobs.transition(queued, JobStatus.QUEUED)
        cut_off.submit(queued)
        assert not cut_off.wait_idle(timeout=1.5)
        assert jobs.get(queued).status is JobStatus.QUEUED  # left to the other portal
    finally:
        cut_off.stop()
    # The stopped one gave up nothing that was not its own.
    third = RunnerLease(**{**vars(other), "token": "third"})
    assert jobs.hold_runner_lease(third, LEASE_STALE_SECONDS) == other


def test_stereo_spot_portal_refuses_to_start_beside_another_local_runner(
    table_settings: Settings, tmp_path: Path, monkeypatch, capsys
) -> None:
    first = _launcher(table_settings).start()
    try:
        for name, value in {
            "STEREO_SPOT_BACKEND": "aws",
            "STEREO_SPOT_BUCKET": table_settings.bucket,
            "STEREO_SPOT_JOBS_TABLE": table_settings.jobs_table,
            "STEREO_SPOT_DATA_DIR": str(tmp_path / "second"),
            "STEREO_SPOT_MODEL_URL": "http://127.0.0.1:9",  # named, so none is started
            "STEREO_SPOT_SECRET_KEY": "shared-secret-key-0123456789",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("STEREO_SPOT_KFP_HOST", raising=False)

        assert main(["portal", "--port", "0"]) == 1
    finally:
        first.stop()
    said = capsys.readouterr().err
    assert said.startswith("stereo-spot: Another Stereo-Spot portal runs this job store's")
    assert f"data folder {table_settings.data_dir}" in said
    assert "Stereo-Spot is running" not in capsys.readouterr().out
