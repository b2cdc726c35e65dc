"""Presigned links name the bucket's regional endpoint on AWS, so S3 answers them at once from the
hour the bucket exists and in every region; an endpoint of one's own (moto, LocalStack) keeps the
path-style links it had. botocore presigns offline: no request is made here."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from stereo_spot.settings import Settings
from stereo_spot.storage.s3 import S3Storage
from tests.aws_fixtures import keys_and_nothing_else, made_aws_settings

BUCKET = "stereo-spot-media-123456789012"


@pytest.fixture
def aws_account(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Keys and no endpoint of one's own, as a pod on EKS or an operator's shell has."""
    return keys_and_nothing_else(monkeypatch)


def _hosts(storage: S3Storage) -> set[str]:
    links = [
        storage.presign_download("jobs/abc/final.mp4", 3600, "final.mp4"),
        storage.presign_upload_part("input/abc/source.mp4", "UPLOAD", 1, 3600),
        storage.presign_upload("input/abc/source.mp4", 10**9).url,
    ]
    return {urlsplit(link).hostname for link in links}


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("eu-west-1", f"{BUCKET}.s3.eu-west-1.amazonaws.com"),
        # An opt-in region, where the global name never serves the bucket.
        ("af-south-1", f"{BUCKET}.s3.af-south-1.amazonaws.com"),
        ("us-east-1", f"{BUCKET}.s3.amazonaws.com"),
    ],
)
def test_links_name_the_buckets_regional_endpoint(aws_account, region, host) -> None:
    aws_account.setenv("AWS_DEFAULT_REGION", region)
    storage = S3Storage.from_settings(Settings(backend="aws", bucket=BUCKET))

    assert _hosts(storage) == {host}


def test_aws_region_alone_sets_the_region_as_deploy_md_exports_it(aws_account) -> None:
    aws_account.setenv("AWS_REGION", "eu-west-1")
    storage = S3Storage.from_settings(Settings(backend="aws", bucket=BUCKET))

    assert _hosts(storage) == {f"{BUCKET}.s3.eu-west-1.amazonaws.com"}


def test_moto_keeps_path_style_links_that_work(moto_endpoint: str, tmp_path) -> None:
    settings = made_aws_settings("regional")
    storage = S3Storage.from_settings(settings)
    (tmp_path / "final.mp4").write_bytes(b"bytes")
    storage.put_file(tmp_path / "final.mp4", "jobs/abc/final.mp4")

    link = storage.presign_download("jobs/abc/final.mp4", 60)

    assert link.startswith(f"{moto_endpoint}/{settings.bucket}/jobs/abc/final.mp4?")
    assert httpx.get(link, timeout=30).content == b"bytes"
