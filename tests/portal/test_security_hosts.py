"""Which Host names a portal without sign-in answers to: a page whose own name an attacker
re-points at this machine (DNS rebinding) must not read the portal, while the addresses people
really open it at keep working."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from portal.app import create_app

REBOUND = "attacker.example:18231"


def _portal(settings, storage, jobs, **changes) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=changes), storage=storage, jobs=jobs))


def test_a_name_the_portal_does_not_answer_to_is_refused_saying_how_to_allow_it(client) -> None:
    listing = client.get("/api/jobs?show=unfinished", headers={"Host": REBOUND})
    page = client.get("/", headers={"Host": REBOUND})

    assert listing.status_code == page.status_code == 400
    said = listing.json()["detail"]
    assert "attacker.example" in said and "STEREO_SPOT_ALLOWED_HOSTS" in said
    assert "attacker.example" in page.text and page.headers["content-type"].startswith("text/")


def test_a_rebound_page_cannot_create_a_job_or_get_upload_urls(client, jobs) -> None:
    response = client.post("/api/jobs", json={}, headers={"Host": REBOUND})

    assert response.status_code == 400
    assert "attacker.example" not in response.text.replace(REBOUND, "")  # no URL built on it
    assert jobs.list_all() == []


@pytest.mark.parametrize(
    "host",
    [
        "localhost:8000",
        "LOCALHOST",
        "127.0.0.1:18231",
        "[::1]:8000",
        # On a LAN (bound to 0.0.0.0) people open it at the machine's address; a page cannot
        # rebind an address (its origin would be that address), so every one is answered.
        "192.168.1.20:8000",
        "[fe80::1]:8000",
        "10.0.3.7",  # a Kubernetes probe, which names the pod's address
    ],
)
def test_the_machines_own_names_and_any_address_are_answered(client, host) -> None:
    assert client.get("/api/jobs", headers={"Host": host}).status_code == 200


def test_the_public_urls_name_and_the_allowed_names_are_answered(settings, storage, jobs) -> None:
    portal = _portal(
        settings,
        storage,
        jobs,
        public_url="https://stereo.example.org/",
        allowed_hosts="studio-pc, studio-pc.local.",
    )

    for host in ("stereo.example.org", "studio-pc:8000", "Studio-PC.local", "studio-pc.local."):
        assert portal.get("/api/jobs", headers={"Host": host}).status_code == 200, host
    assert portal.get("/api/jobs", headers={"Host": REBOUND}).status_code == 400


@pytest.mark.parametrize("host", ["attacker.example@127.0.0.1", "127.0.0.1:80x", "[::1"])
def test_a_malformed_host_is_refused(client, host) -> None:
    assert client.get("/api/jobs", headers={"Host": host}).status_code == 400


def test_probes_are_answered_whatever_host_they_name(client) -> None:
    assert client.get("/healthz", headers={"Host": REBOUND}).status_code == 200


def test_with_sign_in_the_credentials_guard_and_any_name_is_answered(
    settings, storage, jobs
) -> None:
    # A rebound page cannot sign in (the browser keeps the portal's credentials for its own
    # name), and a signed-in portal sits behind load balancers whose names it is not told.
    portal = _portal(settings, storage, jobs, auth_token=SecretStr("t0ken-for-scripts-0123"))

    signed_in = portal.get(
        "/api/jobs", headers={"Host": REBOUND, "Authorization": "Bearer t0ken-for-scripts-0123"}
    )

    assert signed_in.status_code == 200
    assert portal.get("/api/jobs", headers={"Host": REBOUND}).status_code == 401
