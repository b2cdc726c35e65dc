"""The chunk step on the local adapters: a resumed job reuses its split, and one whose split has
expired fails with a reason instead of mixing two splits."""

from pathlib import Path

import pytest

from components.chunk import SplitExpired, chunk_source
from stereo_spot import keys
from stereo_spot.domain import Job, JobStatus, Layout, Part
from stereo_spot.media.probe import probe_source
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from, storage_from
from tests.media import frame_numbers, make_clip, make_interlaced_clip, make_numbered_clip


@pytest.fixture
def queued(tmp_path: Path):
    settings = Settings(backend="local", data_dir=tmp_path / "data")
    storage, jobs = storage_from(settings), job_store_from(settings)
    clip = make_clip(tmp_path / "clip.mp4", seconds=4, audio=False)
    job = jobs.create(Job(layout=Layout.SBS, source_name=clip.name))
    storage.put_file(clip, keys.source_key(job.job_id))
    jobs.transition(job.job_id, JobStatus.UPLOADED)
    jobs.transition(job.job_id, JobStatus.QUEUED, source=probe_source(clip, settings))
    source_uri = storage.uri_for(keys.source_key(job.job_id))
    return job.job_id, source_uri, storage, jobs, settings


def test_a_resumed_job_reuses_its_split_whatever_the_segment_length(queued):
    job_id, source_uri, storage, jobs, settings = queued
    first = chunk_source(job_id, source_uri, "sbs", 1.0, storage, jobs, settings)
    assert len(first) == 4 and jobs.get(job_id).status is JobStatus.PROCESSING
    again = chunk_source(job_id, source_uri, "sbs", 2.0, storage, jobs, settings)
    assert again == first


def test_a_job_resumed_after_its_split_expired_fails_with_the_reason(queued):
    job_id, source_uri, storage, jobs, settings = queued
    chunk_source(job_id, source_uri, "sbs", 1.0, storage, jobs, settings)
    storage.put_file(Path(__file__), keys.converted_segment_key(job_id, 0))  # one converted
    storage.delete_prefix(f"segments/{job_id}/")  # the bucket's lifecycle rule
    with pytest.raises(SplitExpired, match="4 source segments are no longer stored"):
        chunk_source(job_id, source_uri, "sbs", 2.0, storage, jobs, settings)
    job = jobs.get(job_id)
    assert job.status is JobStatus.FAILED and "convert the video again" in job.error


def test_the_one_time_transcode_of_a_source_is_shown_as_chunk_progress(tmp_path):
    settings = Settings(backend="local", data_dir=tmp_path / "data")
    storage, jobs = storage_from(settings), job_store_from(settings)
    progressive = make_clip(tmp_path / "progressive.mp4", seconds=2, audio=False)
    interlaced = make_interlaced_clip(tmp_path / "interlaced.mp4", "160x96", seconds=2)
    for clip, needs_transcode in ((progressive, False), (interlaced, True)):
        job = jobs.create(Job(layout=Layout.ANAGLYPH, source_name=clip.name))
        storage.put_file(clip, keys.source_key(job.job_id))
        jobs.transition(job.job_id, JobStatus.UPLOADED)
        jobs.transition(job.job_id, JobStatus.QUEUED, source=probe_source(clip, settings))
        source_uri = storage.uri_for(keys.source_key(job.job_id))
        chunk_source(job.job_id, source_uri, "anaglyph", 1.0, storage, jobs, settings)
        # Copied sources split in a moment and have nothing to show; a transcode ends at 1.
        assert jobs.get(job.job_id).chunk_progress == (1.0 if needs_transcode else 0.0)


def test_a_preview_of_a_short_part_cut_by_the_step_is_the_whole_part(tmp_path):
    # The portal's preview of a part on S3 is cut here, from the job's copy of the video. Of
    # 1..3 s of a video whose only keyframe is at 0 s, it held frames 0-53 (but 52).
    settings = Settings(backend="local", data_dir=tmp_path / "data")
    storage, jobs = storage_from(settings), job_store_from(settings)
    clip = make_numbered_clip(tmp_path / "numbered.mp4")
    job = jobs.create(
        Job(layout=Layout.SBS, source_name=clip.name, cut_preview=True,
            preview_within=Part(start=1, end=3))
    )  # fmt: skip
    storage.put_file(clip, keys.source_key(job.job_id))
    jobs.transition(job.job_id, JobStatus.UPLOADED)
    jobs.transition(job.job_id, JobStatus.QUEUED, source=probe_source(clip, settings))
    source_uri = storage.uri_for(keys.source_key(job.job_id))
    chunk_source(job.job_id, source_uri, "sbs", 1.0, storage, jobs, settings)

    preview = storage.get_file(keys.part_key(job.job_id), tmp_path / "preview.mp4")
    assert frame_numbers(preview) == list(range(25, 75))
    assert jobs.get(job.job_id).part_source.frames == 50


def test_a_part_ending_past_the_video_is_recorded_as_one_to_its_end(tmp_path):
    # The portal on S3 queues a part as asked, unread: the run, which reads the video, records
    # it as converted, so `jobs list` and a retry name it `_0m01s-end` as `convert` does.
    settings = Settings(backend="local", data_dir=tmp_path / "data")
    storage, jobs = storage_from(settings), job_store_from(settings)
    clip = make_clip(tmp_path / "clip.mp4", seconds=3, audio=False)
    job = jobs.create(Job(layout=Layout.SBS, source_name=clip.name, part=Part(start=1, end=100)))
    storage.put_file(clip, keys.source_key(job.job_id))
    jobs.transition(job.job_id, JobStatus.UPLOADED)
    jobs.transition(job.job_id, JobStatus.QUEUED)
    source_uri = storage.uri_for(keys.source_key(job.job_id))

    chunk_source(job.job_id, source_uri, "sbs", 1.0, storage, jobs, settings)

    recorded = jobs.get(job.job_id)
    assert recorded.part == Part(start=1, end=None)
    assert recorded.part_source.duration == pytest.approx(2.0, abs=0.05)
