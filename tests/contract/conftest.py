"""Fixtures for the adapter contract suite: every adapter set meets the same tests for real.

The AWS side talks HTTP to ``moto_server`` started as a subprocess on 127.0.0.1 (a real endpoint,
real boto3 clients, no in-process mocks). Each test gets its own bucket and table.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from stereo_spot.jobs import JobStore
from stereo_spot.settings import Settings
from stereo_spot.storage import ObjectStorage

ADAPTER_SETS = ("local", "aws")


def pytest_configure(config: pytest.Config) -> None:
    # Also wanted in pyproject's markers list; registered here so --strict-markers passes now.
    config.addinivalue_line(
        "markers", "large: moves a multi-hundred-MB object (deselect with -m 'not large')"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_answering(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(
        f"moto_server did not answer at {url} within {timeout} s:\n{log.read_text()}"
    )


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start moto server, point boto3's own environment at it, stop it at the end."""
    pytest.importorskip("moto.server", reason="moto[server] is a dev dependency")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_answering(f"{endpoint}/moto-api/", process, log, timeout=30)
        with pytest.MonkeyPatch.context() as env:
            # Dummy credentials and no profile: nothing here can reach a real account.
            for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
                env.delenv(name, raising=False)
            env.setenv("AWS_ACCESS_KEY_ID", "testing")
            env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
            env.setenv("AWS_DEFAULT_REGION", "us-east-1")
            env.setenv("AWS_ENDPOINT_URL", endpoint)
            env.setenv("AWS_CONFIG_FILE", os.devnull)
            env.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
            yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def aws_settings(moto_endpoint: str) -> Settings:
    """Settings naming a fresh bucket and table on moto server, both created by aws_setup."""
    from stereo_spot.aws_setup import create_bucket_and_table

    suffix = uuid.uuid4().hex[:12]
    settings = Settings(
        backend="aws", bucket=f"stereo-spot-test-{suffix}", jobs_table=f"stereo-spot-jobs-{suffix}"
    )
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
