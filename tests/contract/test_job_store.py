"""The JobStore contract: one set of assertions for SqliteJobStore and DynamoJobStore (moto)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stereo_spot.domain import Job, JobStatus, Layout, Part, SourceInfo, StereoParams
from stereo_spot.errors import InvalidKey, JobNotFound, NothingToCancel, TransitionConflict
from stereo_spot.jobs import JobStore, cancel

MISSING_ID = "no_such_job_0123456789"


def _job(**fields: Any) -> Job:
    return Job(**{"layout": Layout.SBS, "source_name": "holiday.mp4", **fields})


def _to(store: JobStore, job: Job, *statuses: JobStatus) -> Job:
    for status in statuses:
        job = store.transition(job.job_id, status)
    return job


def test_store_meets_the_port(job_store: JobStore) -> None:
    assert isinstance(job_store, JobStore)


def test_created_job_reads_back_equal(job_store: JobStore) -> None:
    job = _job(
        params=StereoParams(divergence=2.5, convergence=0.4, edges_at_screen=True),
        source=SourceInfo(
            width=1280, height=720, frames=250, duration=10.01, fps=24.975, video_codec="h264"
        ),
    )
    assert job_store.create(job) == job
    assert job_store.get(job.job_id) == job


def test_duplicate_create_is_refused(job_store: JobStore) -> None:
    job = job_store.create(_job())
    with pytest.raises(TransitionConflict):
        job_store.create(_job(job_id=job.job_id, layout=Layout.TAB))
    assert job_store.get(job.job_id).layout is Layout.SBS


def test_missing_job_raises_job_not_found(job_store: JobStore) -> None:
    with pytest.raises(JobNotFound):
        job_store.get(MISSING_ID)
    with pytest.raises(JobNotFound):
        job_store.transition(MISSING_ID, JobStatus.UPLOADED)
    with pytest.raises(JobNotFound):
        job_store.update(MISSING_ID, total_segments=3)
    with pytest.raises(JobNotFound):
        job_store.mark_segment_done(MISSING_ID, 0)
    with pytest.raises(JobNotFound):
        job_store.delete(MISSING_ID)


def test_status_moves_forward_and_sets_fields(job_store: JobStore) -> None:
    job = job_store.create(_job())
    job = _to(job_store, job, JobStatus.UPLOADED, JobStatus.QUEUED)
    job = job_store.transition(job.job_id, JobStatus.CHUNKING, run_id="run-42")
    # Skipping ahead and staying put (an idempotent re-run) are both allowed.
    job = job_store.transition(job.job_id, JobStatus.REASSEMBLING)
    job = job_store.transition(job.job_id, JobStatus.REASSEMBLING)
    assert job.completed_at is None

    done = job_store.transition(job.job_id, JobStatus.COMPLETED)

    assert done.status is JobStatus.COMPLETED
    assert done.completed_at is not None
    assert done.run_id == "run-42"
    assert job_store.get(job.job_id) == done


def test_backward_transition_is_refused_and_changes_nothing(job_store: JobStore) -> None:
    job = job_store.create(_job())
    job = _to(job_store, job, JobStatus.QUEUED, JobStatus.PROCESSING)
    with pytest.raises(TransitionConflict, match="processing"):
        job_store.transition(job.job_id, JobStatus.CHUNKING, run_id="late")
    after = job_store.get(job.job_id)
    assert after.status is JobStatus.PROCESSING
    assert after.run_id is None


@pytest.mark.parametrize("final", [JobStatus.COMPLETED, JobStatus.FAILED])
@pytest.mark.parametrize("late", [JobStatus.PROCESSING, JobStatus.COMPLETED, JobStatus.FAILED])
def test_final_jobs_never_change_status(
    job_store: JobStore, final: JobStatus, late: JobStatus
) -> None:
    job = job_store.create(_job())
    job = _to(job_store, job, JobStatus.PROCESSING)
    job = job_store.transition(
        job.job_id, final, error="boom" if final is JobStatus.FAILED else None
    )

    with pytest.raises(TransitionConflict):
        job_store.transition(job.job_id, late, error="late")
    assert job_store.get(job.job_id) == job


def test_failure_records_the_reason(job_store: JobStore) -> None:
    job = job_store.create(_job())
    failed = job_store.transition(job.job_id, JobStatus.FAILED, error="The file is not a video.")
    assert failed.status is JobStatus.FAILED
    assert job_store.get(job.job_id).error == "The file is not a video."


def test_update_sets_fields_until_the_job_is_final(job_store: JobStore) -> None:
    job = job_store.create(_job())
    updated = job_store.update(job.job_id, total_segments=4, run_id="run-7")
    assert (updated.total_segments, updated.run_id) == (4, "run-7")
    assert job_store.get(job.job_id).total_segments == 4

    job_store.transition(job.job_id, JobStatus.FAILED, error="stopped")
    with pytest.raises(TransitionConflict):
        job_store.update(job.job_id, total_segments=9)
    assert job_store.get(job.job_id).total_segments == 4


def test_split_progress_and_preview_origin_round_trip(job_store: JobStore) -> None:
    whole = job_store.create(_job())
    preview = job_store.create(_job(preview_of=whole.job_id))
    job_store.update(preview.job_id, chunk_progress=0.375)

    stored = job_store.get(preview.job_id)
    assert (stored.chunk_progress, stored.preview_of) == (0.375, whole.job_id)
    assert job_store.get(whole.job_id).preview_of is None


def test_the_part_a_job_converts_round_trips(job_store: JobStore) -> None:
    whole = job_store.create(_job())
    part = job_store.create(_job(part_of=whole.job_id, part=Part(start=2.625, end=7)))
    to_the_end = job_store.create(_job(part_of=whole.job_id, part=Part(start=90.5)))

    assert job_store.get(part.job_id).part == Part(start=2.625, end=7)
    assert job_store.get(to_the_end.job_id).part == Part(start=90.5, end=None)
    assert job_store.get(part.job_id).cut_from == whole.job_id
    assert job_store.get(whole.job_id).part is None


def test_a_held_upload_keeps_its_probe_until_it_is_started_with_new_settings(
    job_store: JobStore,
) -> None:
    job = _to(job_store, job_store.create(_job()), JobStatus.UPLOADED)
    assert not job.held, "an upload not read yet is not held"
    info = SourceInfo(width=640, height=360, frames=48, duration=2.0, fps=24.0, video_codec="h264")

    held = job_store.update(job.job_id, source=info)

    assert held.held and job_store.get(job.job_id).source == info
    started = job_store.transition(
        job.job_id, JobStatus.QUEUED, layout=Layout.TAB, params=StereoParams(divergence=2.0)
    )
    stored = job_store.get(job.job_id)
    assert not started.held and stored.status is JobStatus.QUEUED and stored.source == info
    assert (stored.layout, stored.params.divergence) == (Layout.TAB, 2.0)


def test_cancel_fails_an_unfinished_job_once(job_store: JobStore) -> None:
    job = _to(job_store, job_store.create(_job()), JobStatus.UPLOADED, JobStatus.QUEUED)
    assert cancel(job_store, job.job_id).cancelled
    assert job_store.get(job.job_id).status is JobStatus.FAILED
    with pytest.raises(NothingToCancel):
        cancel(job_store, job.job_id)


def test_mark_segment_done_counts_each_index_once(job_store: JobStore) -> None:
    job = job_store.create(_job())
    job_store.update(job.job_id, total_segments=3)
    job_store.transition(job.job_id, JobStatus.PROCESSING)

    assert job_store.mark_segment_done(job.job_id, 0).completed_segments == 1
    assert job_store.mark_segment_done(job.job_id, 0).completed_segments == 1
    assert job_store.mark_segment_done(job.job_id, 2).completed_segments == 2
    assert job_store.get(job.job_id).completed_segments == 2
    assert job_store.get(job.job_id).progress == pytest.approx(2 / 3)


def test_damaged_pictures_add_up_once_a_segment(job_store: JobStore) -> None:
    # Those the split left out, then those the model server stood in for, segment by segment;
    # a retried segment's are not counted twice.
    job = job_store.create(_job())
    job_store.update(job.job_id, total_segments=3, damaged_frames=1)
    job_store.transition(job.job_id, JobStatus.PROCESSING)

    job_store.mark_segment_done(job.job_id, 0, damaged_frames=2)
    job_store.mark_segment_done(job.job_id, 0, damaged_frames=2)
    job_store.mark_segment_done(job.job_id, 1)
    assert job_store.mark_segment_done(job.job_id, 2, damaged_frames=3).damaged_frames == 6
    assert job_store.get(job.job_id).damaged_frames == 6
    assert "6 pictures of the video could not be decoded" in job_store.get(job.job_id).damage_note


def test_mark_segment_done_leaves_a_final_job_alone(job_store: JobStore) -> None:
    job = job_store.create(_job())
    job_store.update(job.job_id, total_segments=3)
    job_store.mark_segment_done(job.job_id, 0)
    failed = job_store.transition(job.job_id, JobStatus.FAILED, error="stopped")

    after = job_store.mark_segment_done(job.job_id, 1)

    assert after.completed_segments == 1
    assert job_store.get(job.job_id) == failed


def _complete(store: JobStore, completed_at: datetime, **fields: Any) -> Job:
    job = store.create(_job(**fields))
    store.transition(job.job_id, JobStatus.PROCESSING)
    return store.transition(job.job_id, JobStatus.COMPLETED, completed_at=completed_at)


def test_list_completed_is_newest_first_across_pages(job_store: JobStore) -> None:
    base = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    # Include a whole-second instant: its ISO form has no fraction and must still sort right.
    moments = [
        base + timedelta(minutes=m, microseconds=us)
        for m, us in [(3, 0), (1, 250), (4, 999_999), (0, 1), (2, 500_000)]
    ]
    completed = [_complete(job_store, moment) for moment in moments]
    running = job_store.create(_job())
    job_store.transition(running.job_id, JobStatus.PROCESSING)
    job_store.transition(job_store.create(_job()).job_id, JobStatus.FAILED, error="no")

    pages, cursor = [], None
    while True:
        page = job_store.list_completed(limit=2, cursor=cursor)
        pages.append([job.job_id for job in page.jobs])
        cursor = page.next_cursor
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor.isascii() and "/" not in cursor

    newest_first = [
        job.job_id for job in sorted(completed, key=lambda j: j.completed_at, reverse=True)
    ]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [job_id for page in pages for job_id in page] == newest_first


def test_list_completed_last_full_page_has_no_cursor(job_store: JobStore) -> None:
    base = datetime(2025, 3, 1, tzinfo=UTC)
    for minutes in range(4):
        _complete(job_store, base + timedelta(minutes=minutes))

    first = job_store.list_completed(limit=2)
    second = job_store.list_completed(limit=2, cursor=first.next_cursor)

    assert len(first.jobs) == 2 and first.next_cursor is not None
    assert len(second.jobs) == 2 and second.next_cursor is None
    assert job_store.list_completed(limit=10).next_cursor is None


def test_list_completed_rejects_a_forged_cursor(job_store: JobStore) -> None:
    with pytest.raises(InvalidKey):
        job_store.list_completed(limit=2, cursor="not-a-cursor!")


def test_list_by_status_merges_statuses_newest_created_first_across_pages(
    job_store: JobStore,
) -> None:
    base = datetime(2025, 2, 1, 9, 0, tzinfo=UTC)
    same_instant = base + timedelta(minutes=5)
    made = {}
    # Two jobs made in the same microsecond: their order is by id, and paging loses neither.
    for name, created_at, statuses in [
        ("failed", base + timedelta(minutes=1), (JobStatus.FAILED,)),
        ("held", base + timedelta(minutes=2, microseconds=1), (JobStatus.UPLOADED,)),
        ("converting", base + timedelta(minutes=3), (JobStatus.PROCESSING,)),
        ("tie-a", same_instant, (JobStatus.QUEUED,)),
        ("tie-b", same_instant, (JobStatus.FAILED,)),
        ("completed", base + timedelta(minutes=6), (JobStatus.COMPLETED,)),
        ("waiting for upload", base + timedelta(minutes=4), ()),
    ]:
        job = job_store.create(_job(created_at=created_at, source_name=name))
        made[name] = _to(job_store, job, *statuses) if statuses else job
    unfinished = [status for status in JobStatus if status is not JobStatus.COMPLETED]

    pages, cursor = [], None
    while True:
        page = job_store.list_by_status(unfinished, limit=2, cursor=cursor)
        pages.append([job.source_name for job in page.jobs])
        cursor = page.next_cursor
        if cursor is None:
            break

    ties = sorted(["tie-a", "tie-b"], key=lambda name: made[name].job_id, reverse=True)
    assert pages == [ties, ["waiting for upload", "converting"], ["held", "failed"]]
    failed = job_store.list_by_status([JobStatus.FAILED], limit=10)
    assert [job.source_name for job in failed.jobs] == ["tie-b", "failed"]
    assert failed.next_cursor is None
    assert job_store.list_by_status([], limit=10).jobs == []


def test_list_by_status_refuses_another_listings_cursor(job_store: JobStore) -> None:
    base = datetime(2025, 3, 1, tzinfo=UTC)
    for minutes in range(3):
        _complete(job_store, base + timedelta(minutes=minutes))
        job_store.create(_job(created_at=base + timedelta(minutes=minutes)))
    completed_cursor = job_store.list_completed(limit=1).next_cursor
    created_cursor = job_store.list_by_status([JobStatus.CREATED], limit=1).next_cursor
    assert completed_cursor and created_cursor

    with pytest.raises(InvalidKey):
        job_store.list_by_status([JobStatus.CREATED], cursor=completed_cursor)
    with pytest.raises(InvalidKey):
        job_store.list_completed(cursor=created_cursor)
    with pytest.raises(InvalidKey):
        job_store.list_by_status([JobStatus.CREATED], cursor="not-a-cursor!")


def test_list_all_is_newest_created_first(job_store: JobStore) -> None:
    base = datetime(2025, 1, 1, tzinfo=UTC)
    jobs = [job_store.create(_job(created_at=base + timedelta(hours=h))) for h in (1, 3, 2)]
    listed = [job.job_id for job in job_store.list_all(limit=10)]
    assert listed == [jobs[1].job_id, jobs[2].job_id, jobs[0].job_id]
    assert len(job_store.list_all(limit=2)) == 2


def test_delete_forgets_the_job(job_store: JobStore) -> None:
    done = _complete(job_store, datetime(2025, 5, 1, tzinfo=UTC))
    job_store.delete(done.job_id)
    with pytest.raises(JobNotFound):
        job_store.get(done.job_id)
    assert job_store.list_completed().jobs == []
    with pytest.raises(JobNotFound):
        job_store.delete(done.job_id)


def _race(*calls: Callable[[], Any]) -> list[Any]:
    """Run ``calls`` at the same instant on their own threads; results or raised errors."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except Exception as error:  # collected and asserted on by the caller
            results[i] = error

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.parametrize("rounds", [8])
def test_racing_final_updates_have_exactly_one_winner(job_store: JobStore, rounds: int) -> None:
    for _ in range(rounds):
        job = job_store.create(_job())
        job_store.transition(job.job_id, JobStatus.PROCESSING)

        results = _race(
            lambda j=job: job_store.transition(j.job_id, JobStatus.COMPLETED, run_id="a"),
            lambda j=job: job_store.transition(j.job_id, JobStatus.FAILED, error="b"),
            lambda j=job: job_store.transition(j.job_id, JobStatus.COMPLETED, run_id="c"),
        )

        winners = [r for r in results if isinstance(r, Job)]
        losers = [r for r in results if not isinstance(r, Job)]
        assert len(winners) == 1, results
        assert all(isinstance(r, TransitionConflict) for r in losers), losers
        assert job_store.get(job.job_id) == winners[0]


