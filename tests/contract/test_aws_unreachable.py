"""A bucket or table that does not exist, or an endpoint that does not answer: one sentence naming
it, from every AWS adapter method and from the command line, never a botocore traceback.

moto server stands for AWS; "does not answer" is a port on 127.0.0.1 nothing listens on (boto3
really connects and is refused, as with a stopped moto or a mistyped AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stereo_spot.cli import main
from stereo_spot.domain import Job, JobStatus, Layout
from stereo_spot.errors import StoreUnavailable
from stereo_spot.settings import Settings
from tests.aws_fixtures import free_port, fresh_aws_settings

NO_TABLE = r"^The DynamoDB table {name} does not exist at {endpoint}; create it with stereo-spot "
NO_BUCKET = r"^The S3 bucket {name} does not exist at {endpoint}; create it with stereo-spot "


@pytest.fixture
def missing(moto_endpoint: str, tmp_path: Path) -> Settings:
    """Settings naming a bucket and a table that nobody created, on a live moto server."""
    return fresh_aws_settings("missing", data_dir=tmp_path / "data")


@pytest.fixture
def dead_endpoint(monkeypatch: pytest.MonkeyPatch) -> str:
    """boto3 pointed at a port nothing listens on."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    return endpoint


def _store(settings: Settings):
    from stereo_spot.jobs.dynamo import DynamoJobStore

    return DynamoJobStore.from_settings(settings)


def _storage(settings: Settings):
    from stereo_spot.storage.s3 import S3Storage

    return S3Storage.from_settings(settings)


JOB_STORE_CALLS: dict[str, Callable[[Any], Any]] = {
    "get": lambda jobs: jobs.get("someJob_0123456789"),
    "create": lambda jobs: jobs.create(Job(layout=Layout.SBS, source_name="a.mp4")),
    "list_all": lambda jobs: jobs.list_all(),
    "list_completed": lambda jobs: jobs.list_completed(),
    "list_by_status": lambda jobs: jobs.list_by_status([JobStatus.QUEUED]),
    "transition": lambda jobs: jobs.transition("someJob_0123456789", JobStatus.FAILED),
    "mark_segment_done": lambda jobs: jobs.mark_segment_done("someJob_0123456789", 0),
    "delete": lambda jobs: jobs.delete("someJob_0123456789"),
}

STORAGE_CALLS: dict[str, Callable[[Any, Path], Any]] = {
    "put_file": lambda storage, file: storage.put_file(file, "input/someJob/source.mp4"),
    "list_prefix": lambda storage, _: storage.list_prefix("input/"),
    "delete_prefix": lambda storage, _: storage.delete_prefix("input/someJob/"),
    "start_multipart_upload": lambda s, _: s.start_multipart_upload("input/someJob/source.mp4"),
}


@pytest.mark.parametrize("call", JOB_STORE_CALLS.values(), ids=JOB_STORE_CALLS.keys())
def test_every_job_store_call_names_a_table_that_does_not_exist(missing, moto_endpoint, call):
    with pytest.raises(StoreUnavailable) as refused:
        call(_store(missing))
    assert refused.match(NO_TABLE.format(name=missing.jobs_table, endpoint=moto_endpoint))


@pytest.mark.parametrize("call", STORAGE_CALLS.values(), ids=STORAGE_CALLS.keys())
def test_every_storage_call_names_a_bucket_that_does_not_exist(
    missing, moto_endpoint, tmp_path, call
):
    file = tmp_path / "source.mp4"
    file.write_bytes(b"not really a video")
    with pytest.raises(StoreUnavailable) as refused:
        call(_storage(missing), file)
    assert refused.match(NO_BUCKET.format(name=missing.bucket, endpoint=moto_endpoint))


def test_a_missing_object_in_a_missing_bucket_is_still_just_missing(missing) -> None:
    # A HEAD answers 404 with no body, whichever is missing: the port's answer stays "no object".
    assert _storage(missing).exists("input/someJob/source.mp4") is False


