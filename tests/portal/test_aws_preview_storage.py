"""A preview on S3 stores its excerpt and its result, not a second copy of the whole video.

The portal reads no video in S3, so a preview's job gets a copy of the upload and its run cuts
the excerpt from it; the run deletes the copy once the excerpt is split. S3 and DynamoDB are
moto server; runs go through the launcher ``stereo-spot portal`` builds (the local runner in a
child process) against a real model server, as in tests/portal/test_aws_flow.py. Slow: tens of
seconds on 2 cores.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from portal import conversions, services
from stereo_spot import keys
from stereo_spot.domain import LOCAL_RUN_PREFIX, JobStatus, Layout, StereoParams
from stereo_spot.settings import Settings
from stereo_spot.storage import ObjectStorage
from stereo_spot.wiring import job_store_from, storage_from
from tests.aws_fixtures import made_aws_settings
from tests.media import audio_streams, make_clip, probe, video_stream
from tests.portal.conftest import (
    MAX_UPLOAD_BYTES,
    create_job_via_api,
    portal_on_s3,
    upload_in_parts,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def aws_settings(moto_endpoint: str, tmp_path: Path) -> Settings:
    """Settings of the aws backend, with a bucket and a table of their own."""
    return made_aws_settings(
        "preview-storage", data_dir=tmp_path / "data", max_upload_bytes=MAX_UPLOAD_BYTES
    )


@pytest.fixture
def settings(aws_settings: Settings) -> Iterator[Settings]:
    """The same with a model server, to run conversions."""
    from inference_service.launcher import running_model_server

    with running_model_server(aws_settings) as model_url:
        yield aws_settings.model_copy(update={"model_url": model_url})


@pytest.fixture
def holiday(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STEREO_SPOT_SEGMENT_SECONDS", "1")  # several segments from a preview
    return make_clip(tmp_path / "holiday.mp4", seconds=8, size="192x108")


class StoppedPortal:
    """The local launcher of a portal that queued a run and stopped before running it."""

    def submit(self, job_id: str) -> str:
        return f"{LOCAL_RUN_PREFIX}run-1"  # a run id of this machine's, which a portal resumes

    def stopped_part_way(self, job: object) -> bool:
        return False


def _wait_for_final(client: TestClient, job_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed"):
            return job
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def _stored_sizes(storage: ObjectStorage, job_id: str, timeout: float = 30) -> dict[str, int]:
    """Every object in the bucket, with its size, once the run of ``job_id`` has deleted its
    segments (just after it marked the job completed)."""
    deadline = time.monotonic() + timeout
    while any(storage.list_prefix(prefix) for prefix in keys.segment_prefixes(job_id)):
        assert time.monotonic() < deadline, f"job {job_id} kept its segments"
        time.sleep(0.25)
    return {key: storage.size(key) for key in storage.list_prefix("")}


def _played(client: TestClient, job_id: str, path: Path) -> dict:
    """The probe of the job's result as the player gets it (its presigned S3 GET)."""
    play = client.get(f"/api/jobs/{job_id}/play")
    assert play.status_code == 200, play.text
    video = httpx.get(play.json()["video_url"], timeout=30)
    assert video.status_code == 200
    path.write_bytes(video.content)
    return probe(path)


def _is_a_preview_with_its_sound(played: dict) -> bool:
    return 4.5 <= float(played["format"]["duration"]) <= 6.0 and len(audio_streams(played)) == 1


def test_a_preview_on_s3_stores_its_excerpt_not_a_second_copy_of_the_video(
    settings: Settings, holiday: Path, tmp_path: Path
) -> None:
    upload = holiday.stat().st_size
    with portal_on_s3(settings) as client:
        storage = client.app.state.storage
        job_id, _ = create_job_via_api(client, layout="half-sbs")
        upload_in_parts(
            client, job_id, holiday, put=lambda url, content: httpx.put(url, content=content)
        )
        started = client.post(
            f"/api/jobs/{job_id}/start", json={"source_name": "holiday.mp4", "preview": True}
        )
        assert started.status_code == 202, started.text
        preview_id = started.json()["job_id"]

        done = _wait_for_final(client, preview_id)

        assert done["status"] == "completed", done["error"]
        stored = _stored_sizes(storage, preview_id)
        assert [key for key, size in stored.items() if size == upload] == [
            keys.source_key(job_id)
        ], "the held job's upload is the only whole video in the bucket"
        kept = {key for key in stored if preview_id in key}
        assert kept == {
            keys.part_key(preview_id),  # the excerpt, which a rewrap takes tracks from
            keys.final_key(preview_id),
            keys.preview_key(preview_id),
        }
        assert stored[keys.part_key(preview_id)] < upload * 0.8  # ~5 s of the 8
        # Its page and API still say what it was cut from, and how long the cut is.
        assert done["source"]["duration"] == pytest.approx(8.0, abs=0.1)
        assert re.search(r"A [\d.]+ s preview of", client.get(f"/jobs/{preview_id}").text)
        assert _is_a_preview_with_its_sound(_played(client, preview_id, tmp_path / "cut.mp4"))

        again = client.post(f"/api/jobs/{preview_id}/again", json={"layout": "tab"})

        # Converted again whole from the preview: the held job's upload, restyled.
        assert again.status_code == 202, again.text
        assert (again.json()["job_id"], again.json()["layout"]) == (job_id, "tab")
        whole = _wait_for_final(client, job_id)
        assert whole["status"] == "completed", whole["error"]
        played = _played(client, job_id, tmp_path / "whole.mp4")
        frames = int(video_stream(probe(holiday))["nb_read_packets"])
        assert int(video_stream(played)["nb_read_packets"]) == frames

        # Either job deletes on its own; the preview plays without the whole video's job.
        assert client.delete(f"/api/jobs/{job_id}").status_code == 204
        assert _is_a_preview_with_its_sound(_played(client, preview_id, tmp_path / "again.mp4"))
        assert client.delete(f"/api/jobs/{preview_id}").status_code == 204
        assert storage.list_prefix("") == []


