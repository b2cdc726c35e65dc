"""``stereo-spot aws-init``'s media bucket on moto server: browsers may send parts to it from the
portal's page and read their ETag, a bucket an older version made is brought up to date, and it
drops what Terraform's lifecycle drops; its CORS and lifecycle are Terraform's rules."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from stereo_spot.cli import main
from tests.aws_fixtures import OLDER_AWS_INIT_CORS_RULE

TERRAFORM_INFRA = Path(__file__).resolve().parents[2] / "terraform" / "infra"
PORTAL_ORIGIN = "http://127.0.0.1:8000"


@pytest.fixture
def bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    suffix = uuid.uuid4().hex[:10]
    monkeypatch.setenv("STEREO_SPOT_BUCKET", f"stereo-spot-init-{suffix}")
    monkeypatch.setenv("STEREO_SPOT_JOBS_TABLE", f"stereo-spot-init-jobs-{suffix}")
    return f"stereo-spot-init-{suffix}"


def _s3():
    import boto3

    return boto3.client("s3")


def _part_url(bucket: str) -> str:
    """A part's presigned PUT as the portal signs it for the upload page."""
    s3 = _s3()
    key = "input/job/source.mp4"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    return s3.generate_presigned_url(
        "upload_part",
        Params={"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": 1},
        ExpiresIn=60,
    )


def test_aws_init_says_browsers_may_put_parts_and_read_their_etag(bucket, capsys) -> None:
    assert main(["aws-init"]) == 0

    out = capsys.readouterr().out
    assert (
        f"set public access block and CORS (PUT/POST/GET/HEAD from any origin, exposing ETag, "
        f"Content-Length, Content-Range, Accept-Ranges) on {bucket}"
    ) in out


def test_the_portals_page_may_put_a_part_into_a_bucket_aws_init_made(bucket) -> None:
    """What Chromium asks before the upload page's PUT of a part, and what it reads after."""
    assert main(["aws-init"]) == 0
    url = _part_url(bucket)

    preflight = httpx.options(
        url,
        headers={
            "Origin": PORTAL_ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    part = httpx.put(url, content=b"part one", headers={"Origin": PORTAL_ORIGIN})

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == PORTAL_ORIGIN
    allowed = {m.strip() for m in preflight.headers["access-control-allow-methods"].split(",")}
    assert "PUT" in allowed
    assert part.status_code == 200 and part.headers["etag"]
    exposed = {h.strip() for h in part.headers["access-control-expose-headers"].split(",")}
    assert "ETag" in exposed


def test_aws_init_lets_browsers_put_into_a_bucket_an_older_version_made(bucket, capsys) -> None:
    s3 = _s3()
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [OLDER_AWS_INIT_CORS_RULE]})

    assert main(["aws-init"]) == 0

    assert f"found bucket {bucket}" in capsys.readouterr().out
    (rule,) = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert set(rule["AllowedMethods"]) == {"PUT", "POST", "GET", "HEAD"}
    assert "ETag" in rule["ExposeHeaders"]


def test_aws_init_drops_segments_and_unfinished_uploads_as_terraform_does(bucket, capsys) -> None:
    assert main(["aws-init"]) == 0
    assert main(["aws-init"]) == 0  # a rerun finds the same rules, not a second set

    out = capsys.readouterr().out
    rules = {rule["ID"]: rule for rule in _s3().get_bucket_lifecycle_configuration(
        Bucket=bucket)["Rules"]}  # fmt: skip
    assert (
        out.count(
            f"set lifecycle on {bucket}: drops segments/ after 7 days, replaced versions after "
            "30 days, unfinished uploads in parts after 2 days"
        )
        == 2
    )
    assert set(rules) == {"expire-source-segments", "expire-old-versions-and-uploads"}
    segments, everything = rules["expire-source-segments"], rules["expire-old-versions-and-uploads"]
    assert segments["Filter"]["Prefix"] == "segments/"
    assert segments["Expiration"] == {"Days": 7}
    assert everything["Filter"].get("Prefix", "") == ""
    assert everything["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 2}
    assert everything["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert everything["Expiration"] == {"ExpiredObjectDeleteMarker": True}


def _hcl(path: Path) -> dict:
    hcl2 = pytest.importorskip("hcl2", reason="pip install python-hcl2")
    with path.open() as handle:
        return hcl2.load(handle)


def _unquoted(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _media_resource(kind: str) -> dict:
    for block in _hcl(TERRAFORM_INFRA / "s3.tf").get("resource", []):
        for key, instances in block.items():
            if _unquoted(key) == kind:
                for name, body in instances.items():
                    if _unquoted(name) == "media":
                        return body
    raise AssertionError(f"no {kind}.media in s3.tf")


def _variable_default(name: str) -> int:
    for block in _hcl(TERRAFORM_INFRA / "variables.tf").get("variable", []):
        for key, body in block.items():
            if _unquoted(key) == name:
                return body["default"]
    raise AssertionError(f"no variable {name} in variables.tf")


def _number(value) -> int:
    """A Terraform number, or a ``${var.x}`` reference as that variable's default."""
    if isinstance(value, str) and value.startswith("${var."):
        return _variable_default(value.removeprefix("${var.").removesuffix("}"))
    return int(value)


def test_aws_init_sets_terraforms_cors_rule_but_for_any_origin() -> None:
    from stereo_spot.aws_setup import DEV_CORS_RULES

    terraform = _media_resource("aws_s3_bucket_cors_configuration")["cors_rule"][0]
    (rule,) = DEV_CORS_RULES

    assert rule["AllowedMethods"] == [_unquoted(m) for m in terraform["allowed_methods"]]
    assert rule["AllowedHeaders"] == [_unquoted(h) for h in terraform["allowed_headers"]]
    assert rule["ExposeHeaders"] == [_unquoted(h) for h in terraform["expose_headers"]]
    assert rule["MaxAgeSeconds"] == _number(terraform["max_age_seconds"])
    assert rule["AllowedOrigins"] == ["*"]


def test_aws_init_sets_terraforms_lifecycle_with_its_defaults() -> None:
    from stereo_spot.aws_setup import LIFECYCLE_RULES

    terraform = {
        _unquoted(rule["id"]): rule
        for rule in _media_resource("aws_s3_bucket_lifecycle_configuration")["rule"]
    }
    ours = {rule["ID"]: rule for rule in LIFECYCLE_RULES}

    assert set(ours) == set(terraform)
    for name, rule in terraform.items():
        prefix = _unquoted((rule.get("filter") or [{}])[0].get("prefix", ""))
        assert ours[name]["Status"] == _unquoted(rule["status"]), name
        assert ours[name]["Filter"].get("Prefix", "") == prefix, name
        actions = {k: v for k, v in ours[name].items() if k not in ("ID", "Status", "Filter")}
        assert actions == _lifecycle_actions(rule), name


def _lifecycle_actions(rule: dict) -> dict:
    """A Terraform lifecycle rule's actions as the S3 API's rule spells them."""
    actions: dict = {}
    for expiration in rule.get("expiration", []):
        if "days" in expiration:
            actions["Expiration"] = {"Days": _number(expiration["days"])}
        if expiration.get("expired_object_delete_marker"):
            actions["Expiration"] = {"ExpiredObjectDeleteMarker": True}
    for noncurrent in rule.get("noncurrent_version_expiration", []):
        days = _number(noncurrent["noncurrent_days"])
        actions["NoncurrentVersionExpiration"] = {"NoncurrentDays": days}
    for abort in rule.get("abort_incomplete_multipart_upload", []):
        days = _number(abort["days_after_initiation"])
        actions["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    return actions
