"""On S3 the portal only signs the parts of an upload: it signs those of the upload's plan, and
a job has one unfinished upload at a time, as on the local adapter (moto server over HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
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
