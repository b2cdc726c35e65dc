"""What every HTTP client may rely on, whatever it sends: numbers JSON cannot carry, HEAD where
GET is served, a mistyped page link."""

from __future__ import annotations

import html

import pytest

from tests.portal.conftest import create_job_via_api, csrf_token

NOT_FINITE = ("NaN", "Infinity", "-Infinity")


def _post_raw_json(client, url: str, text: str):
    # Written by hand: Python's json (and so the test client) would not send NaN by choice.
    return client.post(url, content=text, headers={"content-type": "application/json"})


@pytest.mark.parametrize("number", NOT_FINITE)
@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/jobs", "divergence"),
        ("/api/jobs", "convergence"),
        ("/api/jobs", "crf"),
        ("/api/jobs/{job}/again", "start"),
        ("/api/jobs/{job}/again", "divergence"),
        ("/api/jobs/{job}/start", "end"),
        ("/api/jobs/{job}/uploads", "size"),
    ],
)
def test_a_number_json_cannot_carry_is_refused_naming_the_field(
    client, jobs, path, field, number
) -> None:
    job_id, _ = create_job_via_api(client)

    response = _post_raw_json(client, path.format(job=job_id), f'{{"{field}": {number}}}')

    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert [problem["loc"][-1] for problem in problems] == [field]
    assert problems[0]["msg"] == "Input should be a finite number"
    assert len(jobs.list_all()) == 1, "nothing was made of it"


@pytest.mark.parametrize("page", ["/", "/jobs", "/jobs/{job}", "/api/jobs/{job}", "/api/jobs",
                                  "/healthz", "/api/openapi.json"])  # fmt: skip
def test_head_answers_as_get_without_the_body(client, page) -> None:
    job_id, _ = create_job_via_api(client)
    url = page.format(job=job_id)
    got = client.get(url)

    head = client.head(url)

    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == got.headers["content-length"]


def test_head_of_an_unknown_job_is_404_like_get(client) -> None:
    assert client.head("/jobs/noSuchJob_0123456789abcdef").status_code == 404
    assert client.head("/api/jobs/noSuchJob_0123456789abcdef").status_code == 404


def test_a_method_a_page_does_not_take_is_405_with_the_ones_it_does(client) -> None:
    job_id, _ = create_job_via_api(client)

    for url, allowed in [
        ("/", "GET, HEAD"),
        ("/jobs", "GET, HEAD, POST"),
        (f"/api/jobs/{job_id}", "DELETE, GET, HEAD"),
        (f"/jobs/{job_id}/start", "POST"),
    ]:
        response = client.options(url)
        assert (response.status_code, response.headers.get("allow")) == (405, allowed), url


def test_a_signed_download_refuses_head_as_s3_does(client, storage, tmp_path) -> None:
    video = tmp_path / "final.mp4"
    video.write_bytes(b"not much of a video")
    storage.put_file(video, "jobs/x/final.mp4")
    url = storage.presign_download("jobs/x/final.mp4", expires_in=60)
    assert client.get(url).content == b"not much of a video", "the premise: GET is served"

    response = client.head(url)

    assert response.status_code == 405 and response.headers["allow"] == "GET"


@pytest.mark.parametrize("page", ["/jobs?cursor=junk", "/api/jobs?cursor=junk"])
def test_a_mistyped_page_link_of_the_completed_list_is_400_saying_so(client, page) -> None:
    response = client.get(page)

    assert response.status_code == 400
    said = response.json()["detail"] if page.startswith("/api") else html.unescape(response.text)
    assert "That page link is not valid; go back to the first page of the list." in said


def test_a_fault_of_the_portals_own_is_its_error_page_or_json_not_bare_text(
    settings, storage, jobs, tmp_path
) -> None:
    # The jobs database broken under the running portal (a disk fault, a file overwritten):
    # no adapter names that, and Starlette answered "Internal Server Error" as plain text.
    from fastapi.testclient import TestClient

    from portal.app import UNEXPECTED, create_app

    app = create_app(settings, storage=storage, jobs=jobs)
    with TestClient(app, raise_server_exceptions=False) as client:
        jobs.path.write_bytes(b"this is not a database, it was overwritten" * 100)

        page = client.get("/jobs")
        api = client.get("/api/jobs")

    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert UNEXPECTED in html.unescape(page.text) and "<title>" in page.text
    assert api.status_code == 500 and api.json() == {"detail": UNEXPECTED}


SECURITY_HEADERS = (
    "content-security-policy",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
)


def _missing_security_headers(response) -> list[str]:
    return [name for name in SECURITY_HEADERS if name not in response.headers]


def test_a_fault_of_the_portals_own_carries_the_security_headers(settings, storage, jobs) -> None:
    # Starlette answers an unhandled error outside every middleware added the usual way.
    from fastapi.testclient import TestClient

    from portal.app import create_app

    app = create_app(settings, storage=storage, jobs=jobs)
    with TestClient(app, raise_server_exceptions=False) as client:
        jobs.path.write_bytes(b"this is not a database, it was overwritten" * 100)

        for response in (client.get("/jobs"), client.get("/api/jobs")):
            assert response.status_code == 500
            assert _missing_security_headers(response) == [], response.request.url


