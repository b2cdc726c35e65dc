"""On S3 the portal only signs the parts of an upload: it signs those of the upload's plan,
completes only parts that are the plan's, and a job has one unfinished upload at a time, as on
the local adapter (moto server over HTTP)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from stereo_spot.keys import source_key
from tests.aws_fixtures import fresh_aws_settings
from tests.portal.conftest import create_job_via_api

MIB = 1024**2


@pytest.fixture
def s3_portal(moto_endpoint: str, tmp_path: Path) -> Iterator[TestClient]:
    """A portal on S3 that takes 24 MiB in parts of 5 MiB (S3's smallest)."""
    from stereo_spot.aws_setup import create_bucket_and_table
    from stereo_spot.wiring import job_store_from, storage_from

    settings = fresh_aws_settings(
        "plan", data_dir=tmp_path / "data", max_upload_bytes=24 * MIB, upload_part_bytes=5 * MIB
    )
    create_bucket_and_table(settings)
    with TestClient(create_app(settings, storage_from(settings), job_store_from(settings))) as c:
        yield c


def test_s3_part_urls_are_signed_only_within_the_plan(s3_portal) -> None:
    job_id, _ = create_job_via_api(s3_portal)
    upload = s3_portal.post(f"/api/jobs/{job_id}/uploads", json={"size": 6 * MIB}).json()

    past = s3_portal.post(
        upload["links"]["sign"], json={"upload_id": upload["upload_id"], "numbers": [2, 3, 9999]}
    )
    within = s3_portal.post(
        upload["links"]["sign"], json={"upload_id": upload["upload_id"], "numbers": [1, 2]}
    )

    assert past.status_code == 400
    assert past.json()["detail"] == "This upload's parts are numbered 1 to 2."
    assert [part["number"] for part in within.json()["parts"]] == [1, 2]


def test_beginning_another_upload_on_s3_aborts_the_one_before(s3_portal) -> None:
    job_id, _ = create_job_via_api(s3_portal)
    first = s3_portal.post(f"/api/jobs/{job_id}/uploads", json={"size": 6 * MIB}).json()
    url = s3_portal.post(
        first["links"]["sign"], json={"upload_id": first["upload_id"], "numbers": [1]}
    ).json()["parts"][0]["url"]
    assert httpx.put(url, content=b"x" * (5 * MIB), timeout=30).status_code == 200

    s3_portal.post(f"/api/jobs/{job_id}/uploads", json={"size": 6 * MIB})

    gone = s3_portal.get(first["links"]["received"], params={"upload_id": first["upload_id"]})
    assert gone.status_code == 404 and "start the upload again" in gone.json()["detail"]


def _put(client: TestClient, upload: dict, number: int, data: bytes) -> dict:
    url = client.post(
        upload["links"]["sign"], json={"upload_id": upload["upload_id"], "numbers": [number]}
    ).json()["parts"][0]["url"]
    answer = httpx.put(url, content=data, timeout=30)
    assert answer.status_code == 200, answer.text
    return {"number": number, "etag": answer.headers["etag"]}


def _complete(client: TestClient, upload: dict, parts: list[dict]) -> httpx.Response:
    return client.post(
        upload["links"]["complete"], json={"upload_id": upload["upload_id"], "parts": parts}
    )


def test_s3_completion_names_a_part_not_sent_and_keeps_the_upload_open(s3_portal) -> None:
    """S3 would join parts 1 and 3 into a file with a hole; the portal checks ListParts
    against the plan sealed in the upload id first."""
    job_id, _ = create_job_via_api(s3_portal)
    data = os.urandom(10_800_000)  # 5 MiB, 5 MiB and the rest
    upload = s3_portal.post(f"/api/jobs/{job_id}/uploads", json={"size": len(data)}).json()
    cut = [data[i : i + 5 * MIB] for i in range(0, len(data), 5 * MIB)]
    sent = [_put(s3_portal, upload, n, cut[n - 1]) for n in (1, 3)]

    refused = _complete(s3_portal, upload, sent)
    stored_meanwhile = s3_portal.app.state.storage.exists(source_key(job_id))
    sent.insert(1, _put(s3_portal, upload, 2, cut[1]))
    done = _complete(s3_portal, upload, sent)
    again = _complete(s3_portal, upload, sent)

    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        "Part 2 of this upload's 3 has not arrived; send it, then complete the upload again."
    )
    assert not stored_meanwhile
    assert done.status_code == 204, done.text
    assert s3_portal.app.state.storage.size(source_key(job_id)) == len(data)
    assert again.status_code == 409
    assert again.json()["detail"] == "This upload is complete: the video is stored; start the job."


def test_s3_completion_refuses_parts_short_of_the_size_begun_for(s3_portal) -> None:
    job_id, _ = create_job_via_api(s3_portal)
    upload = s3_portal.post(f"/api/jobs/{job_id}/uploads", json={"size": 400_613}).json()

    refused = _complete(s3_portal, upload, [_put(s3_portal, upload, 1, b"x" * 1000)])
    held = s3_portal.get(upload["links"]["received"], params={"upload_id": upload["upload_id"]})

    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        "The parts hold 1,000 bytes, not the 400,613 the upload was begun for: part 1 holds "
        "1,000 bytes where the plan has 400,613; send it again, then complete the upload again."
    )
    assert [part["size"] for part in held.json()["parts"]] == [1000], "the upload stays open"
    assert not s3_portal.app.state.storage.exists(source_key(job_id))
