"""On EKS (IRSA) a presigned link works for as long as it says: the pod's role session it is signed
with outlives it, and is renewed before it no longer would. S3 refuses a link once the session
that signed it has ended, whatever its X-Amz-Expires says; boto3 alone asked STS for an hour and
renewed with 15 minutes left, so a link signed for an hour worked 10 to 60 minutes.

moto server plays STS (AssumeRoleWithWebIdentity, honouring DurationSeconds) and S3; the pod's
clock is the one thing stood in for, to look at the session 20 minutes on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from stereo_spot.aws_session import MAX_WEB_IDENTITY_LINK_SECONDS, aws_session
from stereo_spot.errors import StoreUnavailable
from stereo_spot.settings import Settings
from stereo_spot.storage.s3 import S3Storage, s3_client_config
from tests.aws_fixtures import made_aws_settings

ROLE = "arn:aws:iam::123456789012:role/stereo-spot-portal"
LINK_SECONDS = 7200


@pytest.fixture
def pod_settings(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Settings:
    """A bucket with one object, and the environment EKS gives a pod with an IRSA role: a role
    ARN and a web identity token file, no keys."""
    settings = made_aws_settings("irsa", download_url_seconds=LINK_SECONDS)
    (tmp_path / "final.mp4").write_bytes(b"converted")
    S3Storage.from_settings(settings).put_file(tmp_path / "final.mp4", "jobs/abc/final.mp4")
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwb3J0YWwifQ.c2lnbmF0dXJl")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_ROLE_ARN", ROLE)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    return settings


class PodClock:
    def __init__(self) -> None:
        self.skipped = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.skipped


def _signed_by(link: str) -> str:
    """The access key a presigned link was signed with."""
    return parse_qs(urlsplit(link).query)["X-Amz-Credential"][0].split("/")[0]


def test_a_link_is_signed_with_the_pods_role_session_and_works(pod_settings) -> None:
    storage = S3Storage.from_settings(pod_settings)

    link = storage.presign_download("jobs/abc/final.mp4", LINK_SECONDS)

    query = parse_qs(urlsplit(link).query)
    assert query["X-Amz-Expires"] == [str(LINK_SECONDS)]
    assert query["X-Amz-Security-Token"]  # a session's, from STS, not the keys moto was set up with
    assert _signed_by(link) != "testing"
    assert httpx.get(link, timeout=30).content == b"converted"


def test_the_session_outlives_every_link_it_signs_and_is_renewed_before_it_would_not(
    pod_settings,
) -> None:
    clock = PodClock()
    session = aws_session(pod_settings, clock=clock)
    storage = S3Storage(pod_settings.bucket, session.client("s3", config=s3_client_config()))
    credentials = session.get_credentials()

    first = storage.presign_download("jobs/abc/final.mp4", LINK_SECONDS)
    assert not credentials.refresh_needed(LINK_SECONDS)  # it has the link's life left, and more

    clock.skipped = timedelta(minutes=10)  # the same session signs for a while
    assert _signed_by(storage.presign_download("jobs/abc/final.mp4", LINK_SECONDS)) == (
        _signed_by(first)
    )

    # 20 minutes on, the first session has less than a link's life (and a minute) left: the
    # next link is signed with a new one, which outlives it.
    clock.skipped = timedelta(minutes=20, seconds=10)
    later = storage.presign_download("jobs/abc/final.mp4", LINK_SECONDS)
    assert _signed_by(later) != _signed_by(first)
    assert not credentials.refresh_needed(LINK_SECONDS)
    assert httpx.get(later, timeout=30).content == b"converted"


def test_a_link_longer_than_a_role_session_can_sign_is_refused_in_one_sentence(
    pod_settings,
) -> None:
    too_long = pod_settings.model_copy(update={"upload_url_seconds": 86400})

    with pytest.raises(StoreUnavailable) as refused:
        S3Storage.from_settings(too_long)

    sentence = str(refused.value)
    assert sentence.startswith(
        f"A link signed with this pod's role (AWS_ROLE_ARN) works for at most "
        f"{MAX_WEB_IDENTITY_LINK_SECONDS} s, not the 86400 s that STEREO_SPOT_UPLOAD_URL_SECONDS"
    )
    assert sentence.endswith("; lower the setting.")


def test_keys_in_the_environment_still_sign_as_boto3_would(pod_settings, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    link = S3Storage.from_settings(pod_settings).presign_download("jobs/abc/final.mp4")

    assert _signed_by(link) == "testing"


def test_a_missing_token_file_is_said_in_one_sentence(pod_settings, monkeypatch, capsys) -> None:
    from stereo_spot.cli import main

    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token")
    monkeypatch.setenv("STEREO_SPOT_BACKEND", "aws")
    monkeypatch.setenv("STEREO_SPOT_JOBS_TABLE", pod_settings.jobs_table)

    assert main(["jobs", "list"]) == 1

    assert capsys.readouterr().err == (
        "stereo-spot: Cannot read the pod's web identity token /nonexistent/token "
        "(AWS_WEB_IDENTITY_TOKEN_FILE): No such file or directory.\n"
    )


def test_the_roles_terraform_makes_let_the_default_links_be_signed() -> None:
    """A role whose max_session_duration is below the session asked for refuses it, and the
    portal does not start: the roles must allow what the default settings ask."""
    import re
    from pathlib import Path

    from stereo_spot.aws_session import web_identity_session_seconds

    terraform = Path(__file__).resolve().parents[2] / "terraform"
    module = (terraform / "modules" / "irsa-role" / "main.tf").read_text()
    block = module[module.index('variable "max_session_duration"') :]
    allowed = int(re.search(r"default\s*=\s*(\d+)", block).group(1))
    defaults = Settings()
    needed = web_identity_session_seconds(
        max(defaults.upload_url_seconds, defaults.download_url_seconds)
    )

    assert allowed >= needed
    # No role overrides the module's default with less.
    for seconds in re.findall(
        r"max_session_duration\s*=\s*(\d+)", (terraform / "infra" / "irsa.tf").read_text()
    ):
        assert int(seconds) >= needed