def test_the_sign_in_refusal_carries_the_security_headers(settings, storage, jobs) -> None:
    from fastapi.testclient import TestClient
    from pydantic import SecretStr

    from portal.app import create_app

    secured = settings.model_copy(update={"basic_auth": SecretStr("alice:wonderland")})
    response = TestClient(create_app(secured, storage=storage, jobs=jobs)).get("/jobs")

    assert response.status_code == 401
    assert _missing_security_headers(response) == []


@pytest.mark.parametrize(
    ("request_args", "status"),
    [
        ({"method": "GET", "url": "/", "headers": {"Host": "attacker.example"}}, 400),
        ({"method": "POST", "url": "/api/jobs", "headers": {"Origin": "https://x.example"}}, 403),
        ({"method": "POST", "url": "/api/jobs", "content": b"x" * (4 * 1024 * 1024 + 1)}, 413),
    ],
)
def test_the_portals_own_refusals_carry_the_security_headers(client, request_args, status) -> None:
    response = client.request(**request_args)

    assert response.status_code == status
    assert _missing_security_headers(response) == []


# A cursor holding "\ud800", which JSON can carry and no text encoding can.
UNENCODABLE_CURSOR = "eyJjb21wbGV0ZWRfYXQiOiJcdWQ4MDAiLCJqb2JfaWQiOiJ4In0"


@pytest.mark.parametrize("page", ["/jobs", "/api/jobs"])
def test_a_page_link_holding_text_no_encoding_can_carry_is_400(client, page) -> None:
    response = client.get(f"{page}?cursor={UNENCODABLE_CURSOR}")

    assert response.status_code == 400
    said = response.json()["detail"] if page.startswith("/api") else html.unescape(response.text)
    assert "That page link is not valid" in said


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/jobs", '{"source_name": "a\\ud800b.mp4", "layout": "\\ud800"}'),
        ("/api/jobs/{job}/start", '{"source_name": "\\ud800", "end": "\\ud800"}'),
        ("/api/jobs/{job}/again", '{"start": "\\ud800"}'),
        ("/api/jobs/{job}/uploads/sign", '{"upload_id": "\\ud800", "numbers": ["\\ud800"]}'),
        ("/api/jobs/{job}/uploads/abort", '{"upload_id": "\\ud800", "x": 1}'),
    ],
)
def test_a_refused_input_no_encoding_can_carry_is_still_a_422(client, path, body) -> None:
    job_id, _ = create_job_via_api(client)

    response = _post_raw_json(client, path.format(job=job_id), body)

    assert response.status_code == 422, response.text
    assert response.json()["detail"]


MAX_BODY = 4 * 1024 * 1024  # docs/PORTAL.md: far above the largest real request


def _chunks(size: int, chunk: int = 64 * 1024):
    while size > 0:
        yield b" " * min(chunk, size)
        size -= chunk


@pytest.mark.parametrize("path", ["/api/jobs", "/jobs"])
def test_a_body_past_the_limit_is_413_declared_or_chunked(client, jobs, path) -> None:
    declared = client.post(path, content=b"{}" + b" " * MAX_BODY)
    chunked = client.post(path, content=_chunks(MAX_BODY + 1))  # no Content-Length

    for response in (declared, chunked):
        assert response.status_code == 413
        assert "too large" in response.text
    assert jobs.list_all() == []


def test_the_largest_real_request_is_well_under_the_limit(client) -> None:
    # Completing an upload of S3's most parts (10,000), each with an S3 ETag: ~0.65 MB.
    job_id, _ = create_job_via_api(client)
    parts = [{"number": n, "etag": f'"{n:032x}"'} for n in range(1, 10_001)]

    response = client.post(
        f"/api/jobs/{job_id}/uploads/complete", json={"upload_id": "u" * 1024, "parts": parts}
    )

    assert response.status_code not in (413, 500), response.text


def test_a_refusal_echoes_only_the_beginning_of_a_long_input(client) -> None:
    job_id, _ = create_job_via_api(client)
    long = {"source_name": "a" * 100_000, "layout": "b" * 100_000}

    response = client.post("/api/jobs", json=long)
    quoted = client.post(f"/api/jobs/{job_id}/again", json={"start": "c" * 100_000})
    page = client.post(
        f"/jobs/{job_id}/again", data={"csrf_token": csrf_token(client), "start": "c" * 100_000}
    )

    assert response.status_code == quoted.status_code == 422
    assert len(response.content) < 2_000 and len(quoted.content) < 2_000
    echoed = {problem["loc"][-1]: problem["input"] for problem in response.json()["detail"]}
    assert echoed["source_name"].startswith("aaaa") and echoed["layout"].startswith("bbbb")
    assert "c" * 100 in quoted.text
    assert page.status_code == 422 and "c" * 1000 not in page.text
