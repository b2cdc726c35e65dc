"""The portal on the AWS adapters: create → presigned POST to S3 → start → run → presigned GET.

S3 and DynamoDB are moto server over HTTP; the upload and the download go straight to it with
httpx, as a browser's would. The run goes through the launcher ``stereo-spot portal`` builds
(``stereo_spot.cli.web.launcher_from``: the local runner in a child process) against a real model
server that reads and writes the bucket. Slow: tens of seconds on 2 cores.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from stereo_spot.domain import Layout
from stereo_spot.settings import Settings
from tests.aws_fixtures import fresh_aws_settings, made_aws_settings
from tests.media import probe, video_stream
from tests.portal.conftest import (
    MAX_UPLOAD_BYTES,
    create_job_via_api,
    portal_on_s3,
    upload_in_parts,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def aws_settings(moto_endpoint: str, tmp_path: Path) -> Settings:
    return made_aws_settings(
        "portal", data_dir=tmp_path / "data", max_upload_bytes=MAX_UPLOAD_BYTES
    )


@pytest.fixture
def aws_portal(aws_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The portal as ``stereo-spot portal`` wires it for the aws backend, with a model server."""
    from inference_service.launcher import running_model_server

    monkeypatch.setenv("STEREO_SPOT_SEGMENT_SECONDS", "1")  # several segments from a 3 s clip
    with (
        running_model_server(aws_settings) as model_url,
        portal_on_s3(aws_settings.model_copy(update={"model_url": model_url})) as client,
    ):
        yield client


