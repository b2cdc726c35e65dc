"""S3Storage's signed URLs, exercised over real HTTP against moto server.

moto checks neither signatures, expiry nor POST policy conditions, so these tests also decode the
policy we sign and pin its conditions; ``stereo-spot aws-smoke`` checks enforcement on real S3.
The same assertions join the shared contract suite once LocalStorage's presign methods land.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from stereo_spot.errors import InvalidKey
from stereo_spot.keys import final_key, source_key
from stereo_spot.storage import UploadTarget

JOB_ID = "presignJob_0123456789ab"


def _post_form(target: UploadTarget, data: bytes, filename: str = "clip.mp4") -> httpx.Response:
    return httpx.post(
        target.url,
        data=target.fields,
        files={"file": (filename, data, target.fields.get("Content-Type", "video/mp4"))},
        timeout=30,
    )


def test_presigned_post_writes_exactly_its_key(s3_storage, tmp_path) -> None:
    key = source_key(JOB_ID)
    target = s3_storage.presign_upload(key, max_bytes=10_000, expires_in=600)

    response = _post_form(target, b"\x00\x00\x00\x18ftypmp42" + b"x" * 500, "My Holiday.MOV")

    assert response.status_code in (200, 201, 204), response.text
    # The object lands at the signed key whatever the browser called the file.
    assert s3_storage.list_prefix(f"input/{JOB_ID}/") == [key]
    assert s3_storage.size(key) == 512
    head = s3_storage.client.head_object(Bucket=s3_storage.bucket, Key=key)
    assert head["ContentType"] == "video/mp4"


def test_presigned_post_signs_key_type_and_size_conditions(s3_storage) -> None:
    key = source_key(JOB_ID)
    target = s3_storage.presign_upload(
        key, max_bytes=5 * 1024**3, expires_in=900, content_type="video/quicktime"
    )

    assert (target.max_bytes, target.expires_in) == (5 * 1024**3, 900)
    assert target.fields["key"] == key
    assert target.fields["Content-Type"] == "video/quicktime"
    policy = json.loads(base64.b64decode(target.fields["policy"]))
    conditions = policy["conditions"]
    assert {"key": key} in conditions
    assert {"bucket": s3_storage.bucket} in conditions
    assert {"Content-Type": "video/quicktime"} in conditions
    assert ["content-length-range", 1, 5 * 1024**3] in conditions
    assert not any(isinstance(c, list) and c[0] == "starts-with" for c in conditions)
    assert target.fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"


def test_a_post_never_promises_more_than_s3_takes_in_one(s3_storage) -> None:
    # S3 refuses a POST over 5 GB whatever its policy says: larger files go up in parts.
    target = s3_storage.presign_upload(source_key(JOB_ID), max_bytes=20 * 1024**3)

    conditions = json.loads(base64.b64decode(target.fields["policy"]))["conditions"]
    assert target.max_bytes == 5 * 1024**3
    assert ["content-length-range", 1, 5 * 1024**3] in conditions


def test_presign_upload_rejects_invalid_keys(s3_storage) -> None:
    with pytest.raises(InvalidKey):
        s3_storage.presign_upload("input/../x.mp4", max_bytes=10)


def test_presigned_get_downloads_the_object(s3_storage, tmp_path) -> None:
    key = final_key(JOB_ID)
    (tmp_path / "final.mp4").write_bytes(b"stereo" * 100)
    s3_storage.put_file(tmp_path / "final.mp4", key)

    url = s3_storage.presign_download(key, expires_in=300)
    response = httpx.get(url, timeout=30)

    assert response.status_code == 200
    assert response.content == b"stereo" * 100
    query = parse_qs(urlparse(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["300"]
    assert "response-content-disposition" not in query


def test_presigned_get_names_the_download(s3_storage, tmp_path) -> None:
    key = final_key(JOB_ID)
    (tmp_path / "final.mp4").write_bytes(b"3d")
    s3_storage.put_file(tmp_path / "final.mp4", key)

    plain = httpx.get(s3_storage.presign_download(key, filename="holiday_LR.mp4"), timeout=30)
    fancy = httpx.get(s3_storage.presign_download(key, filename='Été "3D"_LR.mp4'), timeout=30)

    assert plain.headers["content-disposition"] == 'attachment; filename="holiday_LR.mp4"'
    disposition = fancy.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="_t_ _3D__LR.mp4"')
    assert disposition.endswith("filename*=UTF-8''%C3%89t%C3%A9%20%223D%22_LR.mp4"), "exact"
