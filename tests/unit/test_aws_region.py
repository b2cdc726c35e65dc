"""The region of the bucket and table: ``AWS_REGION`` (what DEPLOY.md exports and the AWS CLI v2
reads) is enough, and no region at all is one sentence and exit 1, for the commands and for
``aws-smoke`` asked to check a deployment, never a traceback or a "skipped" that passes."""

from __future__ import annotations

import pytest

from stereo_spot.cli import main
from stereo_spot.jobs.dynamo import DynamoJobStore
from stereo_spot.settings import Settings
from tests.aws_fixtures import keys_and_nothing_else

NO_REGION = (
    "No AWS region is set; set AWS_REGION (or AWS_DEFAULT_REGION) to the region of the bucket "
    "and table, e.g. eu-west-1."
)


@pytest.fixture
def operator_shell(monkeypatch: pytest.MonkeyPatch, tmp_path) -> pytest.MonkeyPatch:
    """Keys, and a profile that names no region (a CI runner, an SSO profile without one)."""
    keys_and_nothing_else(monkeypatch)
    monkeypatch.setenv("STEREO_SPOT_BACKEND", "aws")
    monkeypatch.setenv("STEREO_SPOT_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def test_aws_region_is_the_region(operator_shell) -> None:
    operator_shell.setenv("AWS_REGION", "eu-west-1")

    store = DynamoJobStore.from_settings(Settings(backend="aws"))

    assert store.client.meta.region_name == "eu-west-1"


def test_aws_default_region_comes_first_as_boto3_has_it(operator_shell) -> None:
    operator_shell.setenv("AWS_REGION", "eu-west-1")
    operator_shell.setenv("AWS_DEFAULT_REGION", "eu-central-1")

    store = DynamoJobStore.from_settings(Settings(backend="aws"))

    assert store.client.meta.region_name == "eu-central-1"


@pytest.mark.parametrize(
    "command",
    [
        ["jobs", "show", "0123456789abcdef0123456789abcdef"],
        ["jobs", "list"],
        ["jobs", "cancel", "0123456789abcdef0123456789abcdef"],
    ],
)
def test_no_region_is_one_sentence_and_exit_1(operator_shell, capsys, command) -> None:
    assert main(command) == 1

    assert capsys.readouterr().err == f"stereo-spot: {NO_REGION}\n"


def test_aws_smoke_asked_to_check_a_deployment_without_a_region_fails(
    operator_shell, capsys
) -> None:
    operator_shell.setenv("STEREO_SPOT_BUCKET", "stereo-spot-media-123456789012")
    operator_shell.setenv("STEREO_SPOT_JOBS_TABLE", "stereo-spot-jobs")

    assert main(["aws-smoke"]) == 1

    out, err = capsys.readouterr()
    assert "skipped" not in out
    assert err == (
        "stereo-spot: aws-smoke cannot check bucket stereo-spot-media-123456789012 and table "
        f"stereo-spot-jobs: {NO_REGION[0].lower()}{NO_REGION[1:]}\n"
    )
