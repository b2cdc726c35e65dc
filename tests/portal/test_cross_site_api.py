"""The JSON API driven from another site's page: a form (empty, text/plain or urlencoded) or a
no-preflight fetch that a signed-in browser would send with its credentials. The portal's own
page and ``stereo-spot submit`` keep working (tests/browser, test_submit_cli)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from portal.app import create_app
from tests.portal.conftest import create_job_via_api

CROSS_SITE = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
BASIC = ("alice", "wonderland")


@pytest.fixture
def signed_in(settings, storage, jobs, launcher) -> TestClient:
    secured = settings.model_copy(update={"basic_auth": SecretStr("alice:wonderland")})
    portal = TestClient(create_app(secured, storage=storage, jobs=jobs, launcher=launcher))
    portal.auth = BASIC
    return portal


def _empty_form(**headers: str) -> dict:
    return {"content": b"", "headers": {"Content-Type": "text/plain", **headers}}


def test_an_empty_cross_site_form_creates_nothing_on_a_signed_in_portal(signed_in, jobs) -> None:
    response = signed_in.post("/api/jobs", **_empty_form(**CROSS_SITE))

    assert response.status_code == 403
    assert "another site" in response.json()["detail"]
    assert jobs.list_all() == []


def test_a_cross_site_form_cannot_cancel_or_start_a_job(signed_in, jobs) -> None:
    job_id, _ = create_job_via_api(signed_in)

    for action in ("cancel", "start"):
        response = signed_in.post(f"/api/jobs/{job_id}/{action}", **_empty_form(**CROSS_SITE))
        assert response.status_code == 403, action
    assert jobs.get(job_id).status == "created"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},  # a browser that sends no Sec-Fetch-* headers
        {"Origin": "null"},  # a sandboxed frame's form
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://testserver.evil.example"},
    ],
)
def test_a_request_from_another_origin_is_refused_whatever_its_body(client, jobs, headers) -> None:
    response = client.post("/api/jobs", json={"source_name": "planted.mp4"}, headers=headers)

    assert response.status_code == 403
    assert jobs.list_all() == []


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ],
)
def test_a_body_a_form_can_send_is_refused_even_without_an_origin(
    client, jobs, content_type
) -> None:
    # Browsers before Origin on every POST: the form's media type is what gives it away.
    response = client.post("/api/jobs", content=b"", headers={"Content-Type": content_type})

    assert response.status_code == 403
    assert "JSON" in response.json()["detail"]
    assert jobs.list_all() == []


def test_delete_from_another_site_is_refused(client, jobs) -> None:
    job_id, _ = create_job_via_api(client)

    assert client.delete(f"/api/jobs/{job_id}", headers=CROSS_SITE).status_code == 403
    assert jobs.get(job_id)


@pytest.mark.parametrize(
    "headers",
    [
        {},  # a script (stereo-spot submit, curl)
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},  # the portal's page
        {"Origin": "http://TestServer:80"},
    ],
)
def test_the_portals_own_page_and_scripts_still_change_things(client, jobs, headers) -> None:
    created = client.post("/api/jobs", json={}, headers=headers)
    bare = client.post("/api/jobs", headers=headers)  # no body: every field has a default

    assert created.status_code == bare.status_code == 201
    assert len(jobs.list_all()) == 2


def test_the_public_url_is_the_portals_own_origin_behind_a_proxy(settings, storage, jobs) -> None:
    # TLS ends at the proxy, which passes another Host on: the page's Origin is the public one.
    public = settings.model_copy(update={"public_url": "https://stereo.example.org"})
    portal = TestClient(create_app(public, storage=storage, jobs=jobs))

    response = portal.post("/api/jobs", json={}, headers={"Origin": "https://stereo.example.org"})

    assert response.status_code == 201


def test_reading_from_another_site_is_left_to_the_browsers_same_origin_rule(client) -> None:
    assert client.get("/api/jobs", headers=CROSS_SITE).status_code == 200
