"""Unit tests of portal.services: real local adapters (and the AWS ones on moto server), a
recording launcher (the one double)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from portal import conversions, services
from stereo_spot.aws_setup import create_bucket_and_table
from stereo_spot.domain import Job, JobStatus, Layout, StereoParams
from stereo_spot.errors import JobBusy, JobNotFound, NothingToCancel
from stereo_spot.keys import converted_segment_key, source_key, source_segment_key
from stereo_spot.wiring import job_store_from, storage_from
from tests.aws_fixtures import fresh_aws_settings
from tests.media import make_clip


class RecordingLauncher:
    """Counts submissions and cancellations; runs nothing. The jobs in ``stopping`` have a
    run that does not stop when waited for."""

    def __init__(self) -> None:
        self.submitted: list[str] = []
        self.cancelled: list[str] = []
        self.forgotten: list[str] = []
        self.stopping: set[str] = set()
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

    def wait_stopped(self, job_id: str, timeout: float) -> bool:
        return job_id not in self.stopping


def _uploaded_job(jobs, storage, settings, clip: Path) -> Job:
    job = services.create_job(
        jobs, settings, Layout.SBS, StereoParams(divergence=2.0), "classical", "a.mp4"
    )
    storage.put_file(clip, source_key(job.job_id))
    return job


def test_start_probes_queues_and_submits_once(jobs, storage, settings, clip_mp4) -> None:
    launcher = RecordingLauncher()
    job = _uploaded_job(jobs, storage, settings, clip_mp4)

    started = conversions.start_job(jobs, storage, settings, launcher, job.job_id)
    again = conversions.start_job(jobs, storage, settings, launcher, job.job_id)

    assert started.status is JobStatus.QUEUED and started.run_id == "run-1"
    assert started.source is not None and started.source.frames > 0
    assert again.run_id == "run-1"
    assert launcher.submitted == [job.job_id]


def test_racing_starts_submit_once(jobs, storage, settings, clip_mp4) -> None:
    launcher = RecordingLauncher()
    job = _uploaded_job(jobs, storage, settings, clip_mp4)
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        conversions.start_job(jobs, storage, settings, launcher, job.job_id)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert launcher.submitted == [job.job_id]


def test_rejected_source_fails_the_job_without_a_run(jobs, storage, settings, not_a_video) -> None:
    launcher = RecordingLauncher()
    job = _uploaded_job(jobs, storage, settings, not_a_video)

    result = conversions.start_job(jobs, storage, settings, launcher, job.job_id)

    assert result.status is JobStatus.FAILED
    assert result.error and result.error.endswith(".")
    assert launcher.submitted == []


def test_delete_removes_only_that_jobs_objects(jobs, storage, settings, clip_mp4) -> None:
    launcher = RecordingLauncher()
    gone = _uploaded_job(jobs, storage, settings, clip_mp4)
    kept = _uploaded_job(jobs, storage, settings, clip_mp4)

    assert services.delete_job(jobs, storage, launcher, gone.job_id) == 1

    with pytest.raises(JobNotFound):
        jobs.get(gone.job_id)
    assert storage.list_prefix("") == [source_key(kept.job_id)]
    assert launcher.forgotten == [gone.job_id], "its run's files are the launcher's to remove"


def test_cancel_fails_the_job_stops_its_run_and_frees_it_for_deletion(
    jobs, storage, settings, clip_mp4
) -> None:
    launcher = RecordingLauncher()
    job = _uploaded_job(jobs, storage, settings, clip_mp4)
    conversions.start_job(jobs, storage, settings, launcher, job.job_id)
    with pytest.raises(JobBusy, match="cancel it first"):
        services.delete_job(jobs, storage, launcher, job.job_id)
    assert launcher.forgotten == [], "a refused delete leaves the run alone"

    cancelled = services.cancel_job(jobs, storage, launcher, job.job_id)

    assert cancelled.status is JobStatus.FAILED and cancelled.cancelled
    assert launcher.cancelled == [job.job_id]
    with pytest.raises(NothingToCancel, match="already been cancelled; there is nothing to cancel"):
        services.cancel_job(jobs, storage, launcher, job.job_id)
    assert launcher.cancelled == [job.job_id], "a finished job's run is not touched again"
    assert services.delete_job(jobs, storage, launcher, job.job_id) == 1
    with pytest.raises(JobNotFound):
        jobs.get(job.job_id)


def test_delete_of_a_job_whose_run_is_still_stopping_is_refused_and_deletes_nothing(
    jobs, storage, settings, clip_mp4
) -> None:
    launcher = RecordingLauncher()
    job = _uploaded_job(jobs, storage, settings, clip_mp4)
    conversions.start_job(jobs, storage, settings, launcher, job.job_id)
    launcher.stopping.add(job.job_id)  # cancelled from elsewhere; its run has not stopped yet
    services.cancel_job(jobs, storage, launcher, job.job_id)

    with pytest.raises(JobBusy) as refused:
        services.delete_job(jobs, storage, launcher, job.job_id)

    assert str(refused.value) == (
        "This job's conversion is still stopping; try again in a few seconds to delete it."
    )
    assert jobs.get(job.job_id).cancelled and storage.exists(source_key(job.job_id))
    assert launcher.forgotten == []
    launcher.stopping.clear()  # it has stopped
    assert services.delete_job(jobs, storage, launcher, job.job_id) == 1


def test_cancel_drops_the_segments_once_the_run_has_stopped_and_keeps_the_video(
    jobs, storage, settings, clip_mp4
) -> None:
    launcher = RecordingLauncher()
    stopped, stopping = (_uploaded_job(jobs, storage, settings, clip_mp4) for _ in range(2))
    for job in (stopped, stopping):
        conversions.start_job(jobs, storage, settings, launcher, job.job_id)
        storage.put_file(clip_mp4, source_segment_key(job.job_id, 0, 1, job.layout))
        storage.put_file(clip_mp4, converted_segment_key(job.job_id, 0))
    launcher.stopping.add(stopping.job_id)

    for job in (stopped, stopping):
        services.cancel_job(jobs, storage, launcher, job.job_id)

    assert storage.list_prefix(f"segments/{stopped.job_id}/") == []
    assert storage.list_prefix(f"jobs/{stopped.job_id}/") == []
    assert storage.exists(source_key(stopped.job_id)), "kept, to convert it again"
    # A run still writing them: they go with the job's delete, not under its feet.
    assert len(storage.list_prefix(f"segments/{stopping.job_id}/")) == 1


def test_download_name_keeps_the_stem_and_adds_the_layout_tag() -> None:
    assert services.download_name(Job(source_name="Holiday 2024.mov", layout=Layout.SBS)) == (
        "Holiday 2024_LR.mp4"
    )
    assert services.download_name(Job(layout=Layout.HALF_TAB)).endswith("_3dh_TB.mp4")


def test_browser_file_names_lose_their_paths(jobs, settings) -> None:
    job = services.create_job(
        jobs, settings, Layout.TAB, StereoParams(), "classical", "C:\\Users\\x\\v.mp4"
    )

    assert job.source_name == "v.mp4"


@pytest.fixture
def aws(moto_endpoint: str, tmp_path: Path):
    """The AWS adapters (S3, DynamoDB on moto server), a fresh bucket and table."""
    settings = fresh_aws_settings("services", data_dir=tmp_path / "data")
    create_bucket_and_table(settings)
    return settings, storage_from(settings), job_store_from(settings)


def test_on_s3_a_start_reads_no_video_and_queues_it_for_its_run(aws, tmp_path) -> None:
    settings, storage, jobs = aws
    launcher = RecordingLauncher()
    job = _uploaded_job(jobs, storage, settings, make_clip(tmp_path / "holiday.mp4", seconds=2))
    downloads = _count_downloads(storage)

    started = conversions.start_job(jobs, storage, settings, launcher, job.job_id)

    # The run's chunk step reads it (and refuses it with the reason, if it is no video).
    assert (started.status, started.source, started.run_id) == (JobStatus.QUEUED, None, "run-1")
    assert downloads == [], "the portal downloaded nothing"


def test_preview_first_on_s3_is_cut_by_its_run_which_then_holds_the_upload(aws, tmp_path) -> None:
    from components.chunk import chunk_source

    settings, storage, jobs = aws
    launcher = RecordingLauncher()
    clip = make_clip(tmp_path / "holiday.mp4", seconds=12)
    whole = _uploaded_job(jobs, storage, settings, clip)
    downloads = _count_downloads(storage)

    preview = conversions.start_job(jobs, storage, settings, launcher, whole.job_id, preview=True)
    again = conversions.start_job(jobs, storage, settings, launcher, whole.job_id, preview=True)

    # Nothing read yet: the whole video waits ("Checking the video") for its preview's run.
    assert preview.preview_of == whole.job_id and preview.cut_preview
    assert preview.status is JobStatus.QUEUED and launcher.submitted == [preview.job_id]
    assert again.job_id == whole.job_id and not jobs.get(whole.job_id).held, "one preview"
    with pytest.raises(services.NotReady, match="still being read"):
        conversions.convert_again(
            jobs, storage, settings, launcher, whole.job_id, Layout.TAB, StereoParams(),
            "classical",
        )  # fmt: skip
    assert downloads == [], "the portal downloaded nothing; the preview holds a copy"
    copy = storage.get_file(source_key(preview.job_id), tmp_path / "copy.mp4")
    assert copy.read_bytes() == clip.read_bytes()

    # The preview's chunk step (the run's first task) cuts it and reads the whole video.
    uri = storage.uri_for(source_key(preview.job_id))
    chunk_source(preview.job_id, uri, "sbs", 10.0, storage, jobs, settings)

    cut = jobs.get(preview.job_id)
    assert cut.source.duration > 11 and 4.5 <= cut.part_source.duration <= 6.0
    held = jobs.get(whole.job_id)
    assert held.held and held.source.duration > 11
    started = conversions.start_job(jobs, storage, settings, launcher, whole.job_id)
    assert started.status is JobStatus.QUEUED and started.run_id == "run-2"
    assert launcher.submitted == [preview.job_id, whole.job_id]


def test_on_s3_a_part_past_the_end_fails_in_its_run_with_the_video_read(aws, tmp_path) -> None:
    from components.chunk import chunk_source
    from stereo_spot.domain import Part
    from stereo_spot.errors import InputRejected

    settings, storage, jobs = aws
    job = _uploaded_job(jobs, storage, settings, make_clip(tmp_path / "holiday.mp4", seconds=2))
    conversions.start_job(
        jobs, storage, settings, RecordingLauncher(), job.job_id, part=Part(start=5, end=8)
    )

    with pytest.raises(InputRejected):
        uri = storage.uri_for(source_key(job.job_id))
        chunk_source(job.job_id, uri, "sbs", 10.0, storage, jobs, settings)

    failed = jobs.get(job.job_id)
    assert failed.status is JobStatus.FAILED
    assert failed.error == "The part asked for starts at 5 s, and the video is only 2.0 s long."
    # Read: its page offers the video again, with other times.
    assert failed.source is not None and failed.source.duration == pytest.approx(2.0, abs=0.05)


def test_preview_first_on_s3_of_no_video_fails_both_jobs_with_the_reason(aws, tmp_path) -> None:
    from components.chunk import chunk_source
    from stereo_spot.errors import InputRejected

    settings, storage, jobs = aws
    notes = tmp_path / "notes.mp4"
    notes.write_text("meeting notes, not a video\n" * 40)
    whole = _uploaded_job(jobs, storage, settings, notes)
    preview = conversions.start_job(
        jobs, storage, settings, RecordingLauncher(), whole.job_id, preview=True
    )

    with pytest.raises(InputRejected):
        uri = storage.uri_for(source_key(preview.job_id))
        chunk_source(preview.job_id, uri, "sbs", 10.0, storage, jobs, settings)

    for job in (jobs.get(preview.job_id), jobs.get(whole.job_id)):
        assert job.status is JobStatus.FAILED
        assert job.error.startswith("The file is not a video we can read")


def _count_downloads(storage) -> list[str]:
    """The keys the portal downloads from here on (the real download still runs)."""
    downloads: list[str] = []
    real = storage.get_file

    def get_file(key, local_path, **how):
        downloads.append(key)
        return real(key, local_path, **how)

    storage.get_file = get_file
    return downloads
