"""S3 object storage for the cluster.

The client comes from boto3's own configuration (``AWS_ENDPOINT_URL``, the region, the
credentials chain; ``stereo_spot.aws_session`` says what it adds), so the same code talks to real
S3, moto server or LocalStack. Transfers stream from and to disk through s3transfer: memory stays
at a few multipart chunks whatever the file size.
A bucket that does not exist, or an endpoint that does not answer, is said in one sentence naming
it (:class:`~stereo_spot.errors.StoreUnavailable`, see ``stereo_spot.aws_errors``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from stereo_spot.atomic_files import replaced_whole
from stereo_spot.aws_errors import (
    endpoint_of,
    error_code,
    reports_unavailable,
    service_fault_sentence,
)
from stereo_spot.errors import (
    InvalidKey,
    ObjectNotFound,
    StereoSpotError,
    StoreUnavailable,
    UploadNotFound,
    UploadRejected,
)
from stereo_spot.keys import parse_uri, validate_key
from stereo_spot.storage import UploadTarget
from stereo_spot.storage.disposition import content_disposition
from stereo_spot.storage.multipart import MAX_PARTS, UploadedPart, upload_gone

if TYPE_CHECKING:
    from stereo_spot.settings import Settings

# Multipart above 64 MiB, 16 MiB parts, 4 in flight: s3transfer holds about
# max_concurrency x chunksize (+ a small io queue) in memory, ~64-80 MiB at worst, whatever the
# object size; tests/contract/test_large_objects.py measures it on a 300 MB object.
TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=64 * 1024**2,
    multipart_chunksize=16 * 1024**2,
    max_concurrency=4,
    max_io_queue=16,
    io_chunksize=256 * 1024,
)
# A copy moves no bytes through this process, so its parts can be larger and more of them in
# flight: a 20 GiB upload converted again is 160 UploadPartCopy requests, 10 at a time, not 1280
# four at a time, all inside the portal's request (an ALB gives it 120 s).
COPY_CONFIG = TransferConfig(
    multipart_threshold=64 * 1024**2,
    multipart_chunksize=128 * 1024**2,
    max_concurrency=10,
)

_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
# S3 takes at most 5 GB in one POST, whatever the policy's content-length-range allows; larger
# files go up in parts (start_multipart_upload).
POST_MAX_BYTES = 5 * 1024**3
_REJECTED_UPLOAD_CODES = frozenset({"InvalidPart", "InvalidPartOrder", "EntityTooSmall"})


def s3_client_config(tries: int = 3) -> Config:
    """Signature v4, botocore's standard retry mode (backoff on throttling and 5xx), ``tries``
    in all (3 by default, ``Settings.store_tries``; more in the pipeline's steps), and timeouts of seconds rather than botocore's 60 s each (dynamodb_client_config
    says why).

    The read timeout is per socket read, not per request: a streamed GET of any size only has to
    get some bytes every 15 s, and CompleteMultipartUpload and CopyObject answer 200 at once and
    send spaces while they work (as S3's API reference says of both); a copy past 64 MiB goes as
    128 MiB UploadPartCopy parts (COPY_CONFIG). 3 tries x 15 s + at most 3 s of backoff is
    48 s at worst, under an ALB's 60 s. urllib3 keeps the connect timeout on the socket while it
    sends a body, so 5 s (not 3) is how long an upload's part may make no progress at all.
    """
    return Config(
        signature_version="s3v4",
        connect_timeout=5,
        read_timeout=15,
        retries={"mode": "standard", "total_max_attempts": tries},
    )


@reports_unavailable
class S3Storage:
    def __init__(self, bucket: str, client: Any) -> None:
        self.bucket = bucket
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        from stereo_spot.aws_session import aws_session

        session = aws_session(settings)
        config = s3_client_config(settings.store_tries)
        # botocore presigns on the global name (bucket.s3.amazonaws.com) unless the bucket is
        # addressed by its regional name: S3 answers the global one with a 307 to the regional
        # one for up to a day after a bucket outside us-east-1 is made (a browser's CORS
        # preflight does not follow it, so uploads from the page fail), and never serves it for
        # a bucket in an opt-in region.
        client = session.client(
            "s3", config=config.merge(Config(s3={"addressing_style": "virtual"}))
        )
        if not _is_aws_endpoint(client.meta.endpoint_url):
            # An endpoint of one's own (moto, LocalStack: AWS_ENDPOINT_URL) keeps the path-style
            # addressing botocore gives it: bucket.127.0.0.1 names no host.
            client = session.client("s3", config=config)
        return cls(settings.bucket, client)

    def _unavailable(self, fault: BaseException) -> str | None:
        """The sentence for a fault no method handled (``reports_unavailable``)."""
        # A HEAD has no body to name the bucket: there a missing bucket reads as a missing key.
        if error_code(fault) == "NoSuchBucket":
            return self._unavailable_bucket()
        return service_fault_sentence("S3", self.client, fault)

    def _unavailable_bucket(self) -> str:
        return (
            f"The S3 bucket {self.bucket} does not exist at {endpoint_of(self.client)}; "
            "create it with stereo-spot aws-init or Terraform."
        )

    # -- data plane -----------------------------------------------------------------------------

    def put_file(
        self, local_path: Path, key: str, content_type: str = "video/mp4", *, move: bool = False
    ) -> None:
        # S3 makes a PUT (or CompleteMultipartUpload) visible all at once: readers never see half.
        self.client.upload_file(
            str(local_path),
            self.bucket,
            validate_key(key),
            ExtraArgs={"ContentType": content_type},
            Config=TRANSFER_CONFIG,
        )
        if move:
            Path(local_path).unlink()

    def get_file(self, key: str, local_path: Path, *, read_only: bool = False) -> Path:
        validate_key(key)
        local_path = Path(local_path)
        local_path.parent.mkdir(parents=True, exist_ok=True)
        # A failed or interrupted download never leaves a truncated file where a later step
        # would take it for complete.
        try:
            with replaced_whole(local_path, prefix=".download-") as download:
                self.client.download_file(self.bucket, key, str(download), Config=TRANSFER_CONFIG)
        except ClientError as error:
            if _is_missing(error):
                # A download starts with a HEAD, whose bare 404 reads the same for a missing
                # bucket as for a missing key: check() says the bucket (asked only then, so a
                # present object costs no second request).
                self.check()
                raise ObjectNotFound(f"There is no object at '{key}'.") from None
            raise
        return local_path

    def copy(self, source_key: str, target_key: str) -> None:
        # Managed copy: one CopyObject, or a multipart copy for objects past 5 GB, all in S3.
        try:
            self.client.copy(
                {"Bucket": self.bucket, "Key": validate_key(source_key)},
                self.bucket,
                validate_key(target_key),
                Config=COPY_CONFIG,
            )
        except ClientError as error:
            if _is_missing(error):
                self.check()  # a missing bucket, said as such
                raise ObjectNotFound(f"There is no object at '{source_key}'.") from None
            raise

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=validate_key(key))
        except ClientError as error:
            if _is_missing(error):
                return None
            raise

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            # A HEAD's answer has no body: a bare status, which names nothing.
            if error_code(error) in ("404", "NoSuchBucket", "NotFound"):
                raise StoreUnavailable(self._unavailable_bucket()) from None
            if error_code(error) in ("403", "Forbidden"):
                # HeadBucket needs s3:ListBucket with no prefix, which a role kept to the job
                # prefixes (terraform/infra/irsa.tf) is refused: that says nothing of whether
                # the bucket can be used, which the first request under a prefix tells.
                return
            raise

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise ObjectNotFound(f"There is no object at '{key}'.")
        return int(head["ContentLength"])

    def list_prefix(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        # An upload in parts left unfinished under it (a page closed mid-upload) goes too, not
        # two days later by the lifecycle rule, its parts stored meanwhile.
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                self.abort_multipart_upload(upload["Key"], upload["UploadId"])
        keys = self.list_prefix(prefix)
        # DeleteObjects takes at most 1000 keys per request.
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise StereoSpotError(
                    f"Could not delete {len(errors)} object(s) under '{prefix}' in bucket "
                    f"{self.bucket}: {first.get('Key')} failed with {first.get('Code')} "
                    f"({first.get('Message')})."
                )
        return len(keys)

    # -- names ----------------------------------------------------------------------------------

    def uri_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{validate_key(key)}"

    def key_from_uri(self, uri: str) -> str:
        parsed = parse_uri(uri)
        if parsed.scheme != "s3":
            raise InvalidKey(f"'{uri}' is not an s3:// URI of bucket {self.bucket}.")
        if parsed.root != self.bucket:
            raise InvalidKey(
                f"'{uri}' names bucket {parsed.root}, not this storage's {self.bucket}."
            )
        return parsed.key

    # -- signed URLs ----------------------------------------------------------------------------

    def presign_upload(
        self, key: str, max_bytes: int, expires_in: int = 3600, content_type: str = "video/mp4"
    ) -> UploadTarget:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive.")
        max_bytes = min(int(max_bytes), POST_MAX_BYTES)
        # No ${filename} in the key: botocore adds an exact {"key": key} condition, so the form can
        # write this one key only. S3 enforces the size range and Content-Type from the policy.
        post = self.client.generate_presigned_post(
            Bucket=self.bucket,
            Key=validate_key(key),
            Fields={"Content-Type": content_type},
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", 1, int(max_bytes)],
            ],
            ExpiresIn=int(expires_in),
        )
        return UploadTarget(
            url=post["url"],
            fields={name: str(value) for name, value in post["fields"].items()},
            max_bytes=int(max_bytes),
            expires_in=int(expires_in),
        )

    def presign_download(
        self, key: str, expires_in: int = 3600, filename: str | None = None
    ) -> str:
        params: dict[str, str] = {"Bucket": self.bucket, "Key": validate_key(key)}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        return self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=int(expires_in)
        )

    # -- uploads in parts -----------------------------------------------------------------------

    def start_multipart_upload(self, key: str, content_type: str = "video/mp4") -> str:
        # One unfinished upload per key, as the local adapter keeps: each may hold up to the
        # portal's limit until completed, so twenty begun for one job would hold twenty times it.
        # (Two begun at the very same moment can both stay; the lifecycle rule ends the other.)
        for earlier in self._unfinished_uploads(key):
            self.abort_multipart_upload(key, earlier)
        response = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=validate_key(key), ContentType=content_type
        )
        return str(response["UploadId"])

    def _unfinished_uploads(self, key: str) -> list[str]:
        paginator = self.client.get_paginator("list_multipart_uploads")
        return [
            upload["UploadId"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=validate_key(key))
            for upload in page.get("Uploads", [])
            if upload["Key"] == key
        ]

    def presign_upload_part(
        self, key: str, upload_id: str, part_number: int, expires_in: int = 3600
    ) -> str:
        if not 1 <= part_number <= MAX_PARTS:
            raise UploadRejected(f"Part {part_number} is not one of 1..{MAX_PARTS}.")
        return self.client.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self.bucket,
                "Key": validate_key(key),
                "UploadId": upload_id,
                "PartNumber": int(part_number),
            },
            ExpiresIn=int(expires_in),
        )

    def uploaded_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        parts: list[UploadedPart] = []
        paginator = self.client.get_paginator("list_parts")
        with _upload_errors(upload_id):
            for page in paginator.paginate(
                Bucket=self.bucket, Key=validate_key(key), UploadId=upload_id
            ):
                parts.extend(
                    UploadedPart(number=p["PartNumber"], etag=p["ETag"], size=p["Size"])
                    for p in page.get("Parts", [])
                )
        return sorted(parts, key=lambda part: part.number)

    def complete_multipart_upload(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart]
    ) -> None:
        if not parts:
            raise UploadRejected("An upload is completed with at least one part.")
        with _upload_errors(upload_id):
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=validate_key(key),
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": part.number, "ETag": part.etag} for part in parts]
                },
            )

    def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        try:
            with _upload_errors(upload_id):
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=validate_key(key), UploadId=upload_id
                )
        except UploadNotFound:
            pass


@contextmanager
def _upload_errors(upload_id: str) -> Iterator[None]:
    """S3's answers about an upload in parts, as the port's errors."""
    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code"))
        if code == "NoSuchUpload":
            raise upload_gone(upload_id) from None
        if code in _REJECTED_UPLOAD_CODES:
            message = error.response.get("Error", {}).get("Message") or code
            raise UploadRejected(f"The upload cannot be completed: {message}") from None
        raise


def _is_aws_endpoint(url: str | None) -> bool:
    """Whether ``url`` is AWS's own S3 endpoint, the one botocore picks when none is set."""
    host = urlsplit(url or "").hostname or ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def _is_missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _MISSING_CODES
