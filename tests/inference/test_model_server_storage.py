"""A model server whose bucket does not exist says so, naming it, as a server fault (5xx), and
is not ready until the bucket is there: a 400 "segment does not exist" failed jobs for good."""

from __future__ import annotations

import time

import httpx
import pytest

from inference_service.launcher import starting_model_server
from stereo_spot import keys
from stereo_spot.aws_setup import create_bucket_and_table
from stereo_spot.errors import ObjectNotFound, StoreUnavailable
from stereo_spot.storage.s3 import S3Storage
from tests.aws_fixtures import fresh_aws_settings, made_aws_settings

JOB = "bucketJob_0123456789ab"


def test_a_download_from_a_missing_bucket_names_the_bucket(moto_endpoint, tmp_path) -> None:
    missing = S3Storage.from_settings(fresh_aws_settings("nobucket"))
    with pytest.raises(StoreUnavailable, match=f"The S3 bucket {missing.bucket} does not exist"):
        missing.get_file("segments/x/00000_00001_sbs.mp4", tmp_path / "in.mp4")
    present = S3Storage.from_settings(made_aws_settings("bucket"))
    with pytest.raises(ObjectNotFound):  # a missing key in a bucket that exists is still that
        present.get_file("segments/x/00000_00001_sbs.mp4", tmp_path / "in.mp4")


@pytest.mark.slow
def test_a_server_without_its_bucket_is_not_ready_and_says_which(moto_endpoint, tmp_path) -> None:
    settings = fresh_aws_settings("server", data_dir=tmp_path / "data")
    storage = S3Storage.from_settings(settings)
    said = f"The S3 bucket {settings.bucket} does not exist"
    with starting_model_server(settings) as server:
        readiness = _first_answer(f"{server.url}/v1/models/stereo")
        assert readiness.status_code == 503 and said in readiness.json()["error"]
        body = {
            "instances": [{
                "job_id": JOB, "segment_index": 0,
                "input_uri": storage.uri_for(keys.source_segment_key(JOB, 0, 1, "anaglyph")),
                "output_uri": storage.uri_for(keys.converted_segment_key(JOB, 0)),
            }]
        }  # fmt: skip
        predicted = httpx.post(f"{server.url}/v1/models/stereo:predict", json=body, timeout=30)
        assert predicted.status_code == 503 and said in predicted.json()["error"]

        create_bucket_and_table(settings)  # the operator's fix: no restart needed
        assert httpx.get(f"{server.url}/v1/models/stereo", timeout=10).status_code == 200


def _first_answer(url: str, timeout: float = 120) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return httpx.get(url, timeout=5)
        except httpx.HTTPError:
            time.sleep(0.3)
    pytest.fail(f"no answer from {url}")
