"""Create the S3 bucket and the DynamoDB jobs table on whatever endpoint boto3 is configured for.

For development against moto server or LocalStack (``stereo-spot aws-init``) and for the contract
suite. Terraform creates the same schema in a real account (docs/AWS.md lists it); keep the two
in step. Every function is idempotent: it says what it created and what it found.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from stereo_spot.aws_session import aws_session
from stereo_spot.errors import StereoSpotError
from stereo_spot.jobs.dynamo import COMPLETED_INDEX, CREATED_INDEX, dynamodb_client_config
from stereo_spot.settings import Settings
from stereo_spot.storage.s3 import s3_client_config

TTL_ATTRIBUTE = "expires_at"
# The table's indexes, each ``status-<sort attribute>``: the completed list and lists by status.
INDEXES = (COMPLETED_INDEX, CREATED_INDEX)
# How long aws-init waits for an index it added to a table to be filled (DynamoDB reads every
# item into it; a development table holds few).
INDEX_WAIT_SECONDS = 600

# The media bucket's CORS rule, Terraform's (terraform/infra/s3.tf) but for any origin, where
# Terraform names the portal's: the upload page sends each part of a source as a presigned PUT
# straight to the bucket and reads the ETag of the answer to complete the upload; scripts may
# send a presigned POST; the play page fetches results with presigned GETs (ranges, to seek).
DEV_CORS_RULES = [
    {
        "AllowedMethods": ["PUT", "POST", "GET", "HEAD"],
        "AllowedOrigins": ["*"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag", "Content-Length", "Content-Range", "Accept-Ranges"],
        "MaxAgeSeconds": 3600,
    }
]

# The media bucket's lifecycle, Terraform's rules with its defaults (segments_expiry_days = 7,
# noncurrent_version_expiry_days = 30): source segments are intermediates, and an upload in parts
# left unfinished (a page closed for good) is dropped with its parts after two days.
LIFECYCLE_RULES = [
    {
        "ID": "expire-source-segments",
        "Status": "Enabled",
        "Filter": {"Prefix": "segments/"},
        "Expiration": {"Days": 7},
    },
    {
        "ID": "expire-old-versions-and-uploads",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2},
        "Expiration": {"ExpiredObjectDeleteMarker": True},
    },
]


def jobs_table_definition(table_name: str) -> dict[str, Any]:
    """The ``CreateTable`` request for the jobs table (the schema Terraform also creates)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "job_id", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "completed_at", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "job_id", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [_status_index(name) for name in INDEXES],
    }


def _status_index(name: str) -> dict[str, Any]:
    """A GSI named ``status-<sort attribute>``: every job of one status, by that attribute."""
    _, sort_key = name.split("-", 1)
    return {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": "status", "KeyType": "HASH"},
            {"AttributeName": sort_key, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }


def create_bucket(settings: Settings, s3: Any | None = None) -> list[str]:
    """Create (or find) the media bucket and set its access block, CORS and lifecycle."""
    s3 = s3 or aws_session(settings).client("s3", config=s3_client_config())
    return [_find_or_make_bucket(s3, settings.bucket), *_set_bucket_rules(s3, settings.bucket)]


def _find_or_make_bucket(s3: Any, bucket: str) -> str:
    try:
        s3.head_bucket(Bucket=bucket)
        return f"found bucket {bucket}"
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code"))
        if code in ("403", "AccessDenied", "Forbidden"):
            raise StereoSpotError(
                f"Bucket {bucket} exists but these credentials may not use it "
                "(another account owns it, or the policy denies access)."
            ) from None
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
    region = s3.meta.region_name or "us-east-1"
    request: dict[str, Any] = {"Bucket": bucket}
    # us-east-1 refuses an explicit LocationConstraint; every other region requires one.
    if region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**request)
    except ClientError as create_error:
        if create_error.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise
        return f"found bucket {bucket}"
    return f"created bucket {bucket} in {region}"


def _set_bucket_rules(s3: Any, bucket: str) -> list[str]:
    """Put the access block, CORS and lifecycle on every run, not only on a bucket made now: one
    an older version made may hold a CORS rule without PUT, which refuses every upload from the
    page, and no lifecycle at all. Each put replaces what was there, so a rerun changes nothing."""
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": DEV_CORS_RULES})
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": LIFECYCLE_RULES}
    )
    return [
        f"set public access block and CORS ({cors_summary(DEV_CORS_RULES[0])}) on {bucket}",
        f"set lifecycle on {bucket}: {lifecycle_summary(LIFECYCLE_RULES)}",
    ]