def _wait_for_final(client: TestClient, job_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed"):
            return job
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def test_upload_to_s3_convert_and_play_from_s3(
    aws_portal: TestClient, aws_settings: Settings, moto_endpoint: str, clip_mp4: Path, tmp_path
):
    client = aws_portal
    created = client.post("/api/jobs", json={"layout": "half-sbs", "engine": "classical"})
    assert created.status_code == 201, created.text
    job_id, upload = created.json()["job"]["job_id"], created.json()["upload"]
    # The upload target is S3's presigned POST, not the portal: the file never passes through it.
    assert upload["url"].startswith(moto_endpoint)
    assert upload["fields"]["key"] == f"input/{job_id}/source.mp4"
    assert upload["max_bytes"] == MAX_UPLOAD_BYTES

    with clip_mp4.open("rb") as handle:
        posted = httpx.post(
            upload["url"],
            data=upload["fields"],
            files={upload["file_field"]: ("clip.mp4", handle, "video/mp4")},
            timeout=30,
        )
    assert posted.status_code in (200, 201, 204), posted.text

    started = client.post(f"/api/jobs/{job_id}/start", json={"source_name": "clip.mp4"})
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    assert run_id

    job = _wait_for_final(client, job_id)
    assert job["status"] == "completed", job["error"]
    assert job["total_segments"] >= 2 and job["completed_segments"] == job["total_segments"]
    assert job["run_id"] == run_id

    play = client.get(f"/api/jobs/{job_id}/play")
    assert play.status_code == 200, play.text
    playback = play.json()
    expected_name = f"clip{Layout.HALF_SBS.filename_tag}.mp4"
    assert playback["download_name"] == expected_name
    for url in (playback["video_url"], playback["download_url"]):
        # Presigned S3 GETs, signed for the bucket's endpoint, not portal URLs.
        assert url.startswith(moto_endpoint) and "X-Amz-Signature=" in url
    video = httpx.get(playback["video_url"], timeout=30)
    assert video.status_code == 200
    result = tmp_path / "played.mp4"
    result.write_bytes(video.content)
    stream = video_stream(probe(result))
    assert (stream["width"], stream["height"]) == (192, 108)  # half-SBS keeps the frame size
    assert int(stream["nb_read_packets"]) == int(video_stream(probe(clip_mp4))["nb_read_packets"])
    download = httpx.get(playback["download_url"], timeout=30)
    assert download.status_code == 200 and download.content == video.content
    assert expected_name in download.headers.get("content-disposition", "")


def test_preview_first_on_s3_is_cut_by_its_run_then_the_whole_video_converts(
    aws_portal: TestClient, tmp_path: Path
) -> None:
    """The portal reads no video in S3: the preview's run cuts it from a copy of the upload and
    reads the whole video, which its page then holds for the go."""
    from tests.media import make_clip

    client = aws_portal
    holiday = make_clip(tmp_path / "holiday.mp4", seconds=8, size="192x108")
    job_id, _ = create_job_via_api(client, layout="half-sbs")
    upload_in_parts(
        client, job_id, holiday, put=lambda url, content: httpx.put(url, content=content)
    )

    started = client.post(
        f"/api/jobs/{job_id}/start", json={"source_name": "holiday.mp4", "preview": True}
    )

    assert started.status_code == 202, started.text
    preview = started.json()
    assert preview["preview_of"] == job_id and preview["source_name"] == "holiday_preview.mp4"
    waiting = client.get(f"/api/jobs/{job_id}").json()
    assert (waiting["status"], waiting["held"], waiting["source"]) == ("uploaded", False, None)
    assert "Checking the video" in client.get(f"/jobs/{job_id}").text
    done = _wait_for_final(client, preview["job_id"])
    assert done["status"] == "completed", done["error"]
    held = client.get(f"/api/jobs/{job_id}").json()
    assert held["held"] and held["source"]["duration"] == pytest.approx(8.0, abs=0.1)
    cut = httpx.get(client.get(f"/api/jobs/{preview['job_id']}/play").json()["video_url"])
    (tmp_path / "preview.mp4").write_bytes(cut.content)
    assert 4.5 <= float(probe(tmp_path / "preview.mp4")["format"]["duration"]) <= 6.0

    whole = client.post(f"/api/jobs/{job_id}/start", json={})

    assert whole.status_code == 202 and whole.json()["job_id"] == job_id
    finished = _wait_for_final(client, job_id)
    assert finished["status"] == "completed", finished["error"]
    assert finished["source"]["frames"] == int(video_stream(probe(holiday))["nb_read_packets"])


@pytest.fixture
def parts_portal(moto_endpoint: str, tmp_path: Path) -> Iterator[TestClient]:
    """A portal on S3 that takes 24 MiB in parts of 5 MiB (S3's smallest)."""
    from stereo_spot.aws_setup import create_bucket_and_table
    from stereo_spot.wiring import job_store_from, storage_from

    settings = fresh_aws_settings(
        "parts", data_dir=tmp_path / "data", max_upload_bytes=24 * 1024**2,
        upload_part_bytes=5 * 1024**2,
    )  # fmt: skip
    create_bucket_and_table(settings)
    with TestClient(create_app(settings, storage_from(settings), job_store_from(settings))) as c:
        yield c


def test_a_large_upload_goes_to_s3_in_parts(parts_portal, moto_endpoint: str, tmp_path) -> None:
    """The upload page's way on the cluster: each part PUT straight to S3 (the portal only signs),
    S3 joining them on completion."""
    from stereo_spot.keys import source_key

    master = tmp_path / "master.mov"
    master.write_bytes(os.urandom(11 * 1024**2 + 123))
    storage = parts_portal.app.state.storage
    sent_to: set[str] = set()

    def put_to_s3(url: str, content: bytes) -> httpx.Response:
        sent_to.add(urlsplit(url).netloc)
        return httpx.put(url, content=content, timeout=30)

    job_id, _ = create_job_via_api(parts_portal)
    upload = upload_in_parts(parts_portal, job_id, master, put=put_to_s3)

    assert upload["part_count"] == 3
    assert sent_to == {urlsplit(moto_endpoint).netloc}, "every part went to S3, not the portal"
    stored = storage.get_file(source_key(job_id), tmp_path / "stored.mov")
    assert stored.read_bytes() == master.read_bytes()


def test_parts_s3_took_past_the_limit_are_dropped_not_joined(parts_portal) -> None:
    """S3 takes a part of any size up to 5 GiB under a signed URL; the portal sums the sizes S3
    lists before completing."""
    from stereo_spot.keys import source_key

    client = parts_portal
    job_id, _ = create_job_via_api(client)
    upload = client.post(f"/api/jobs/{job_id}/uploads", json={"size": 6 * 1024**2}).json()
    signed = client.post(
        upload["links"]["sign"], json={"upload_id": upload["upload_id"], "numbers": [1, 2]}
    ).json()["parts"]
    sizes = (5 * 1024**2, 20 * 1024**2)  # planned 5 + 1 MiB: a sender that lied about the size
    etags = [
        httpx.put(part["url"], content=b"x" * size, timeout=30).headers["etag"]
        for part, size in zip(signed, sizes, strict=True)
    ]

    done = client.post(
        upload["links"]["complete"],
        json={
            "upload_id": upload["upload_id"],
            "parts": [{"number": n, "etag": etag} for n, etag in enumerate(etags, start=1)],
        },
    )

    assert done.status_code == 413 and "accepts videos of up to 24.0 MiB" in done.json()["detail"]
    assert not client.app.state.storage.exists(source_key(job_id))
    gone = client.get(upload["links"]["received"], params={"upload_id": upload["upload_id"]})
    assert gone.status_code == 404 and "start the upload again" in gone.json()["detail"]
