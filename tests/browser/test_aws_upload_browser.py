"""The upload page in a real browser against the portal on the AWS backend: each part goes from
Chromium straight to moto server's bucket, cross-origin, as a presigned PUT, so the bucket's CORS
rule decides whether an upload can happen at all.

The bucket is made by ``stereo-spot aws-init`` itself. The portal runs without a runner: these
tests are about the upload, which ends with the page's start refused for want of one.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from stereo_spot.cli import main
from stereo_spot.keys import source_key
from stereo_spot.settings import Settings
from stereo_spot.wiring import storage_from
from tests.aws_fixtures import OLDER_AWS_INIT_CORS_RULE, fresh_aws_settings
from tests.served import served

pytestmark = pytest.mark.browser

PART_BYTES = 5 * 1024**2
NO_RUNNER = "This portal cannot run conversions"


@pytest.fixture
def settings(moto_endpoint: str, tmp_path: Path) -> Settings:
    """The aws backend on moto server, parts of 5 MiB (S3's smallest); nothing made yet."""
    return fresh_aws_settings(
        "browser", data_dir=tmp_path / "data", upload_part_bytes=PART_BYTES,
        max_upload_bytes=64 * 1024**2,
    )  # fmt: skip


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """Three parts' worth of bytes: the upload does not read them, and S3 joins them blindly."""
    path = tmp_path / "camera.mov"
    path.write_bytes(os.urandom(2 * PART_BYTES + 1024**2))
    return path


def _aws_init(settings: Settings) -> None:
    assert main(["aws-init", "--bucket", settings.bucket, "--table", settings.jobs_table]) == 0


def _portal(settings: Settings):
    """``stereo-spot portal``'s app over ``settings`` (no runner), served on a free port."""
    from portal.app import create_app

    return served(create_app(settings))


def _upload_page(page, portal: str) -> str:
    """A new job's upload page; the job's id."""
    page.goto(portal)
    page.click("text=Continue to upload")
    page.wait_for_url(re.compile(r"/jobs/[A-Za-z0-9_-]+$"))
    return page.url.rsplit("/", 1)[1]


def _message_once_it_holds(page, text: str, seconds: float = 60) -> str:
    """The upload message once it holds ``text`` (failing with the message it held instead)."""
    deadline = time.monotonic() + seconds
    while text not in (message := page.locator("#upload-message").inner_text()):
        assert time.monotonic() < deadline, message
        page.wait_for_timeout(100)
    return message


def _upload(page, video: Path) -> None:
    page.set_input_files("#file", str(video))
    page.click("#upload-button")


def _stored(settings: Settings, job_id: str, tmp_path: Path) -> bytes:
    return storage_from(settings).get_file(source_key(job_id), tmp_path / "stored").read_bytes()


def test_a_page_uploads_its_parts_into_a_bucket_aws_init_made(
    settings, browser, video, tmp_path
) -> None:
    _aws_init(settings)
    page = browser.new_page()
    parts: list[int] = []
    page.on(
        "response",
        lambda answer: answer.request.method == "PUT" and parts.append(answer.status),
    )

    with _portal(settings) as portal:
        job_id = _upload_page(page, portal)
        _upload(page, video)
        _message_once_it_holds(page, NO_RUNNER)

    assert parts == [200, 200, 200]
    assert _stored(settings, job_id, tmp_path) == video.read_bytes()


def test_a_storage_refusing_the_page_is_said_and_the_upload_goes_on_once_aws_init_mends_it(
    settings, browser, video, tmp_path
) -> None:
    """A bucket an older aws-init made lets no PUT in from a page: said at once as the
    storage's refusal (not a dropped connection that choosing the file again would mend); once
    aws-init has brought the bucket up to date, the same file chosen again goes up whole."""
    import boto3

    from stereo_spot.aws_setup import create_jobs_table

    boto3.client("s3").create_bucket(Bucket=settings.bucket)
    boto3.client("s3").put_bucket_cors(
        Bucket=settings.bucket, CORSConfiguration={"CORSRules": [OLDER_AWS_INIT_CORS_RULE]}
    )
    create_jobs_table(settings)
    page = browser.new_page()

    with _portal(settings) as portal:
        job_id = _upload_page(page, portal)
        _upload(page, video)
        refused = _message_once_it_holds(page, "refused", seconds=20)
        _aws_init(settings)
        _upload(page, video)
        _message_once_it_holds(page, NO_RUNNER)

    assert refused == (
        "The storage refused the upload from this page (its CORS rules do not allow this "
        "portal's address, most likely); tell the portal's operator, and once that is put right "
        "choose the same file again to go on."
    )
    assert _stored(settings, job_id, tmp_path) == video.read_bytes()


def test_a_storage_hiding_the_etag_of_a_part_from_the_page_is_said(
    settings, browser, video
) -> None:
    """A rule that lets parts in but exposes no ETag: every part arrives, yet the page cannot
    complete the upload without their ETags, and says why rather than sending them again."""
    import boto3

    from stereo_spot.aws_setup import create_jobs_table

    hiding = {
        key: value for key, value in OLDER_AWS_INIT_CORS_RULE.items() if key != "ExposeHeaders"
    }
    boto3.client("s3").create_bucket(Bucket=settings.bucket)
    boto3.client("s3").put_bucket_cors(
        Bucket=settings.bucket,
        CORSConfiguration={"CORSRules": [{**hiding, "AllowedMethods": ["PUT", "GET", "HEAD"]}]},
    )
    create_jobs_table(settings)
    page = browser.new_page()

    with _portal(settings) as portal:
        _upload_page(page, portal)
        _upload(page, video)
        said = _message_once_it_holds(page, "ETag", seconds=20)

    assert said == (
        "The storage took a part but hid its ETag from this page (its CORS rules do not expose "
        "it); tell the portal's operator, and once that is put right choose the same file again "
        "to go on."
    )
