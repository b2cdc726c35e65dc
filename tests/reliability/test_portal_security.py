"""Portal and model-server security beyond tests/portal (which pins CSRF on the create form,
signed-URL tampering and expiry, upload limits with a declared length, and basic/bearer auth on
a few routes). Here: auth on every route of the route table, CSRF on every form post, signed URLs
that cannot be bent to another key or out of the media root, the upload limit without a declared
length, headers on every kind of response, and a model server that only touches its own storage.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import SecretStr

from portal.app import create_app
from stereo_spot.errors import InvalidKey
from stereo_spot.keys import final_key, source_key
from stereo_spot.storage.s3 import S3Storage
from tests.portal.conftest import MAX_UPLOAD_BYTES, create_job_via_api

JOB_ID = "secJob_0123456789abcdefABCDEF"
EXEMPT = ("/storage/", "/static/", "/healthz")


@pytest.fixture
def locked(settings, storage, jobs):
    secured = settings.model_copy(update={"auth_token": SecretStr("scr1pt-token-0123456789")})
    return TestClient(create_app(secured, storage=storage, jobs=jobs))


def _api_routes(routes) -> list[APIRoute]:
    """Every endpoint, including those of included routers (wrapped by newer FastAPI)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        inner = getattr(route, "original_router", None) or getattr(route, "routes", None)
        if inner is not None:
            found += _api_routes(getattr(inner, "routes", inner))
    return found


def _concrete(path: str) -> str:
    return path.replace("{job_id}", JOB_ID).replace("{key:path}", final_key(JOB_ID))


def test_every_route_needs_auth_when_configured(locked) -> None:
    """Walk the route table, so a route added later cannot be forgotten."""
    checked = 0
    for route in _api_routes(locked.app.routes):
        if route.path.startswith(EXEMPT):
            continue
        for method in route.methods - {"HEAD"}:
            response = locked.request(method, _concrete(route.path))
            assert response.status_code == 401, f"{method} {route.path}"
            checked += 1
    assert checked >= 12
    assert locked.get("/api/openapi.json").status_code == 401
    assert locked.get("/healthz").status_code == 200, "probes stay open"


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/jobs", {"layout": "sbs"}),
        (f"/jobs/{JOB_ID}/start", {}),
        (f"/jobs/{JOB_ID}/cancel", {}),
        (f"/jobs/{JOB_ID}/again", {"layout": "sbs", "preview": "on"}),
        (f"/jobs/{JOB_ID}/delete", {}),
    ],
)
def test_every_form_post_needs_the_csrf_token(client, jobs, path, form) -> None:
    client.get("/")  # the cookie alone is not enough
    response = client.post(path, data=form, follow_redirects=False)
    assert response.status_code == 403
    header = client.post(path, data=form, headers={"X-CSRF-Token": "f" * 64})
    assert header.status_code == 403
    assert jobs.list_all() == []


def test_download_signature_is_bound_to_its_key(client, storage, clip_mp4) -> None:
    storage.put_file(clip_mp4, final_key(JOB_ID))
    storage.put_file(clip_mp4, source_key(JOB_ID))
    url = storage.presign_download(final_key(JOB_ID))
    assert client.get(url).status_code == 200
    swapped = url.replace(final_key(JOB_ID), source_key(JOB_ID))
    assert client.get(swapped).status_code == 403


@pytest.mark.parametrize(
    "key",
    ["../secret_key", "jobs/../../secret_key", "/etc/passwd", "jobs/x/%2e%2e/%2e%2e/secret_key"],
)
def test_signed_url_cannot_leave_the_media_root(client, storage, settings, key) -> None:
    """Even with a valid signature over the hostile key (as if the secret had leaked)."""
    signer = storage.signer
    query = f"expires=9999999999&signature={signer._digest('GET', key, '9999999999', '')}"
    response = client.get(f"/storage/{key}?{query}")
    assert response.status_code in (403, 404)
    assert settings.secret_key is None or b"secret" not in response.content
    assert response.content.find((settings.data_dir / "secret_key").read_bytes()) == -1


