"""The exit handler on the local adapters: a run that did not succeed fails its job with the
step's reason, and a job that ended failed (or cancelled) keeps no segments, only what
converting it again reads."""

from pathlib import Path

import pytest

from components.chunk import chunk_source
from components.finalize import finalize_job
from stereo_spot import keys
from stereo_spot.domain import Job, JobStatus, Layout, Part
from stereo_spot.jobs import cancel
from stereo_spot.media.probe import probe_source
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from, storage_from
from tests.media import make_clip


@pytest.fixture
def split_part_way(tmp_path: Path):
    """A job converting the part 0.5–3.5 s of a 4 s clip: cut, split into 1 s segments, the
    first converted (a copy of its source segment), the run failing after."""
    settings = Settings(backend="local", data_dir=tmp_path / "data")
    storage, jobs = storage_from(settings), job_store_from(settings)
    clip = make_clip(tmp_path / "clip.mp4", seconds=4)
    job = jobs.create(Job(layout=Layout.SBS, source_name=clip.name, part=Part(start=0.5, end=3.5)))
    storage.put_file(clip, keys.source_key(job.job_id))
    jobs.transition(job.job_id, JobStatus.UPLOADED)
    jobs.transition(job.job_id, JobStatus.QUEUED, source=probe_source(clip, settings))
    source_uri = storage.uri_for(keys.source_key(job.job_id))
    segments = chunk_source(job.job_id, source_uri, "sbs", 1.0, storage, jobs, settings)
    first = storage.get_file(storage.key_from_uri(segments[0]["input_uri"]), tmp_path / "0.mp4")
    storage.put_file(first, keys.converted_segment_key(job.job_id, 0))
    jobs.mark_segment_done(job.job_id, 0)
    return job.job_id, storage, jobs


def _segments(storage, job_id: str) -> list[str]:
    return [key for prefix in keys.segment_prefixes(job_id) for key in storage.list_prefix(prefix)]


def test_a_failed_run_fails_its_job_and_drops_its_segments_keeping_the_video(split_part_way):
    job_id, storage, jobs = split_part_way
    jobs.update(job_id, error="Converting segment 2 failed: the model server is gone.")
    assert len(_segments(storage, job_id)) == 4, "three source segments and one converted"

    status = finalize_job(job_id, "FAILED", "Task convert-op failed.", jobs, storage)

    assert status == "failed"
    assert jobs.get(job_id).error == "Converting segment 2 failed: the model server is gone."
    assert _segments(storage, job_id) == []
    # What "Convert again" and a later look at the part read.
    assert storage.exists(keys.source_key(job_id)) and storage.exists(keys.part_key(job_id))


def test_a_cancelled_run_s_exit_handler_drops_its_segments(split_part_way):
    job_id, storage, jobs = split_part_way
    cancel(jobs, job_id)

    assert finalize_job(job_id, "CANCELED", "", jobs, storage) == "failed"

    assert _segments(storage, job_id) == []
    assert storage.exists(keys.source_key(job_id))


def test_a_completed_job_is_left_as_its_run_left_it(split_part_way):
    # Only a failed job's segments go here; a completed one's are its join's to drop.
    job_id, storage, jobs = split_part_way
    for status in (JobStatus.REASSEMBLING, JobStatus.COMPLETED):
        jobs.transition(job_id, status)

    assert finalize_job(job_id, "SUCCEEDED", "", jobs, storage) == "completed"

    assert len(_segments(storage, job_id)) == 4