def test_an_endpoint_that_does_not_answer_is_named(missing, dead_endpoint, tmp_path) -> None:
    with pytest.raises(StoreUnavailable, match=f"^Cannot reach DynamoDB at {dead_endpoint}: "):
        _store(missing).list_all()
    with pytest.raises(StoreUnavailable, match=f"^Cannot reach S3 at {dead_endpoint}: "):
        _storage(missing).list_prefix("input/")


# -- the command line ---------------------------------------------------------------------------


@pytest.fixture
def cli_env(missing: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The environment of a user of the aws backend whose bucket and table are ``missing``."""
    for name, value in missing.as_environment().items():
        monkeypatch.setenv(name, value)
    return missing


def test_jobs_list_on_a_table_that_does_not_exist_says_so(cli_env, moto_endpoint, capsys) -> None:
    assert main(["jobs", "list"]) == 1
    err = capsys.readouterr().err
    expected = f"stereo-spot: The DynamoDB table {cli_env.jobs_table} does not exist at "
    assert err.startswith(expected + moto_endpoint)
    assert err.count("\n") == 1  # one sentence, no traceback


def test_jobs_list_on_an_endpoint_that_does_not_answer_says_so(
    cli_env, dead_endpoint, capsys
) -> None:
    assert main(["jobs", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"stereo-spot: Cannot reach DynamoDB at {dead_endpoint}: ")
    assert err.count("\n") == 1


def test_convert_into_a_bucket_that_does_not_exist_says_so_and_leaves_no_job(
    cli_env, moto_endpoint, monkeypatch, clip_mp4, tmp_path, capsys
) -> None:
    from stereo_spot.aws_setup import create_bucket_and_table

    create_bucket_and_table(cli_env)
    missing_bucket = fresh_aws_settings("nobucket").bucket
    monkeypatch.setenv("STEREO_SPOT_BUCKET", missing_bucket)
    # Stored before any conversion: no model server is started or asked.
    monkeypatch.setenv("STEREO_SPOT_MODEL_URL", f"http://127.0.0.1:{free_port()}")

    assert main(["convert", str(clip_mp4), "-o", str(tmp_path / "out" / "nb.mp4")]) == 1

    err = capsys.readouterr().err
    assert f"stereo-spot: The S3 bucket {missing_bucket} does not exist at {moto_endpoint}" in err
    assert "Traceback" not in err
    assert _store(cli_env).list_all() == []  # no `created` job left in `jobs list`


def _portal_started(**environment: str) -> subprocess.CompletedProcess:
    """``stereo-spot portal`` run as a user runs it, to its end (it should refuse to start)."""
    env = {**os.environ, "STEREO_SPOT_MODEL_URL": f"http://127.0.0.1:{free_port()}"}
    script = Path(sys.executable).with_name("stereo-spot")
    return subprocess.run(
        [str(script), "portal", "--port", "0"],
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_portal_refuses_to_start_on_a_table_that_does_not_exist(cli_env, moto_endpoint) -> None:
    from stereo_spot.aws_setup import create_bucket

    create_bucket(cli_env)  # the bucket there: the table is what is missing
    started = _portal_started()
    assert started.returncode == 1, started.stdout
    assert started.stderr == (
        f"stereo-spot: The DynamoDB table {cli_env.jobs_table} does not exist at "
        f"{moto_endpoint}; create it with stereo-spot aws-init or Terraform.\n"
    )
    assert "running at" not in started.stdout


def test_portal_refuses_to_start_on_a_bucket_that_does_not_exist(cli_env, moto_endpoint) -> None:
    # It started, and every upload then failed with a 503.
    started = _portal_started()
    assert started.returncode == 1, started.stdout
    assert started.stderr == (
        f"stereo-spot: The S3 bucket {cli_env.bucket} does not exist at {moto_endpoint}; "
        "create it with stereo-spot aws-init or Terraform.\n"
    )
    assert "running at" not in started.stdout
