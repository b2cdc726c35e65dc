"""How often a DynamoDB or S3 request is tried: few times for the portal's pages, whose visitors
(and load balancer) wait on the answer; more in the pipeline's steps, which nobody waits on and
which fail their job on a store fault."""

from __future__ import annotations

from stereo_spot.jobs.dynamo import DynamoJobStore
from stereo_spot.settings import PIPELINE_STORE_TRIES, Settings
from stereo_spot.storage.s3 import S3Storage


def _tries(client) -> int:
    return client.meta.config.retries["total_max_attempts"]


def test_pages_try_a_store_request_three_times_and_pipeline_steps_more(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings = Settings(backend="aws")
    steps = settings.for_pipeline_steps()

    assert _tries(DynamoJobStore.from_settings(settings).client) == 3
    assert _tries(S3Storage.from_settings(settings).client) == 3
    assert _tries(DynamoJobStore.from_settings(steps).client) == PIPELINE_STORE_TRIES
    assert _tries(S3Storage.from_settings(steps).client) == PIPELINE_STORE_TRIES


def test_an_operator_who_asks_for_more_tries_gets_them_in_the_steps_too(monkeypatch):
    monkeypatch.setenv("STEREO_SPOT_STORE_TRIES", "12")
    settings = Settings()

    assert settings.store_tries == 12
    assert settings.for_pipeline_steps().store_tries == 12
    assert settings.as_environment()["STEREO_SPOT_STORE_TRIES"] == "12"
