"""``stereo-spot aws-init`` and ``aws-smoke`` against moto server, and what aws-smoke says when it
skips or cannot run."""

from __future__ import annotations

import json
import socket
import uuid

import pytest

from stereo_spot.cli import main


@pytest.fixture
def names(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:10]
    bucket, table = f"stereo-spot-cli-{suffix}", f"stereo-spot-cli-jobs-{suffix}"
    monkeypatch.setenv("STEREO_SPOT_BUCKET", bucket)
    monkeypatch.setenv("STEREO_SPOT_JOBS_TABLE", table)
    return bucket, table


def test_aws_init_creates_then_finds(names, capsys) -> None:
    bucket, table = names
    assert main(["aws-init"]) == 0
    first = capsys.readouterr().out
    assert f"created bucket {bucket}" in first
    assert f"created table {table} with indexes status-completed_at, status-created_at" in first
    assert "TTL" in first

    assert main(["aws-init"]) == 0
    second = capsys.readouterr().out
    assert f"found bucket {bucket}" in second
    assert f"found table {table}" in second


def test_aws_init_makes_the_gsi_and_ttl(names) -> None:
    import boto3

    _, table = names
    assert main(["aws-init"]) == 0
    client = boto3.client("dynamodb")
    description = client.describe_table(TableName=table)["Table"]
    assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    indexes = {
        index["IndexName"]: [key["AttributeName"] for key in index["KeySchema"]]
        for index in description["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        "status-completed_at": ["status", "completed_at"],
        "status-created_at": ["status", "created_at"],
    }
    ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"


def test_aws_init_adds_the_newer_index_to_an_older_table_and_keeps_its_jobs(names, capsys) -> None:
    """A table an older aws-init made (the completed index alone) gains the index the list by
    status reads, filled with the jobs already in it."""
    import boto3

    from stereo_spot.aws_setup import jobs_table_definition
    from stereo_spot.domain import Job, JobStatus, Layout
    from stereo_spot.errors import StoreNotReady
    from stereo_spot.jobs.dynamo import DynamoJobStore

    _, table = names
    older = jobs_table_definition(table)
    older["GlobalSecondaryIndexes"] = older["GlobalSecondaryIndexes"][:1]
    older["AttributeDefinitions"] = [
        a for a in older["AttributeDefinitions"] if a["AttributeName"] != "created_at"
    ]
    client = boto3.client("dynamodb")
    client.create_table(**older)
    store = DynamoJobStore(table, client)
    failed = store.create(Job(layout=Layout.SBS, source_name="old.mp4"))
    store.transition(failed.job_id, JobStatus.FAILED, error="no picture")
    with pytest.raises(StoreNotReady, match="needs the index status-created_at on the table"):
        store.list_by_status([JobStatus.FAILED])

    assert main(["aws-init"]) == 0

    assert f"added index status-created_at to {table}" in capsys.readouterr().out
    listed = store.list_by_status([JobStatus.FAILED]).jobs
    assert [job.job_id for job in listed] == [failed.job_id]


def test_aws_smoke_passes_on_an_initialised_endpoint(names, capsys) -> None:
    assert main(["aws-init"]) == 0
    capsys.readouterr()

    assert main(["aws-smoke"]) == 0

    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert "aws-smoke passed." in out
    assert "ok   upload in parts" in out
    assert "skip signature and POST-policy enforcement" in out


def test_aws_smoke_reads_terraform_outputs(names, tmp_path, monkeypatch, capsys) -> None:
    bucket, table = names
    assert main(["aws-init"]) == 0
    monkeypatch.delenv("STEREO_SPOT_BUCKET")
    monkeypatch.delenv("STEREO_SPOT_JOBS_TABLE")
    outputs = tmp_path / "tf.json"
    outputs.write_text(
        json.dumps(
            {
                "bucket": {"sensitive": False, "type": "string", "value": bucket},
                "jobs_table": {"sensitive": False, "type": "string", "value": table},
            }
        )
    )
    capsys.readouterr()

    assert main(["aws-smoke", "--tf-outputs", str(outputs)]) == 0
    assert f"bucket {bucket}, table {table}" in capsys.readouterr().out


def test_aws_smoke_fails_when_the_table_is_missing(names, capsys) -> None:
    from stereo_spot.aws_setup import create_bucket
    from stereo_spot.settings import Settings

    bucket, table = names
    create_bucket(Settings(bucket=bucket, jobs_table=table))

    assert main(["aws-smoke"]) == 1
    assert "FAIL create/transition job" in capsys.readouterr().out


def test_aws_smoke_skips_without_names(monkeypatch, capsys) -> None:
    monkeypatch.delenv("STEREO_SPOT_BUCKET", raising=False)
    monkeypatch.delenv("STEREO_SPOT_JOBS_TABLE", raising=False)

    assert main(["aws-smoke"]) == 0

    out = capsys.readouterr().out.strip()
    assert out.startswith("aws-smoke skipped: no bucket or jobs table name is known")
    assert out.count("\n") == 0


def test_aws_smoke_asked_to_check_a_deployment_without_credentials_fails(
    monkeypatch, tmp_path, capsys
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    # No instance metadata lookups from a test: point IMDS at nothing, fail fast.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("STEREO_SPOT_BUCKET", "b")
    monkeypatch.setenv("STEREO_SPOT_JOBS_TABLE", "t")

    assert main(["aws-smoke"]) == 1

    assert capsys.readouterr().err == (
        "stereo-spot: aws-smoke cannot check bucket b and table t: no AWS credentials were found "
        "(environment, profile or instance role).\n"
    )


def test_aws_smoke_skips_when_the_outputs_file_is_missing(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.delenv("STEREO_SPOT_BUCKET", raising=False)
    assert main(["aws-smoke", "--tf-outputs", str(tmp_path / "absent.json")]) == 0
    assert "does not exist" in capsys.readouterr().out


def test_aws_init_on_an_endpoint_that_does_not_answer_says_so(monkeypatch, capsys) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("STEREO_SPOT_BUCKET", "stereo-spot-nowhere")
    assert main(["aws-init"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("stereo-spot: aws-init could not create stereo-spot-nowhere and ")
    assert f"on {endpoint}: Could not connect to the endpoint URL" in err
    assert "Traceback" not in err