def test_concurrent_segment_marks_lose_nothing(job_store: JobStore) -> None:
    job = job_store.create(_job())
    job_store.update(job.job_id, total_segments=6)
    job_store.transition(job.job_id, JobStatus.PROCESSING)
    indexes = [0, 1, 2, 3, 4, 5, 2, 4]  # two duplicates, as retried tasks would send

    results = _race(
        *(lambda i=i: job_store.mark_segment_done(job.job_id, i) for i in indexes),
        lambda: job_store.update(job.job_id, run_id="run-concurrent"),
    )

    assert not [r for r in results if isinstance(r, Exception)], results
    after = job_store.get(job.job_id)
    assert after.completed_segments == 6
    assert after.run_id == "run-concurrent"
    assert job_store.transition(job.job_id, JobStatus.COMPLETED).completed_segments == 6


def test_dynamo_condition_refuses_a_stale_read(aws_settings, monkeypatch) -> None:
    """The refusal comes from DynamoDB's condition, not only from the read before the write."""
    from stereo_spot.jobs.dynamo import DynamoJobStore

    store = DynamoJobStore.from_settings(aws_settings)
    job = store.create(_job())
    stale = store.transition(job.job_id, JobStatus.PROCESSING)
    store.transition(job.job_id, JobStatus.COMPLETED)
    real_get = store.get
    reads = iter([stale])
    monkeypatch.setattr(store, "get", lambda job_id: next(reads, None) or real_get(job_id))

    with pytest.raises(TransitionConflict, match="already completed"):
        store.transition(job.job_id, JobStatus.FAILED, error="late")
    with pytest.raises(TransitionConflict):
        reads = iter([stale])
        store.update(job.job_id, run_id="late")
    assert store.get(job.job_id).status is JobStatus.COMPLETED
    assert store.get(job.job_id).error is None
