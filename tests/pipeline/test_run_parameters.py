"""The chunk step refuses, before anything is split, a run whose parameters are invalid or differ
from its job's record (a kfp SDK user passes them apart from creating the job: the join tagged
the result by the record, so an SBS video came out tagged as nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.chunk import RunRefused, chunk_source, run_settings_of
from stereo_spot import keys
from stereo_spot.domain import Job, JobStatus, Layout
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from, storage_from


@pytest.fixture
def queued(tmp_path: Path):
    settings = Settings(backend="local", data_dir=tmp_path)
    jobs, storage = job_store_from(settings), storage_from(settings)
    job = jobs.create(Job(layout=Layout.ANAGLYPH, source_name="film.mp4"))
    jobs.transition(job.job_id, JobStatus.UPLOADED)
    jobs.transition(job.job_id, JobStatus.QUEUED)
    return jobs.get(job.job_id), jobs, storage, settings


def _chunk(queued, layout: str = "anaglyph", segment_seconds: float = 2.0, **changed):
    job, jobs, storage, settings = queued
    asked = {**run_settings_of(job), **changed}
    del asked["layout"]
    source_uri = storage.uri_for(keys.source_key(job.job_id))
    return chunk_source(
        job.job_id, source_uri, layout, segment_seconds, storage, jobs, settings, asked
    )


@pytest.mark.parametrize(
    ("layout", "segment_seconds", "changed", "said"),
    [
        ("anaglyph", 0.0, {}, "Invalid segment_seconds: 0.0 is not a length in seconds above 0."),
        ("anaglyph", -1.0, {}, "Invalid segment_seconds: -1.0 is not a length in seconds above 0."),
        ("anaglyph", float("nan"), {}, "Invalid segment_seconds: nan is not a length in seconds"),
        ("hologram", 2.0, {}, "Invalid layout: 'hologram' is not one of anaglyph, sbs, half-sbs"),
        ("anaglyph", 2.0, {"divergence": 50.0}, "Invalid divergence: input should be less than"),
        ("sbs", 2.0, {}, "This run asks for layout 'sbs', but job "),
        ("anaglyph", 2.0, {"codec": "hevc"}, "This run asks for codec 'hevc', but job "),
        ("anaglyph", 2.0, {"engine": "stereocrafter"}, "This run asks for engine 'stereocrafter'"),
    ],
)
def test_a_run_the_job_did_not_ask_for_is_refused_before_the_split(
    queued, layout, segment_seconds, changed, said
) -> None:
    job, jobs, storage, _ = queued
    with pytest.raises(RunRefused) as refused:
        _chunk(queued, layout, segment_seconds, **changed)
    assert str(refused.value).startswith(said)
    recorded = jobs.get(job.job_id)
    assert recorded.status is JobStatus.FAILED and recorded.error == str(refused.value)
    assert storage.list_prefix(f"segments/{job.job_id}/") == []


def test_a_mismatch_says_what_the_job_has(queued) -> None:
    job, *_ = queued
    with pytest.raises(RunRefused) as refused:
        _chunk(queued, "sbs", divergence=2.0)
    assert str(refused.value) == (
        f"This run asks for layout 'sbs', divergence 2.0, but job {job.job_id} was created with "
        "layout 'anaglyph', divergence 3.0: start the run with the job's settings (stereo-spot "
        "and the portal do), or create a job with the ones you want."
    )