def test_a_preview_run_stopped_part_way_on_s3_resumes_without_the_copy(
    settings: Settings, holiday: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped after cutting, while splitting: the copy is still there to cut from again.
    Stopped after splitting: the copy is gone, and the resumed run needs only the split and
    the cut (the join's sound)."""
    from components import chunk

    storage, jobs = storage_from(settings), job_store_from(settings)
    whole = services.create_job(
        jobs, settings, Layout.HALF_SBS, StereoParams(), source_name="holiday.mp4"
    )
    storage.put_file(holiday, keys.source_key(whole.job_id))
    preview = conversions.start_job(
        jobs, storage, settings, StoppedPortal(), whole.job_id, preview=True
    )
    copy = keys.source_key(preview.job_id)
    assert storage.size(copy) == holiday.stat().st_size

    def evicted(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the task's pod was evicted")

    with monkeypatch.context() as stopping:
        stopping.setattr(chunk, "split_video", evicted)
        with pytest.raises(RuntimeError, match="evicted"):
            chunk.chunk_source(preview.job_id, storage.uri_for(copy), "half-sbs", 1.0,
                               storage, jobs, settings)  # fmt: skip
    assert jobs.get(preview.job_id).status is JobStatus.CHUNKING
    assert storage.exists(keys.part_key(preview.job_id)) and storage.exists(copy)

    chunk.chunk_source(
        preview.job_id, storage.uri_for(copy), "half-sbs", 1.0, storage, jobs, settings
    )

    assert jobs.get(preview.job_id).status is JobStatus.PROCESSING
    assert not storage.exists(copy), "split: the copy of the whole video is deleted"
    assert jobs.get(whole.job_id).held, "the preview's run read the whole video for its job"
    with portal_on_s3(settings) as client:  # a restarted portal resumes the run
        done = _wait_for_final(client, preview.job_id)
        assert done["status"] == "completed", done["error"]
        assert _is_a_preview_with_its_sound(_played(client, preview.job_id, tmp_path / "cut.mp4"))


def test_a_preview_whose_upload_is_refused_on_s3_keeps_no_copy_of_it(
    aws_settings: Settings, tmp_path: Path
) -> None:
    from components.chunk import chunk_source
    from stereo_spot.errors import InputRejected

    settings = aws_settings
    storage, jobs = storage_from(settings), job_store_from(settings)
    whole = services.create_job(jobs, settings, Layout.SBS, StereoParams(), source_name="a.mp4")
    notes = tmp_path / "notes.mp4"
    notes.write_bytes(b"meeting notes, not a video\n" * 4096)
    storage.put_file(notes, keys.source_key(whole.job_id))
    preview = conversions.start_job(
        jobs, storage, settings, StoppedPortal(), whole.job_id, preview=True
    )
    copy = keys.source_key(preview.job_id)

    with pytest.raises(InputRejected):
        chunk_source(preview.job_id, storage.uri_for(copy), "sbs", 1.0, storage, jobs, settings)

    assert jobs.get(preview.job_id).status is JobStatus.FAILED
    assert jobs.get(whole.job_id).status is JobStatus.FAILED, "refused with its preview"
    assert not storage.exists(copy), "a preview failed for good keeps no copy"
    assert storage.exists(keys.source_key(whole.job_id)), "the upload stays with its own job"


def test_a_preview_cancelled_on_s3_keeps_no_copy_of_the_video(aws_settings: Settings, holiday):
    # Cancelled before its run split the excerpt, it kept the copy until it was deleted: a
    # second studio master in the bucket for a few seconds nobody wanted any more.
    settings = aws_settings
    storage, jobs = storage_from(settings), job_store_from(settings)
    whole = services.create_job(jobs, settings, Layout.SBS, StereoParams(), source_name="a.mp4")
    storage.put_file(holiday, keys.source_key(whole.job_id))
    preview = conversions.start_job(
        jobs, storage, settings, StoppedPortal(), whole.job_id, preview=True
    )
    assert storage.exists(keys.source_key(preview.job_id))

    services.cancel_job(jobs, storage, None, preview.job_id)

    assert jobs.get(preview.job_id).cancelled
    assert not storage.exists(keys.source_key(preview.job_id)), "its copy went with it"
    assert storage.exists(keys.source_key(whole.job_id)), "the upload stays with its own job"
