"""A store that accepts connections and never answers (a network partition, a stopped moto):
the adapters give up with their one sentence, as their clients are configured, within about
half a minute rather than botocore's 5 x 60 s; and /healthz answers while every thread of the
sync routes' pool is taken by requests waiting on such a store.

No timing is asserted beyond "it returns". The store tests try once (``store_tries=1``): the
timeouts are what is tested, and three tries of them only multiply the wait (33 s for DynamoDB,
48 s for S3); each test's timeout is several times one try's, and far under the six minutes
botocore's defaults and the 5 retries took.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from stereo_spot.errors import StoreUnavailable
from stereo_spot.jobs.dynamo import DynamoJobStore
from stereo_spot.storage.s3 import S3Storage
from tests.aws_fixtures import fresh_aws_settings

SOME_JOB = "silentJob_0123456789abcd"


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a TCP server that accepts every connection and never sends
    a byte back."""
    server = socket.create_server(("127.0.0.1", 0), backlog=64)
    held: list[socket.socket] = []
    stopping = threading.Event()

    def hold_connections() -> None:
        while not stopping.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                return  # the server socket was closed
            held.append(connection)

    accepting = threading.Thread(target=hold_connections, name="silent-endpoint", daemon=True)
    accepting.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stopping.set()
        server.close()
        for connection in held:
            connection.close()


@pytest.mark.timeout(60)
def test_dynamodb_that_never_answers_is_reported_within_its_timeouts(
    moto_endpoint: str, silent_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", silent_endpoint)
    settings = fresh_aws_settings("silent").model_copy(update={"store_tries": 1})
    jobs = DynamoJobStore.from_settings(settings)

    with pytest.raises(StoreUnavailable) as unavailable:
        jobs.get(SOME_JOB)

    assert str(unavailable.value) == (
        f'Cannot reach DynamoDB at {silent_endpoint}: Read timeout on endpoint URL: "'
        f'{silent_endpoint}/".'
    )


@pytest.mark.timeout(60)
def test_s3_that_never_answers_is_reported_within_its_timeouts(
    moto_endpoint: str, silent_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", silent_endpoint)
    settings = fresh_aws_settings("silent").model_copy(update={"store_tries": 1})
    storage = S3Storage.from_settings(settings)

    with pytest.raises(StoreUnavailable) as unavailable:
        storage.list_prefix(f"jobs/{SOME_JOB}/")

    assert str(unavailable.value).startswith(
        f"Cannot reach S3 at {silent_endpoint}: Read timeout on endpoint URL: "
        f'"{silent_endpoint}/{settings.bucket}'
    )


@pytest.mark.timeout(120)
def test_healthz_answers_while_every_worker_thread_waits_on_the_store(settings) -> None:
    """Sync routes run in Starlette's pool of 40 threads; requests waiting on a store that does
    not answer take them all (a stand-in route holds them here, until /healthz has answered)."""
    app = create_app(settings)
    holding = threading.Semaphore(0)
    release = threading.Event()

    @app.get("/waits-on-the-store")
    def waits_on_the_store() -> dict[str, str]:
        holding.release()
        release.wait(100)
        return {}

    async def pool_use() -> tuple[float, float]:
        limiter = anyio.to_thread.current_default_thread_limiter()
        return limiter.borrowed_tokens, limiter.total_tokens

    with TestClient(app) as client:
        threads_in_pool = int(client.portal.call(pool_use)[1])
        waiting = [
            threading.Thread(target=client.get, args=("/waits-on-the-store",), daemon=True)
            for _ in range(threads_in_pool + 5)
        ]
        answers: list[int] = []
        asking = threading.Thread(
            target=lambda: answers.append(client.get("/healthz").status_code), daemon=True
        )
        try:
            for thread in waiting:
                thread.start()
            for _ in range(threads_in_pool):
                assert holding.acquire(timeout=60), "the stand-in route never got a thread"
            borrowed, total = client.portal.call(pool_use)
            assert borrowed == total, "the pool is full"

            asking.start()
            asking.join(60)
            assert answers == [200]
        finally:
            release.set()
            for thread in waiting:
                thread.join(30)
