"""Unit tests of portal.services: real local adapters (and the AWS ones on moto server), a
recording launcher (the one double)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from portal import services
from stereo_spot.aws_setup import create_bucket_and_table
from stereo_spot.domain import Job, JobStatus, Layout, StereoParams
from stereo_spot.errors import JobBusy, JobNotFound, NothingToCancel
from stereo_spot.jobs import CANCELLED
from stereo_spot.keys import source_key
from stereo_spot.wiring import job_store_from, storage_from
from tests.aws_fixtures import fresh_aws_settings
from tests.media import make_clip, probe


class RecordingLauncher:
    """Counts submissions and cancellations; runs nothing."""

    def __init__(self) -> None:
        self.submitted: list[str] = []
        self.cancelled: list[str] = []
        self.forgotten: list[str] = []
        self._lock = threading.Lock()

    def submit(self, job_id: str) -> str:
        with self._lock:
            self.submitted.append(job_id)
            return f"run-{len(self.submitted)}"

    def cancel(self, job_id: str) -> None:
        with self._lock:
            self.cancelled.append(job_id)

    def forget(self, job_id: str) -> None:
        with self._lock:
            self.forgotten.append(job_id)

    def stopped_part_way(self, job: Job) -> bool:
        return False


def _uploaded_job(jobs, storage, clip: Path) -> Job:
    job = services.create_job(jobs, Layout.SBS, StereoParams(divergence=2.0), "classical", "a.mp4")
    storage.put_file(clip, source_key(job.job_id))
    return job


def test_start_probes_queues_and_submits_once(jobs, storage, settings, clip_mp4) -> None:
    launcher = RecordingLauncher()
    job = _uploaded_job(jobs, storage, clip_mp4)

    started = services.start_job(jobs, storage, settings, launcher, job.job_id)
    again = services.start_job(jobs, storage, settings, launcher, job.job_id)

    assert started.status is JobStatus.QUEUED and started.run_id == "run-1"
    assert started.source is not None and started.source.frames > 0
    assert again.run_id == "run-1"
    assert launcher.submitted == [job.job_id]


def test_racing_starts_submit_once(jobs, storage, settings, clip_mp4) -> None:
    launcher = RecordingLauncher()
    job = _uploaded_job(jobs, storage, clip_mp4)
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        services.start_job(jobs, storage, settings, launcher, job.job_id)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert launcher.submitted == [job.job_id]


def test_rejected_source_fails_the_job_without_a_run(jobs, storage, settings, not_a_video) -> None:
    launcher = RecordingLauncher()
    job = _uploaded_job(jobs, storage, not_a_video)

    result = services.start_job(jobs, storage, settings, launcher, job.job_id)

    assert result.status is JobStatus.FAILED
    assert result.error and result.error.endswith(".")
    assert launcher.submitted == []


def test_delete_removes_only_that_jobs_objects(jobs, storage, clip_mp4) -> None:
    launcher = RecordingLauncher()
    gone = _uploaded_job(jobs, storage, clip_mp4)
    kept = _uploaded_job(jobs, storage, clip_mp4)

    assert services.delete_job(jobs, storage, launcher, gone.job_id) == 1

    with pytest.raises(JobNotFound):
        jobs.get(gone.job_id)
    assert storage.list_prefix("") == [source_key(kept.job_id)]
    assert launcher.forgotten == [gone.job_id], "its run's files are the launcher's to remove"


def test_cancel_fails_the_job_stops_its_run_and_frees_it_for_deletion(
    jobs, storage, settings, clip_mp4
) -> None:
    launcher = RecordingLauncher()
    job = _uploaded_job(jobs, storage, clip_mp4)
    services.start_job(jobs, storage, settings, launcher, job.job_id)
    with pytest.raises(JobBusy, match="cancel it first"):
        services.delete_job(jobs, storage, launcher, job.job_id)
    assert launcher.forgotten == [], "a refused delete leaves the run alone"

    cancelled = services.cancel_job(jobs, launcher, job.job_id)

    assert cancelled.status is JobStatus.FAILED and cancelled.error == CANCELLED
    assert launcher.cancelled == [job.job_id]
    with pytest.raises(NothingToCancel, match="already failed; there is nothing to cancel"):
        services.cancel_job(jobs, launcher, job.job_id)
    assert launcher.cancelled == [job.job_id], "a finished job's run is not touched again"
    assert services.delete_job(jobs, storage, launcher, job.job_id) == 1
    with pytest.raises(JobNotFound):
        jobs.get(job.job_id)


def test_download_name_keeps_the_stem_and_adds_the_layout_tag() -> None:
    assert services.download_name(Job(source_name="Holiday 2024.mov", layout=Layout.SBS)) == (
        "Holiday 2024_LR.mp4"
    )
    assert services.download_name(Job(layout=Layout.HALF_TAB)).endswith("_3dh_TB.mp4")


def test_browser_file_names_lose_their_paths(jobs) -> None:
    job = services.create_job(jobs, Layout.TAB, StereoParams(), "classical", "C:\\Users\\x\\v.mp4")

    assert job.source_name == "v.mp4"


@pytest.fixture
def aws(moto_endpoint: str, tmp_path: Path):
    """The AWS adapters (S3, DynamoDB on moto server), a fresh bucket and table."""
    settings = fresh_aws_settings("services", data_dir=tmp_path / "data")
    create_bucket_and_table(settings)
    return settings, storage_from(settings), job_store_from(settings)


def test_preview_first_on_s3_holds_the_upload_and_stores_the_excerpt(aws, tmp_path) -> None:
    settings, storage, jobs = aws
    launcher = RecordingLauncher()
    whole = _uploaded_job(jobs, storage, make_clip(tmp_path / "holiday.mp4", seconds=12))

    preview = services.start_job(jobs, storage, settings, launcher, whole.job_id, preview=True)

    held = jobs.get(whole.job_id)
    assert held.held and held.source is not None and held.source.duration > 11
    assert preview.preview_of == whole.job_id and preview.status is JobStatus.QUEUED
    assert launcher.submitted == [preview.job_id], "only the preview runs"
    excerpt = storage.get_file(source_key(preview.job_id), tmp_path / "excerpt.mp4")
    assert 4.5 <= float(probe(excerpt)["format"]["duration"]) <= 6.0

    started = services.start_job(jobs, storage, settings, launcher, whole.job_id)

    assert started.status is JobStatus.QUEUED and started.run_id == "run-2"
    assert launcher.submitted == [preview.job_id, whole.job_id]
