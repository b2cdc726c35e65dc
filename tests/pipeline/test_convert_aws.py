"""``stereo-spot convert`` on the AWS backend: S3 and DynamoDB over HTTP (moto server).

The same real pipeline (kfp.local), the same real model server (started by the CLI, which must
hand it the AWS environment), real media; only the adapters differ from tests/pipeline/
test_convert.py. The bucket and table come from ``stereo-spot aws-init`` on the moto endpoint.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from stereo_spot import keys
from stereo_spot.domain import JobStatus, Layout
from stereo_spot.settings import Settings
from tests.aws_fixtures import fresh_aws_settings
from tests.pipeline.test_convert import assert_faithful_conversion

pytestmark = pytest.mark.slow


@pytest.fixture
def aws_cli(moto_endpoint: str, tmp_path: Path) -> tuple[dict[str, str], Settings]:
    """The environment a user of the aws backend has, with a fresh bucket and table from
    ``stereo-spot aws-init``; no model URL, so ``convert`` starts its own model server."""
    settings = fresh_aws_settings("media", data_dir=tmp_path / "data")
    env = {**os.environ, **settings.as_environment()}
    for name in ("STEREO_SPOT_MODEL_URL", "STEREO_SPOT_KFP_HOST"):
        env.pop(name, None)
    assert env["AWS_ENDPOINT_URL"] == moto_endpoint
    init = subprocess.run(
        ["stereo-spot", "aws-init"], env=env, capture_output=True, text=True, timeout=60
    )
    assert init.returncode == 0, init.stderr
    assert f"created bucket {settings.bucket}" in init.stdout
    assert f"created table {settings.jobs_table}" in init.stdout
    return env, settings


def _task_outputs(run_root: Path) -> dict[str, object]:
    """Each kfp.local task's returned value, by its output folder (``.../chunk-op``)."""
    outputs = {}
    for path in run_root.rglob("executor_output.json"):
        task = path.parent.relative_to(run_root).as_posix()
        outputs[task] = json.loads(path.read_text())["parameterValues"]["Output"]
    return outputs


def test_convert_keeps_media_in_s3_and_the_job_in_dynamodb(aws_cli, clip_mp4, tmp_path):
    from stereo_spot.jobs.dynamo import DynamoJobStore
    from stereo_spot.storage.s3 import S3Storage

    env, settings = aws_cli
    output = tmp_path / "clip_LR.mp4"
    result = subprocess.run(
        ["stereo-spot", "convert", str(clip_mp4), "-o", str(output), "--layout", "sbs",
         "--segment-seconds", "1"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert_faithful_conversion(clip_mp4, output, "sbs")
    job_id = re.search(r"job (\S+): converting", result.stderr).group(1)

    job = DynamoJobStore.from_settings(settings).get(job_id)
    assert job.status is JobStatus.COMPLETED, job.error
    assert job.total_segments == 3  # a 3 s clip in 1 s segments
    assert job.completed_segments == job.total_segments
    assert job.completed_at is not None and job.source is not None

    total = job.total_segments
    expected = {keys.source_key(job_id), keys.final_key(job_id), keys.preview_key(job_id)}
    storage = S3Storage.from_settings(settings)
    # The segments, source and converted, went once the result was stored.
    assert set(storage.list_prefix("")) == expected

    # s3:// URIs flowed through every step: chunk's work items, the model server's answers
    # (convert returns the URI the server says it wrote) and reassemble's result.
    outputs = _task_outputs(settings.runs_dir / job_id)
    items = next(value for task, value in outputs.items() if task.endswith("chunk-op"))
    assert [item["input_uri"] for item in items] == [
        storage.uri_for(keys.source_segment_key(job_id, i, total, Layout.SBS)) for i in range(total)
    ]
    converted = sorted(value for task, value in outputs.items() if task.endswith("convert-op"))
    assert converted == [storage.uri_for(keys.converted_segment_key(job_id, i)) for i in range(3)]
    reassembled = next(v for task, v in outputs.items() if task.endswith("reassemble-op"))
    assert reassembled == f"s3://{settings.bucket}/{keys.final_key(job_id)}"
    # Nothing went to the local backend's media folder.
    assert not settings.media_root.exists()
