"""moto server on 127.0.0.1 for every suite that talks to the AWS adapters.

A real HTTP endpoint (``python -m moto.server`` in a subprocess), real boto3 clients, no in-process
mocks. ``moto_endpoint`` points boto3's own environment variables at it for the session, with
dummy credentials and no profile, so nothing can reach a real account. The root conftest
registers the fixture once, so every suite shares one server.
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

from stereo_spot.settings import Settings


def fresh_aws_settings(purpose: str, **fields: object) -> Settings:
    """Settings of the aws backend naming a bucket and a jobs table of their own (a random
    suffix, so tests never share them), not created yet."""
    suffix = uuid.uuid4().hex[:10]
    return Settings(
        backend="aws",
        bucket=f"stereo-spot-{purpose}-{suffix}",
        jobs_table=f"stereo-spot-{purpose}-jobs-{suffix}",
        **fields,
    )


def made_aws_settings(purpose: str, **fields: object) -> Settings:
    """:func:`fresh_aws_settings` with their bucket and jobs table made, as ``aws-init`` makes
    them (moto server must be up: the ``moto_endpoint`` fixture)."""
    from stereo_spot.aws_setup import create_bucket_and_table

    settings = fresh_aws_settings(purpose, **fields)
    create_bucket_and_table(settings)
    return settings


# The media bucket's CORS rule as ``aws-init`` made it before the upload page sent parts as
# presigned PUTs (presigned POST and playback only): every part of a browser upload refused.
OLDER_AWS_INIT_CORS_RULE = {
    "AllowedMethods": ["GET", "HEAD", "POST"],
    "AllowedOrigins": ["*"],
    "AllowedHeaders": ["*"],
    "ExposeHeaders": ["ETag", "Content-Length", "Content-Range"],
    "MaxAgeSeconds": 3600,
}


def free_port() -> int:
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


# moto's own ``moto_server`` serves requests on many threads, but its backends are not
# thread-safe: two conditional DynamoDB writes can interleave and both pass (real DynamoDB applies
# each one atomically). Serving one request at a time keeps the racing-update tests honest.
_SERIAL_MOTO_SERVER = (
    "import sys\n"
    "from werkzeug.serving import run_simple\n"
    "from moto.server import DomainDispatcherApplication, create_backend_app\n"
    "run_simple(sys.argv[1], int(sys.argv[2]),"
    " DomainDispatcherApplication(create_backend_app), threaded=False)\n"
)


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start moto server, point boto3's own environment at it, stop it at the end."""
    pytest.importorskip("moto.server", reason="moto[server] is a dev dependency")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-c", _SERIAL_MOTO_SERVER, "127.0.0.1", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_answering(f"{endpoint}/moto-api/", process, log, timeout=30)
        with pytest.MonkeyPatch.context() as env:
            for name, value in moto_environment(endpoint).items():
                if value is None:
                    env.delenv(name, raising=False)
                else:
                    env.setenv(name, value)
            yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def moto_environment(endpoint: str) -> dict[str, str | None]:
    """boto3's variables for moto server (``None`` = unset): dummy credentials, no profile."""
    return {
        "AWS_PROFILE": None,
        "AWS_SESSION_TOKEN": None,
        "AWS_SECURITY_TOKEN": None,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def keys_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An operator's shell or a pod as boto3 sees it from the environment alone: example keys,
    and no region, profile, endpoint of one's own or web identity (tests set what they need)."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    return monkeypatch
