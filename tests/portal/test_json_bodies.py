"""A JSON API body the portal cannot read is refused with what to fix: a JSON object, sent as
application/json, in UTF-8 (FastAPI's own words named neither JSON nor the content type)."""

from __future__ import annotations

import pytest

from portal.app import UNREADABLE_JSON
from tests.portal.conftest import create_job_via_api


def _begin(client, body: bytes, content_type: str | None):
    job_id, _ = create_job_via_api(client)
    headers = {"Content-Type": content_type} if content_type else {}
    return client.post(f"/api/jobs/{job_id}/uploads", content=body, headers=headers)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"size": "\xff"}', "application/json"),
        ('{"size": 5, "name": "café"}'.encode("latin-1"), "application/json; charset=latin-1"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ],
    ids=["not-utf-8", "latin-1", "nested-too-deep"],
)
def test_a_body_json_cannot_read_is_a_400_saying_what_to_send(client, body, content_type):
    answer = _begin(client, body, content_type)

    assert answer.status_code == 400
    assert answer.json() == {"detail": UNREADABLE_JSON}
    assert "send a JSON object as application/json, in UTF-8" in UNREADABLE_JSON


@pytest.mark.parametrize(
    ("content_type", "came"),
    [
        ("text/json", "as text/json"),
        ("application/xml", "as application/xml"),
        (None, "without a Content-Type"),
    ],
)
def test_a_body_of_another_type_is_a_422_naming_application_json(client, content_type, came):
    answer = _begin(client, b'{"size": 5}', content_type)

    assert answer.status_code == 422
    (problem,) = answer.json()["detail"]
    assert problem["loc"] == ["body"]
    assert problem["msg"] == (
        f"Send a JSON object as application/json, in UTF-8 (the body came {came})."
    )
    assert problem["input"] == '{"size": 5}'


def test_a_json_body_that_is_no_object_is_a_422_asking_for_one(client) -> None:
    answer = _begin(client, b"[5]", "application/json")

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["msg"] == "Send a JSON object as application/json, in UTF-8."
