"""``stereo-spot aws-init`` and ``stereo-spot aws-smoke``: set up and check the AWS backend.

``aws-init`` creates the bucket and table on the configured endpoint (moto server, LocalStack, or
an account where Terraform is not used). ``aws-smoke`` checks the data plane of a real deployment:
it runs when it knows the bucket and table (environment or Terraform outputs); missing either, it
says so in one sentence and exits 0, so CI can always call it. Asked to check them but without
credentials or a region, it fails (exit 1) saying which.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stereo_spot.errors import StereoSpotError
from stereo_spot.settings import Settings

# Terraform output names accepted for the bucket and the table (first match wins).
TF_BUCKET_OUTPUTS = ("bucket", "media_bucket", "bucket_name", "media_bucket_name")
TF_TABLE_OUTPUTS = ("jobs_table", "jobs_table_name", "table_name")


def register(subparsers: argparse._SubParsersAction) -> None:
    init = subparsers.add_parser(
        "aws-init",
        help="create the S3 bucket and DynamoDB jobs table on the configured endpoint",
        description="Create (or find) STEREO_SPOT_BUCKET and STEREO_SPOT_JOBS_TABLE with the "
        "schema Terraform creates, on whatever endpoint boto3 is configured for "
        "(AWS_ENDPOINT_URL for moto server or LocalStack).",
    )
    init.add_argument("--bucket", help="bucket name (default: STEREO_SPOT_BUCKET)")
    init.add_argument("--table", help="jobs table name (default: STEREO_SPOT_JOBS_TABLE)")
    init.set_defaults(func=run_init)

    smoke = subparsers.add_parser(
        "aws-smoke",
        help="data-plane smoke test of a deployed bucket and table (skips without their names)",
        description="Put, head, get, presign and delete a small object, and create, transition "
        "and delete a job record. Needs AWS credentials and the bucket and table names, from "
        "STEREO_SPOT_BUCKET / STEREO_SPOT_JOBS_TABLE or `terraform output -json` (--tf-outputs).",
    )
    smoke.add_argument(
        "--tf-outputs",
        type=Path,
        help="a file holding `terraform output -json` (outputs bucket and jobs_table)",
    )
    smoke.set_defaults(func=run_smoke)


def run_init(args: argparse.Namespace) -> int:
    from stereo_spot.aws_setup import create_bucket_and_table

    settings = Settings()
    overrides = {"bucket": args.bucket, "jobs_table": args.table}
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v})
    from botocore.exceptions import BotoCoreError, ClientError

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or "AWS (no AWS_ENDPOINT_URL set)"
    print(f"aws-init on {endpoint}:")
    try:
        lines = create_bucket_and_table(settings)
    except (BotoCoreError, ClientError) as error:
        # No credentials, an endpoint that does not answer, a name taken or refused: boto's own
        # sentence says which, without the traceback.
        raise StereoSpotError(
            f"aws-init could not create {settings.bucket} and {settings.jobs_table} on "
            f"{endpoint}: {error}"
        ) from None
    for line in lines:
        print(f"  {line}")
    return 0


# -- smoke test ---------------------------------------------------------------------------------


def read_tf_outputs(path: Path) -> tuple[str | None, str | None]:
    """Bucket and table names from ``terraform output -json`` (or a plain name -> value map)."""
    try:
        outputs = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise StereoSpotError(f"Could not read Terraform outputs from {path}: {error}.") from None
    if not isinstance(outputs, dict):
        raise StereoSpotError(f"{path} is not a `terraform output -json` object.")

    def pick(names: tuple[str, ...]) -> str | None:
        for name in names:
            value = outputs.get(name)
            if isinstance(value, dict):
                value = value.get("value")
            if isinstance(value, str) and value:
                return value
        return None

    return pick(TF_BUCKET_OUTPUTS), pick(TF_TABLE_OUTPUTS)


def smoke_skip_reason(args: argparse.Namespace) -> tuple[str | None, str | None, str | None]:
    """``(reason, bucket, table)``: a reason to skip, or the names to test."""
    bucket = os.environ.get("STEREO_SPOT_BUCKET")
    table = os.environ.get("STEREO_SPOT_JOBS_TABLE")
    if args.tf_outputs is not None:
        if not args.tf_outputs.is_file():
            return f"the Terraform outputs file {args.tf_outputs} does not exist", None, None
        tf_bucket, tf_table = read_tf_outputs(args.tf_outputs)
        bucket, table = bucket or tf_bucket, table or tf_table
    if not bucket or not table:
        missing = [name for name, value in (("bucket", bucket), ("jobs table", table)) if not value]
        return (
            f"no {' or '.join(missing)} name is known (set STEREO_SPOT_BUCKET and "
            "STEREO_SPOT_JOBS_TABLE, or pass --tf-outputs with `terraform output -json`)",
            None,
            None,
        )
    return None, bucket, table


def _check_can_run(bucket: str, table: str) -> None:
    """Raise, saying why, when the smoke test that was asked for (the names are known) cannot
    run: an exit 0 then would pass a deployment that nothing checked."""
    from stereo_spot.aws_session import aws_session
    from stereo_spot.errors import StoreUnavailable

    cannot = f"aws-smoke cannot check bucket {bucket} and table {table}"
    try:
        session = aws_session(Settings(backend="aws", bucket=bucket, jobs_table=table))
    except StoreUnavailable as error:
        raise StereoSpotError(f"{cannot}: {str(error)[:1].lower()}{str(error)[1:]}") from None
    if session.get_credentials() is None:
        raise StereoSpotError(
            f"{cannot}: no AWS credentials were found (environment, profile or instance role)."
        )


def run_smoke(args: argparse.Namespace) -> int:
    reason, bucket, table = smoke_skip_reason(args)
    if reason:
        print(f"aws-smoke skipped: {reason}.")
        return 0
    assert bucket and table
    _check_can_run(bucket, table)
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or "AWS"
    print(f"aws-smoke on {endpoint}: bucket {bucket}, table {table}")
    # Emulators (moto) accept bad signatures and oversized POSTs; only real S3 is held to them.
    failures = run_smoke_checks(bucket, table, report=print, check_enforcement=endpoint == "AWS")
    if failures:
        print(f"aws-smoke FAILED: {failures} check(s) failed.", file=sys.stderr)
        return 1
    print("aws-smoke passed.")
    return 0


def run_smoke_checks(
    bucket: str, table: str, report: Callable[[str], Any], check_enforcement: bool = True
) -> int:
    """Run every check, report each as ``ok``/``FAIL``; returns how many failed. Cleans up."""
    import httpx

    from stereo_spot.domain import Job, JobStatus
    from stereo_spot.errors import ObjectNotFound, TransitionConflict
    from stereo_spot.jobs.dynamo import DynamoJobStore
    from stereo_spot.storage.multipart import MIN_PART_BYTES, UploadedPart
    from stereo_spot.storage.s3 import S3Storage

    settings = Settings(backend="aws", bucket=bucket, jobs_table=table)
    storage = S3Storage.from_settings(settings)
    jobs = DynamoJobStore.from_settings(settings)
    run = uuid.uuid4().hex
    prefix = f"smoke/{run}/"
    key = f"{prefix}probe.bin"
    payload = f"stereo-spot smoke {run}\n".encode()
    failures = 0

    def check(name: str, step: Callable[[], Any]) -> None:
        nonlocal failures
        started = time.monotonic()
        try:
            step()
        except Exception as error:  # report every failing step, not only the first
            failures += 1
            report(f"  FAIL {name}: {type(error).__name__}: {error}")
        else:
            report(f"  ok   {name} ({(time.monotonic() - started) * 1000:.0f} ms)")

    def expect(condition: bool, message: str) -> None:
        if not condition:
            raise AssertionError(message)

    job = Job(source_name="aws-smoke.mp4")
    with tempfile.TemporaryDirectory(prefix="stereo-spot-smoke-") as scratch:
        probe = Path(scratch) / "probe.bin"
        probe.write_bytes(payload)

        def get_back() -> None:
            data = storage.get_file(key, Path(scratch) / "back.bin").read_bytes()
            expect(data == payload, "downloaded bytes differ from the uploaded ones")

        def presigned_get() -> None:
            response = httpx.get(storage.presign_download(key, 60, "probe.bin"), timeout=30)
            expect(response.status_code == 200, f"GET answered {response.status_code}")
            expect(response.content == payload, "presigned GET returned other bytes")

        def tampered_get_refused() -> None:
            url = storage.presign_download(key, 60)
            response = httpx.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=30)
            expect(response.status_code == 403, f"a bad signature got {response.status_code}")

        def presigned_post() -> None:
            target = storage.presign_upload(f"{prefix}posted.bin", max_bytes=1024, expires_in=60)
            files = {"file": ("x.bin", payload, "video/mp4")}
            response = httpx.post(target.url, data=target.fields, files=files, timeout=30)
            expect(response.status_code in (200, 201, 204), f"POST got {response.status_code}")
            expect(storage.size(f"{prefix}posted.bin") == len(payload), "posted size differs")

        def upload_in_parts() -> None:
            joined = f"{prefix}parts.bin"
            upload_id = storage.start_multipart_upload(joined)
            parts = []
            for number, data in ((1, bytes(MIN_PART_BYTES)), (2, payload)):
                url = storage.presign_upload_part(joined, upload_id, number, expires_in=60)
                response = httpx.put(url, content=data, timeout=60)
                expect(response.status_code == 200, f"part {number} got {response.status_code}")
                parts.append(UploadedPart(number, response.headers["etag"]))
            storage.complete_multipart_upload(joined, upload_id, parts)
            expect(storage.size(joined) == MIN_PART_BYTES + len(payload), "joined size differs")

        def oversized_post_refused() -> None:
            target = storage.presign_upload(f"{prefix}big.bin", max_bytes=16, expires_in=60)
            files = {"file": ("x.bin", payload, "video/mp4")}
            response = httpx.post(target.url, data=target.fields, files=files, timeout=30)
            expect(response.status_code == 400, f"an oversized POST got {response.status_code}")
            expect(not storage.exists(f"{prefix}big.bin"), "the oversized object was stored")

        def deleted() -> None:
            expect(storage.delete_prefix(prefix) >= 2, "fewer objects deleted than written")
            expect(not storage.exists(key), "the object is still there")
            try:
                storage.size(key)
            except ObjectNotFound:
                return
            raise AssertionError("size() of a deleted object did not raise ObjectNotFound")

        def job_lifecycle() -> None:
            jobs.create(job)
            for status in (JobStatus.UPLOADED, JobStatus.QUEUED, JobStatus.PROCESSING):
                jobs.transition(job.job_id, status)
            jobs.update(job.job_id, total_segments=2)
            jobs.mark_segment_done(job.job_id, 0)
            jobs.mark_segment_done(job.job_id, 0)
            expect(jobs.get(job.job_id).completed_segments == 1, "a segment was counted twice")
            jobs.transition(job.job_id, JobStatus.COMPLETED)

        def backward_refused() -> None:
            try:
                jobs.transition(job.job_id, JobStatus.FAILED, error="smoke")
            except TransitionConflict:
                return
            raise AssertionError("a completed job moved to failed")

        try:
            check(f"put s3://{bucket}/{key}", lambda: storage.put_file(probe, key))
            check(
                "head (exists, size)",
                lambda: expect(
                    storage.exists(key) and storage.size(key) == len(payload), "wrong size"
                ),
            )
            check("get", get_back)
            check("presigned GET", presigned_get)
            check("presigned POST", presigned_post)
            check("upload in parts (presigned part PUTs, completed)", upload_in_parts)
            if check_enforcement:
                check("presigned GET with a bad signature is refused", tampered_get_refused)
                check("presigned POST over content-length-range is refused", oversized_post_refused)
            else:
                report("  skip signature and POST-policy enforcement (not checked on emulators)")
            check(f"create/transition job {job.job_id} in {table}", job_lifecycle)
            check("completed job refuses a late failure", backward_refused)
        finally:
            check("delete objects", deleted)
            check("delete job record", lambda: _delete_job_if_present(jobs, job.job_id))
    return failures


def _delete_job_if_present(jobs: Any, job_id: str) -> None:
    from stereo_spot.errors import JobNotFound

    with contextlib.suppress(JobNotFound):  # create may have failed; cleanup goes on regardless
        jobs.delete(job_id)
    try:
        jobs.get(job_id)
    except JobNotFound:
        return
    raise AssertionError("the job record is still there after delete")
