"""Fixtures for the adapter contract suite: every adapter set meets the same tests for real.

The AWS side talks HTTP to ``moto_server`` started as a subprocess on 127.0.0.1 (a real endpoint,
real boto3 clients, no in-process mocks; the fixture lives in tests/aws_fixtures.py, shared with
the pipeline and portal suites). Each test gets its own bucket and table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stereo_spot.jobs import JobStore
from stereo_spot.settings import Settings
from stereo_spot.storage import ObjectStorage
from tests import aws_fixtures

ADAPTER_SETS = ("local", "aws")

# The job whose source the uploads in parts send (test_uploads_in_parts.py).
PARTS_JOB_ID = "contractJob_0123456789"


def pytest_configure(config: pytest.Config) -> None:
    # Also wanted in pyproject's markers list; registered here so --strict-markers passes now.
    config.addinivalue_line(
        "markers", "large: moves a multi-hundred-MB object (deselect with -m 'not large')"
    )


@pytest.fixture
def aws_settings(moto_endpoint: str) -> Settings:
    """Settings naming a fresh bucket and table on moto server, both created by aws_setup."""
    from stereo_spot.aws_setup import create_bucket_and_table

    settings = aws_fixtures.fresh_aws_settings("contract")
    create_bucket_and_table(settings)
    return settings


@pytest.fixture
def s3_storage(aws_settings: Settings):
    from stereo_spot.storage.s3 import S3Storage

    return S3Storage.from_settings(aws_settings)


@pytest.fixture(params=ADAPTER_SETS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStorage:
    if request.param == "local":
        from stereo_spot.storage.local import LocalStorage

        return LocalStorage(tmp_path / "media")
    return request.getfixturevalue("s3_storage")


@pytest.fixture(params=ADAPTER_SETS)
def job_store(request: pytest.FixtureRequest, tmp_path: Path) -> JobStore:
    if request.param == "local":
        from stereo_spot.jobs.sqlite import SqliteJobStore

        return SqliteJobStore(tmp_path / "jobs.sqlite3")
    from stereo_spot.jobs.dynamo import DynamoJobStore

    return DynamoJobStore.from_settings(request.getfixturevalue("aws_settings"))


@pytest.fixture(params=ADAPTER_SETS)
def parts_storage(request: pytest.FixtureRequest, tmp_path: Path):
    """An adapter that signs part URLs, and how a client PUTs a part to one: to moto server
    for S3; to the portal's /storage endpoint (what serves the local adapter's URLs) locally.
    Yields ``(storage, put)`` where ``put(url, data)`` returns the HTTP answer."""
    import httpx

    if request.param == "aws":
        yield request.getfixturevalue("s3_storage"), lambda url, data: httpx.put(url, content=data)
        return
    from fastapi.testclient import TestClient

    from portal.app import create_app
    from stereo_spot.domain import Job
    from stereo_spot.wiring import job_store_from, storage_from

    settings = Settings(backend="local", data_dir=tmp_path / "data")
    storage, jobs = storage_from(settings), job_store_from(settings)
    # The portal takes a source's parts only while its job waits for them.
    jobs.create(Job(job_id=PARTS_JOB_ID, source_name="contract.mp4"))
    app = create_app(settings, storage=storage, jobs=jobs)
    with TestClient(app) as client:
        yield storage, lambda url, data: client.put(url, content=data)