def cors_summary(rule: dict[str, Any]) -> str:
    """What a CORS rule lets browsers do, as aws-init prints it: "PUT/POST/GET/HEAD from any
    origin, exposing ETag, ..."."""
    origins = rule["AllowedOrigins"]
    whence = "any origin" if origins == ["*"] else ", ".join(origins)
    exposed = ", ".join(rule.get("ExposeHeaders", [])) or "no headers"
    return f"{'/'.join(rule['AllowedMethods'])} from {whence}, exposing {exposed}"


def lifecycle_summary(rules: list[dict[str, Any]]) -> str:
    """What lifecycle rules drop, as aws-init prints it: "segments/ after 7 days, ..."."""
    said = []
    for rule in rules:
        scope = rule["Filter"].get("Prefix") or "every object"
        if "Days" in rule.get("Expiration", {}):
            said.append(f"{scope} after {rule['Expiration']['Days']} days")
        if "NoncurrentVersionExpiration" in rule:
            days = rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
            said.append(f"replaced versions after {days} days")
        if "AbortIncompleteMultipartUpload" in rule:
            days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
            said.append(f"unfinished uploads in parts after {days} days")
    return "drops " + ", ".join(said)


def create_jobs_table(settings: Settings, dynamodb: Any | None = None) -> list[str]:
    dynamodb = dynamodb or aws_session(settings).client("dynamodb", config=dynamodb_client_config())
    table = settings.jobs_table
    done: list[str] = []
    try:
        description = dynamodb.describe_table(TableName=table)["Table"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        dynamodb.create_table(**jobs_table_definition(table))
        dynamodb.get_waiter("table_exists").wait(
            TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
        done.append(f"created table {table} with indexes {', '.join(INDEXES)} (on-demand billing)")
    else:
        done.append(f"found table {table}")
        found = {index["IndexName"] for index in description.get("GlobalSecondaryIndexes", [])}
        for name in INDEXES:
            if name in found:
                done.append(f"found index {name}")
            else:
                # A table an older version made: DynamoDB fills a new index from the jobs there.
                _add_index(dynamodb, table, name)
                done.append(f"added index {name} to {table}, filled from the jobs already in it")
    done.append(_enable_ttl(dynamodb, table))
    return done


def _add_index(dynamodb: Any, table: str, name: str) -> None:
    """Create one GSI on an existing table and wait until it can be queried (DynamoDB takes one
    index creation at a time)."""
    index = _status_index(name)
    dynamodb.update_table(
        TableName=table,
        AttributeDefinitions=[
            {"AttributeName": key["AttributeName"], "AttributeType": "S"}
            for key in index["KeySchema"]
        ],
        GlobalSecondaryIndexUpdates=[{"Create": index}],
    )
    deadline = time.monotonic() + INDEX_WAIT_SECONDS
    while time.monotonic() < deadline:
        description = dynamodb.describe_table(TableName=table)["Table"]
        statuses = {
            index["IndexName"]: index.get("IndexStatus", "ACTIVE")
            for index in description.get("GlobalSecondaryIndexes", [])
        }
        if statuses.get(name) == "ACTIVE":
            return
        time.sleep(2)
    raise StereoSpotError(
        f"Index {name} on table {table} was still being built after "
        f"{INDEX_WAIT_SECONDS // 60} minutes; run aws-init again once it is active."
    )


def _enable_ttl(dynamodb: Any, table: str) -> str:
    try:
        ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        if ttl.get("AttributeName") == TTL_ATTRIBUTE and ttl.get("TimeToLiveStatus") in (
            "ENABLED",
            "ENABLING",
        ):
            return f"found TTL on {table}.{TTL_ATTRIBUTE}"
        dynamodb.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
        return f"enabled TTL on {table}.{TTL_ATTRIBUTE}"
    except ClientError as error:
        # Some emulators lack TTL; the table works without it (records just never expire).
        code = error.response.get("Error", {}).get("Code")
        return f"TTL not set on {table} ({code}); records will not expire"


def create_bucket_and_table(settings: Settings) -> list[str]:
    """Create (or find) the media bucket and the jobs table; returns one line per action."""
    return create_bucket(settings) + create_jobs_table(settings)
