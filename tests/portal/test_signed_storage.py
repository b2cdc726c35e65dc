"""Local signed URLs: the portal's /storage endpoints behave like S3 presigned POST and GET."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stereo_spot.domain import Job
from stereo_spot.keys import final_key, source_key
from stereo_spot.storage.signing import SignatureRejected, UrlSigner, secret_from
from tests.portal.conftest import MAX_UPLOAD_BYTES, post_upload

JOB_ID = "signedJob_0123456789ab"
OTHER_JOB_ID = "signedJob_ba9876543210"


def _nothing_written(storage) -> bool:
    files = [p for p in storage.root.rglob("*") if p.is_file()]
    return files == []


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    path = tmp_path / "payload.mp4"
    path.write_bytes(bytes(range(256)) * 400)
    return path


@pytest.fixture
def waiting_job(jobs) -> Job:
    """The job JOB_ID, waiting for its video: the only kind of job a source is written for."""
    return jobs.create(Job(job_id=JOB_ID))


def test_signed_form_upload_writes_exactly_its_key(client, storage, waiting_job, payload) -> None:
    target = storage.presign_upload(source_key(JOB_ID), max_bytes=MAX_UPLOAD_BYTES)

    response = post_upload(client, target, payload)

    assert response.status_code == 204, response.text
    assert storage.list_prefix("") == [source_key(JOB_ID)]
    assert storage.path_for(source_key(JOB_ID)).read_bytes() == payload.read_bytes()


@pytest.mark.parametrize(
    "override",
    [
        {"key": source_key(OTHER_JOB_ID)},
        {"max_bytes": str(10 * MAX_UPLOAD_BYTES)},
        {"expires": str(int(time.time()) + 10**6)},
        {"content_type": "text/html"},
        {"signature": "0" * 64},
    ],
    ids=["other-key", "bigger-limit", "later-expiry", "other-type", "forged-signature"],
)
def test_tampered_upload_is_403_and_writes_nothing(
    client, storage, payload, override: dict
) -> None:
    target = storage.presign_upload(source_key(JOB_ID), max_bytes=MAX_UPLOAD_BYTES)

    response = post_upload(client, target, payload, **override)

    assert response.status_code == 403
    assert _nothing_written(storage)


def test_expired_upload_is_403_and_writes_nothing(client, settings, storage, payload) -> None:
    an_hour_ago = UrlSigner(secret_from(settings), clock=lambda: time.time() - 3600)
    fields = an_hour_ago.sign_upload(source_key(JOB_ID), MAX_UPLOAD_BYTES, 60, "video/mp4")

    response = post_upload(client, {"url": "/storage/upload", "fields": fields}, payload)

    assert response.status_code == 403
    assert "expired" in response.json()["detail"]
    assert _nothing_written(storage)


def test_upload_signed_with_another_secret_is_403(client, storage, payload) -> None:
    stranger = UrlSigner(b"someone else's secret, 32 bytes!")
    fields = stranger.sign_upload(source_key(JOB_ID), MAX_UPLOAD_BYTES, 600, "video/mp4")

    response = post_upload(client, {"url": "/storage/upload", "fields": fields}, payload)

    assert response.status_code == 403
    assert _nothing_written(storage)


def test_upload_over_the_signed_limit_is_413_and_writes_nothing(
    client, storage, waiting_job, tmp_path
) -> None:
    target = storage.presign_upload(source_key(JOB_ID), max_bytes=1000)
    big = tmp_path / "big.mp4"
    big.write_bytes(b"x" * 1001)

    response = post_upload(client, target, big)

    assert response.status_code == 413
    assert _nothing_written(storage)


def test_upload_of_exactly_the_limit_is_accepted(client, storage, waiting_job, tmp_path) -> None:
    target = storage.presign_upload(source_key(JOB_ID), max_bytes=1000)
    exact = tmp_path / "exact.mp4"
    exact.write_bytes(b"x" * 1000)

    assert post_upload(client, target, exact).status_code == 204
    assert storage.size(source_key(JOB_ID)) == 1000


def test_a_form_used_after_its_job_was_deleted_writes_nothing(client, storage, payload) -> None:
    created = client.post("/api/jobs").json()
    job_id, target = created["job"]["job_id"], created["upload"]
    assert client.delete(f"/api/jobs/{job_id}").status_code == 204

    response = post_upload(client, target, payload)

    assert response.status_code == 404
    assert response.json()["detail"] == (
        "There is no such job (it may have been deleted); the upload was not kept."
    )
    assert _nothing_written(storage), "no file that no job owns, which no delete would reach"


def test_body_over_the_portal_limit_is_413_before_reading(client, storage) -> None:
    response = client.post(
        "/storage/upload",
        content=b"",
        headers={
            "content-type": "multipart/form-data; boundary=x",
            "content-length": str(10 * MAX_UPLOAD_BYTES),
        },
    )

    assert response.status_code == 413
    assert _nothing_written(storage)


def test_form_without_a_file_is_400_and_writes_nothing(client, storage) -> None:
    target = storage.presign_upload(source_key(JOB_ID), max_bytes=1000)

    response = client.post(target.url, data=target.fields, files={"note": ("", b"")})

    assert response.status_code in (400, 403)
    assert _nothing_written(storage)


def test_a_file_sent_under_another_field_name_is_refused(
    client, storage, waiting_job, payload
) -> None:
    """S3's presigned POST takes the file only as ``file``: a script that sent it as ``video``
    here would fail on the cluster."""
    target = storage.presign_upload(source_key(JOB_ID), max_bytes=MAX_UPLOAD_BYTES)

    with payload.open("rb") as handle:
        response = client.post(
            target.url, data=target.fields, files={"video": ("clip.mp4", handle, "video/mp4")}
        )

    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Send the file as the form field `file`, after the signed fields, not as `video`."
    )
    assert _nothing_written(storage)


def test_fields_sent_after_the_file_do_not_count(client, storage, payload) -> None:
    """As with S3, the signature covers only what precedes the file."""
    target = storage.presign_upload(source_key(JOB_ID), max_bytes=MAX_UPLOAD_BYTES)
    body, boundary = _multipart(
        [("file", payload.read_bytes()), *target.fields.items()], file_first=True
    )

    response = client.post(
        target.url,
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 403
    assert _nothing_written(storage)


def test_signed_download_serves_ranges(client, storage, payload) -> None:
    storage.put_file(payload, final_key(JOB_ID))
    url = storage.presign_download(final_key(JOB_ID), expires_in=300)

    whole = client.get(url)
    part = client.get(url, headers={"Range": "bytes=100-199"})

    assert whole.status_code == 200
    assert whole.content == payload.read_bytes()
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes"
    assert part.status_code == 206
    assert part.content == payload.read_bytes()[100:200]


@pytest.mark.parametrize("ignored", ["items=0-10", "bytes=5-2", "bytes=abc", "bytes", "bytes=-"])
def test_a_range_that_is_no_byte_range_is_ignored(client, storage, payload, ignored) -> None:
    # RFC 9110 §14.2 (an unknown unit MUST be ignored) and S3 both answer the whole file: a
    # script that downloads from the cluster works against `stereo-spot up` too.
    storage.put_file(payload, final_key(JOB_ID))
    url = storage.presign_download(final_key(JOB_ID), expires_in=300)

    response = client.get(url, headers={"Range": ignored})

    assert response.status_code == 200, response.text
    assert response.content == payload.read_bytes()


def test_a_range_past_the_end_is_still_unsatisfiable(client, storage, payload) -> None:
    storage.put_file(payload, final_key(JOB_ID))
    url = storage.presign_download(final_key(JOB_ID), expires_in=300)
    size = payload.stat().st_size

    response = client.get(url, headers={"Range": f"bytes={size}-"})

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"


def test_a_copy_the_client_holds_is_not_sent_again(client, storage, payload) -> None:
    storage.put_file(payload, final_key(JOB_ID))
    url = storage.presign_download(final_key(JOB_ID), expires_in=300)
    first = client.get(url)
    etag = first.headers["etag"]

    held = client.get(url, headers={"If-None-Match": etag})
    weak = client.get(url, headers={"If-None-Match": f'"other", W/{etag}'})
    stale = client.get(url, headers={"If-None-Match": '"other"'})

    assert (held.status_code, held.content) == (304, b"")
    assert held.headers["etag"] == etag and "max-age" in held.headers["cache-control"]
    assert weak.status_code == 304
    assert stale.status_code == 200 and stale.content == payload.read_bytes()


def test_signed_download_names_the_file(client, storage, payload) -> None:
    storage.put_file(payload, final_key(JOB_ID))
    url = storage.presign_download(final_key(JOB_ID), filename="holiday_redcyan.mp4")

    response = client.get(url)

    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment") and "holiday_redcyan.mp4" in disposition


def test_tampered_or_expired_download_is_403(client, settings, storage, payload) -> None:
    storage.put_file(payload, final_key(JOB_ID))
    storage.put_file(payload, source_key(JOB_ID))
    good = storage.presign_download(final_key(JOB_ID))
    expired = UrlSigner(secret_from(settings), clock=lambda: time.time() - 7200).sign_download(
        final_key(JOB_ID), 60
    )

    assert client.get(good.replace("final.mp4", "source.mp4")).status_code == 403
    assert client.get(good.replace("signature=", "signature=0")).status_code == 403
    assert client.get(good + "&filename=evil.html").status_code == 403
    assert client.get(f"/storage/{final_key(JOB_ID)}").status_code == 403
    assert client.get(f"/storage/{final_key(JOB_ID)}?{expired}").status_code == 403


def test_signed_download_of_a_missing_object_is_404(client, storage) -> None:
    url = storage.presign_download(final_key(JOB_ID))

    assert client.get(url).status_code == 404


def test_signer_rejects_edits_to_every_signed_field() -> None:
    signer = UrlSigner(b"0123456789abcdef0123456789abcdef")
    fields = signer.sign_upload(source_key(JOB_ID), 100, 60, "video/mp4")
    assert signer.verify_upload(fields).max_bytes == 100
    for name in ("key", "content_type", "expires", "max_bytes"):
        with pytest.raises(SignatureRejected):
            signer.verify_upload({**fields, name: fields[name] + "0"})


def test_secret_is_generated_once_and_shared(settings) -> None:
    assert secret_from(settings) == secret_from(settings)
    assert (settings.data_dir / "secret_key").stat().st_mode & 0o777 == 0o600


def _multipart(parts: list[tuple[str, bytes | str]], file_first: bool) -> tuple[bytes, str]:
    boundary = "testboundary1234"
    chunks = []
    for name, value in parts:
        data = value.encode() if isinstance(value, str) else value
        extra = '; filename="f.mp4"' if name == "file" else ""
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{extra}\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), boundary
