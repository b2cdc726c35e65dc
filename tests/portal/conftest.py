"""Portal fixtures: an app over a temporary data dir with the REAL local adapters.

LocalStorage (with its URL signer) and SqliteJobStore come from ``stereo_spot.wiring`` exactly as
in ``stereo-spot up``; nothing stands in for them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from portal.launcher import LocalRunLauncher
from stereo_spot.cli.web import ChildProcessRuns
from stereo_spot.settings import Settings
from stereo_spot.storage import UploadTarget
from stereo_spot.wiring import job_store_from, storage_from

_CSRF_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
MAX_UPLOAD_BYTES = 2_000_000


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(backend="local", data_dir=tmp_path / "data", max_upload_bytes=MAX_UPLOAD_BYTES)


@pytest.fixture
def storage(settings: Settings):
    return storage_from(settings)


@pytest.fixture
def jobs(settings: Settings):
    return job_store_from(settings)


@pytest.fixture
def launcher(settings: Settings, jobs) -> LocalRunLauncher:
    """The real local launcher over the real runner, with its worker NOT started.

    Starting a job queues it here and nothing runs, so route tests see ``queued`` and can count
    submissions; tests that need a run use ``running_client``.
    """
    return LocalRunLauncher(jobs, ChildProcessRuns(settings, jobs))


@pytest.fixture
def client(settings: Settings, storage, jobs, launcher) -> Iterator[TestClient]:
    app = create_app(settings, storage=storage, jobs=jobs, launcher=launcher)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def model_url(settings: Settings) -> Iterator[str]:
    """A real model server over the same data dir (it reads and writes media by file:// URI)."""
    inference_launcher = pytest.importorskip("inference_service.launcher")
    with inference_launcher.running_model_server(settings) as url:
        yield url


@pytest.fixture
def running_client(
    settings: Settings, storage, jobs, model_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """The portal as ``stereo-spot up`` wires it (``launcher_from``): LocalRunLauncher running
    each job through ``pipelines.local_runner`` in a child process, against a real model
    server."""
    from stereo_spot.cli.web import launcher_from

    monkeypatch.setenv("STEREO_SPOT_SEGMENT_SECONDS", "1")  # several segments from a 3 s clip
    run_settings = settings.model_copy(update={"model_url": model_url})
    with ExitStack() as stack:
        launcher = launcher_from(run_settings, jobs, stack)
        app = create_app(run_settings, storage=storage, jobs=jobs, launcher=launcher)
        with TestClient(app) as test_client:
            yield test_client


@pytest.fixture
def not_a_video(tmp_path: Path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("these are meeting notes, not a video\n" * 50)
    return path


def csrf_token(client: TestClient) -> str:
    """The token of the page's forms (loading a page also sets the matching cookie)."""
    match = _CSRF_RE.search(client.get("/").text)
    assert match, "the create page has no CSRF token"
    return match.group(1)


def create_job_via_form(client: TestClient, **form: str) -> str:
    token = csrf_token(client)
    response = client.post("/jobs", data={"csrf_token": token, **form}, follow_redirects=False)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/jobs/")
    return location.removeprefix("/jobs/")


def create_job_via_api(client: TestClient, **body) -> tuple[str, dict]:
    response = client.post("/api/jobs", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    return created["job"]["job_id"], created["upload"]


def post_upload(client: TestClient, target: dict | UploadTarget, path: Path, **override: str):
    """POST the signed form, then the file, exactly as the page's script does."""
    if isinstance(target, UploadTarget):
        url, fields = target.url, dict(target.fields)
    else:
        url, fields = target["url"], dict(target["fields"])
    fields.update(override)
    with open(path, "rb") as handle:
        return client.post(url, data=fields, files={"file": (path.name, handle, "video/mp4")})


def upload_in_parts(client: TestClient, job_id: str, path: Path, put=None) -> dict:
    """Upload ``path`` as the job page's script does: in parts through the JSON API, each part
    PUT straight to its signed URL (``put``: how, default the portal's client), then completed
    with the ETags. Returns the upload's plan."""
    data = path.read_bytes()
    started = client.post(f"/api/jobs/{job_id}/uploads", json={"size": len(data)})
    assert started.status_code == 201, started.text
    upload = started.json()
    numbers = list(range(1, upload["part_count"] + 1))
    signed = client.post(
        upload["links"]["sign"], json={"upload_id": upload["upload_id"], "numbers": numbers}
    )
    assert signed.status_code == 200, signed.text
    parts = []
    for part in signed.json()["parts"]:
        first = (part["number"] - 1) * upload["part_size"]
        answer = (put or client.put)(part["url"], content=data[first : first + upload["part_size"]])
        assert answer.status_code == 200, answer.text
        parts.append({"number": part["number"], "etag": answer.headers["etag"]})
    done = client.post(
        upload["links"]["complete"], json={"upload_id": upload["upload_id"], "parts": parts}
    )
    assert done.status_code == 204, done.text
    return upload


@contextmanager
def portal_on_s3(settings: Settings) -> Iterator[TestClient]:
    """The portal as ``stereo-spot portal`` wires it for the aws backend (``settings``); its
    launcher resumes the runs a portal before it left part-way."""
    from stereo_spot.cli.web import launcher_from

    with ExitStack() as stack:
        jobs = job_store_from(settings)
        launcher = launcher_from(settings, jobs, stack)
        app = create_app(settings, storage_from(settings), jobs, launcher)
        with TestClient(app) as client:
            yield client