def test_symlink_out_of_the_media_root_is_not_served(client, storage, tmp_path) -> None:
    outside = tmp_path / "private.txt"
    outside.write_text("not yours")
    link = storage.root / final_key(JOB_ID)
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    url = storage.presign_download(final_key(JOB_ID))
    response = client.get(url)
    assert response.status_code == 404 and b"not yours" not in response.content


def test_upload_limit_holds_without_a_declared_length(client, storage) -> None:
    """A chunked body (no Content-Length) is counted as it streams and stopped at the limit."""
    job_id, upload = create_job_via_api(client)
    boundary = "reliabilityboundary"

    def body():
        for name, value in upload["fields"].items():
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            ).encode()
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="v.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        chunk = b"\0" * 65536
        for _ in range(MAX_UPLOAD_BYTES // len(chunk) + 2):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        upload["url"],
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert not storage.exists(source_key(job_id))
    assert not list(storage.root.rglob(".upload-*")), "the partial file is gone"


@pytest.mark.parametrize(
    "path",
    ["/", f"/api/jobs/{JOB_ID}", "/api/openapi.json", "/no/such/page", "/storage/x?expires=1"],
)
def test_every_kind_of_response_carries_the_security_headers(client, path) -> None:
    headers = client.get(path).headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"


# -- the model server reads and writes only its own storage -------------------------------------


def _predict(model_url: str, **instance) -> httpx.Response:
    body = {
        "instances": [
            {
                "job_id": JOB_ID,
                "segment_index": 0,
                "layout": "anaglyph",
                **instance,
            }
        ]
    }
    return httpx.post(f"{model_url}/v1/models/stereo:predict", json=body, timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("input_uri", "output_uri"),
    [
        ("file:///etc/passwd", "OWN_OUTPUT"),
        ("file:///etc/../etc/passwd", "OWN_OUTPUT"),
        ("OWN_INPUT", "file:///tmp/stereo-spot-written-outside.mp4"),
        ("OWN_INPUT", "OWN_ROOT/../escaped.mp4"),
        ("s3://someone-elses-bucket/segments/x.mp4", "OWN_OUTPUT"),
        ("http://169.254.169.254/latest/meta-data/", "OWN_OUTPUT"),
    ],
)
def test_model_server_refuses_uris_outside_its_storage(embedded, input_uri, output_uri) -> None:
    media = embedded.data_dir / "media"
    own_input = (media / "segments" / JOB_ID / "00000_00001_anaglyph.mp4").as_uri()
    own_output = (media / "jobs" / JOB_ID / "segments" / "00000.mp4").as_uri()

    def own(uri: str) -> str:
        return (
            uri.replace("OWN_INPUT", own_input)
            .replace("OWN_OUTPUT", own_output)
            .replace("OWN_ROOT", media.as_uri())
        )

    response = _predict(embedded.model_url, input_uri=own(input_uri), output_uri=own(output_uri))
    assert response.status_code == 400, response.text
    assert response.json()["error"]
    assert not (media / "jobs" / JOB_ID).exists()
    assert not (embedded.data_dir / "escaped.mp4").exists()


def test_s3_storage_refuses_another_bucket_and_file_uris() -> None:
    s3 = S3Storage("stereo-spot-media", client=None)
    assert s3.key_from_uri("s3://stereo-spot-media/jobs/x/final.mp4") == "jobs/x/final.mp4"
    for uri in (
        "s3://another-bucket/jobs/x/final.mp4",
        "file:///etc/passwd",
        "s3://stereo-spot-media/../etc/passwd",
        "https://stereo-spot-media.s3.amazonaws.com/jobs/x/final.mp4",
    ):
        with pytest.raises(InvalidKey):
            s3.key_from_uri(uri)
