"""The portal on S3 and DynamoDB that are missing or do not answer: 503 with one sentence naming
the bucket, table or endpoint (JSON under /api, the error page for pages), never a bare 500.

moto server stands for AWS; a DynamoDB that "does not answer" is a port on 127.0.0.1 nothing
listens on, as after moto or the network went away under a running portal.
"""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from portal.launcher import LocalRunLauncher
from stereo_spot.cli.web import ChildProcessRuns
from stereo_spot.settings import Settings
from tests.aws_fixtures import free_port, fresh_aws_settings, made_aws_settings
from tests.portal.conftest import MAX_UPLOAD_BYTES, create_job_via_api

SOME_JOB = "someJob_0123456789abcdef"


@pytest.fixture
def aws_settings(moto_endpoint: str, tmp_path: Path) -> Settings:
    return made_aws_settings(
        "unreachable", data_dir=tmp_path / "data", max_upload_bytes=MAX_UPLOAD_BYTES
    )


def test_an_upload_into_a_bucket_that_does_not_exist_is_refused_naming_it(
    aws_settings: Settings, moto_endpoint: str
) -> None:
    missing = fresh_aws_settings("nobucket").bucket
    settings = aws_settings.model_copy(update={"bucket": missing})
    with TestClient(create_app(settings)) as client:
        job_id, _ = create_job_via_api(client, layout="sbs")

        started = client.post(f"/api/jobs/{job_id}/uploads", json={"size": 1000})

    assert started.status_code == 503
    assert started.json() == {
        "detail": f"The S3 bucket {missing} does not exist at {moto_endpoint}; create it with "
        "stereo-spot aws-init or Terraform."
    }


@pytest.fixture
def dynamodb_gone(aws_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> str:
    """DynamoDB's endpoint, where nothing answers any more."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
    return endpoint


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/jobs/{SOME_JOB}"),
        ("GET", "/api/jobs?show=unfinished"),
        ("GET", "/api/jobs"),
        ("POST", "/api/jobs"),
    ],
)
def test_the_api_answers_503_naming_dynamodb_when_it_does_not_answer(
    aws_settings: Settings, dynamodb_gone: str, method: str, path: str
) -> None:
    with TestClient(create_app(aws_settings)) as client:
        answer = client.request(method, path, json={"layout": "sbs"} if method == "POST" else None)

    assert answer.status_code == 503
    assert answer.json()["detail"].startswith(f"Cannot reach DynamoDB at {dynamodb_gone}: ")


@pytest.mark.parametrize("path", ["/jobs", f"/jobs/{SOME_JOB}"])
def test_pages_show_the_error_page_naming_dynamodb_when_it_does_not_answer(
    aws_settings: Settings, dynamodb_gone: str, path: str
) -> None:
    with TestClient(create_app(aws_settings)) as client:
        page = client.get(path)

    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert f"Cannot reach DynamoDB at {dynamodb_gone}: " in html.unescape(page.text)
    assert "That did not work" in page.text


def test_pages_name_a_table_that_does_not_exist(aws_settings: Settings, moto_endpoint) -> None:
    missing = fresh_aws_settings("notable").jobs_table
    settings = aws_settings.model_copy(update={"jobs_table": missing})
    with TestClient(create_app(settings)) as client:
        page = client.get("/jobs")

    assert page.status_code == 503
    assert (
        f"The DynamoDB table {missing} does not exist at {moto_endpoint}; create it with "
        "stereo-spot aws-init or Terraform." in html.unescape(page.text)
    )


def test_the_local_runner_outlives_its_table_going_away(aws_settings: Settings) -> None:
    """A job the runner cannot read while the table is gone is left as it is, and the runner
    takes the next one: its thread does not die with the store's outage."""
    import boto3

    from stereo_spot.wiring import job_store_from

    jobs = job_store_from(aws_settings)
    launcher = LocalRunLauncher(jobs, ChildProcessRuns(aws_settings, jobs)).start()
    try:
        boto3.client("dynamodb").delete_table(TableName=aws_settings.jobs_table)
        # Had the first killed the worker, nobody would take the second: it would wait forever.
        for job_id in (SOME_JOB, SOME_JOB[::-1]):
            launcher.submit(job_id)
            assert launcher.wait_idle(timeout=30)
    finally:
        launcher.stop()
