"""What every HTTP client may rely on, whatever it sends: numbers JSON cannot carry, HEAD where
GET is served, a mistyped page link."""

from __future__ import annotations

import html

import pytest

from tests.portal.conftest import create_job_via_api

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
