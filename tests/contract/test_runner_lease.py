"""The job store's runner lease (JobStore.hold_runner_lease): one portal with a local runner per
DynamoDB table, the holder named to whoever is refused, a killed holder's lease taken over, and
the lease never shown as a job. The SQLite store grants it always: the data folder's claim keeps
a second portal off it."""

from __future__ import annotations

import time

import boto3
import pytest

from stereo_spot.domain import Job, JobStatus
from stereo_spot.errors import JobNotFound
from stereo_spot.jobs import JobStore, RunnerLease, find
from stereo_spot.jobs.dynamo import RUNNER_LEASE_KEY

STALE_AFTER = 60.0

only_dynamodb = pytest.mark.parametrize("job_store", ["aws"], indirect=True)


def _lease(token: str, renewed_at: float | None = None) -> RunnerLease:
    return RunnerLease(
        token=token,
        host=f"host-{token}",
        pid=4242,
        data_dir=f"/srv/{token}",
        renewed_at=time.time() if renewed_at is None else renewed_at,
    )


def _write_renewal_back(job_store, seconds: float) -> None:
    """What a holder killed ``seconds`` ago leaves: its last renewal that long past."""
    boto3.client("dynamodb").update_item(
        TableName=job_store.table_name,
        Key={"job_id": {"S": RUNNER_LEASE_KEY}},
        UpdateExpression="SET renewed_at = :then",
        ExpressionAttributeValues={":then": {"N": repr(time.time() - seconds)}},
    )


@only_dynamodb
def test_a_second_holder_is_refused_and_told_who_holds(job_store: JobStore) -> None:
    first = _lease("first")
    assert job_store.hold_runner_lease(first, STALE_AFTER) == first

    assert job_store.hold_runner_lease(_lease("second"), STALE_AFTER) == first


@only_dynamodb
def test_the_holder_renews_its_own_lease(job_store: JobStore) -> None:
    job_store.hold_runner_lease(_lease("first"), STALE_AFTER)
    renewed = _lease("first", renewed_at=time.time() + 5)

    assert job_store.hold_runner_lease(renewed, STALE_AFTER) == renewed
    assert job_store.hold_runner_lease(_lease("second"), STALE_AFTER) == renewed


@only_dynamodb
def test_a_lease_a_killed_holder_left_is_taken_over(job_store: JobStore) -> None:
    job_store.hold_runner_lease(_lease("killed"), STALE_AFTER)
    _write_renewal_back(job_store, STALE_AFTER - 5)
    assert job_store.hold_runner_lease(_lease("next"), STALE_AFTER).token == "killed"

    _write_renewal_back(job_store, STALE_AFTER + 5)
    taken = _lease("next")
    assert job_store.hold_runner_lease(taken, STALE_AFTER) == taken
    assert job_store.hold_runner_lease(_lease("killed"), STALE_AFTER) == taken


@only_dynamodb
def test_a_released_lease_is_free_and_only_its_holder_releases_it(job_store: JobStore) -> None:
    first = _lease("first")
    job_store.hold_runner_lease(first, STALE_AFTER)
    job_store.release_runner_lease("someone-else")
    assert job_store.hold_runner_lease(_lease("second"), STALE_AFTER) == first

    job_store.release_runner_lease("first")
    job_store.release_runner_lease("first")  # twice: nothing to give up

    second = _lease("second")
    assert job_store.hold_runner_lease(second, STALE_AFTER) == second


@only_dynamodb
def test_listings_never_show_the_lease(job_store: JobStore) -> None:
    job_store.hold_runner_lease(_lease("first"), STALE_AFTER)
    done = job_store.create(Job())
    job_store.transition(done.job_id, JobStatus.QUEUED)
    job_store.transition(done.job_id, JobStatus.COMPLETED)
    waiting = job_store.create(Job())

    assert [job.job_id for job in job_store.list_all()] == [waiting.job_id, done.job_id]
    assert [job.job_id for job in job_store.list_completed().jobs] == [done.job_id]
    every_status = job_store.list_by_status(list(JobStatus), limit=10)
    assert [job.job_id for job in every_status.jobs] == [waiting.job_id, done.job_id]
    assert every_status.next_cursor is None
    with pytest.raises(JobNotFound):
        find(job_store, RUNNER_LEASE_KEY)  # what `stereo-spot jobs show` looks a job up with


@pytest.mark.parametrize("job_store", ["local"], indirect=True)
def test_the_sqlite_store_leaves_refusing_to_its_folders_claim(job_store: JobStore) -> None:
    """Only the portal that claims the data folder opens its store with a runner, and a killed
    one's claim goes with it: a lease here would only hold off the next start for a minute."""
    job_store.hold_runner_lease(_lease("killed"), STALE_AFTER)
    after_it = _lease("next")
    assert job_store.hold_runner_lease(after_it, STALE_AFTER) == after_it
    job_store.release_runner_lease("next")
    assert job_store.list_all() == []
