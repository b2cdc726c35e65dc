"""``stereo-spot submit`` cut off and run again, against a real portal: a job started is followed
rather than converted again, a portal that is away a moment (a proxy's 502, a connection
dropped) is asked again, and what it says where the address, the token, a setting or a file
is wrong."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from, storage_from
from tests.media import make_clip
from tests.portal.test_submit_cli import JOB_LINE, _jobs_named, _served, _submit
from tests.processes import stereo_spot_command, stereo_spot_up
from tests.served import http_server, served

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``stereo-spot up``, converting what is sent to it."""
    data = tmp_path_factory.mktemp("resume") / "d"
    with stereo_spot_up(data) as url:
        yield url, data


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("resume-media") / "short.mp4", seconds=2)


def _copy(source: Path, target: Path) -> Path:
    """A video of its own, so that the jobs a test counts on a shared portal are its own."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())
    return target


@contextlib.contextmanager
def _queueing_portal(data: Path, **settings: object) -> Iterator[tuple[str, object]]:
    """The portal served by uvicorn with the real local launcher whose worker is not started:
    a job started stays queued (nothing converts it), as on a busy cluster. Yields its URL and
    its job store."""
    from portal.app import create_app
    from portal.launcher import LocalRunLauncher
    from stereo_spot.cli.web import ChildProcessRuns

    config = Settings(data_dir=data, **settings)
    jobs = job_store_from(config)
    launcher = LocalRunLauncher(jobs, ChildProcessRuns(config, jobs))
    with served(create_app(config, storage_from(config), jobs, launcher)) as url:
        yield url.rstrip("/"), jobs


@contextlib.contextmanager
def _proxy(upstream: str, fault: Callable[[str, str], str | None]) -> Iterator[str]:
    """A real HTTP proxy in front of ``upstream``, as an ingress is: each request forwarded
    (its Host kept, so the portal's signed URLs lead back through it) unless ``fault(method,
    path)`` says "502" (answered for the portal, not forwarded) or "drop" (forwarded, and the
    connection closed before its answer: the answer lost)."""
    from http.server import BaseHTTPRequestHandler

    target = httpx.URL(upstream)

    class Forward(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            said = fault(self.command, self.path)
            if said == "502":
                page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                self.send_response(502)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                return
            connection = http.client.HTTPConnection(target.host, target.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            connection.close()
            if said == "drop":
                self.close_connection = True
                return
            self.send_response_only(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _forward

        def log_message(self, *args: object) -> None:
            pass

    with http_server(Forward) as url:
        yield url


def _first(times: int, method: str, pattern: str, said: str) -> Callable[[str, str], str | None]:
    """A fault for the first ``times`` requests ``method`` to a path matching ``pattern``."""
    left = [times]
    lock = threading.Lock()

    def fault(asked: str, path: str) -> str | None:
        with lock:
            if asked == method and re.fullmatch(pattern, path) and left[0] > 0:
                left[0] -= 1
                return said
        return None

    return fault


def _ledger_records(cwd: Path) -> list[Path]:
    folder = cwd / "submitter" / "submissions"
    return list(folder.glob("*.json")) if folder.exists() else []


# 1. A job started is kept until its result is downloaded: the same command run again follows
# it, converting nothing twice.


def test_submit_wait_cut_off_by_ctrl_c_is_followed_again_not_converted_again(stack, clip_mp4,
                                                                            tmp_path):  # fmt: skip
    url, data = stack
    video = _copy(clip_mp4, tmp_path / "followed.mp4")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STEREO_SPOT_")}
    environment |= {"STEREO_SPOT_DATA_DIR": str(tmp_path / "submitter"), "PYTHONUNBUFFERED": "1"}
    waiting = subprocess.Popen(
        [*stereo_spot_command(), "submit", url, "followed.mp4", "--wait"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=environment, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert waiting.stdout is not None
    job_line = JOB_LINE.match(waiting.stdout.readline())
    assert job_line, "the job's line, printed once it started"
    waiting.send_signal(signal.SIGINT)  # the user's Ctrl-C while it waits
    _, interrupted = waiting.communicate(timeout=60)

    again = _submit(url, "followed.mp4", "--wait", cwd=tmp_path)

    job_id = job_line["id"]
    assert waiting.returncode == 130
    assert (
        f"followed.mp4: job {job_id} goes on on the portal; run the same command again to "
        "follow it and download its result." in interrupted
    )
    assert again.returncode == 0, again.stderr
    assert f"followed.mp4: following job {job_id}, started before" in again.stderr
    assert "uploading" not in again.stderr, "nothing sent again"
    assert [job.job_id for job in _jobs_named(data, "followed.mp4")] == [job_id], "no second job"
    assert (tmp_path / "followed_redcyan.mp4").stat().st_size > 0
    assert video.exists() and _ledger_records(tmp_path) == [], "downloaded: nothing to follow"


def test_submit_without_wait_says_how_to_fetch_and_wait_then_follows(stack, clip_mp4, tmp_path):
    url, data = stack
    _copy(clip_mp4, tmp_path / "later.mp4")

    queued = _submit(url, "later.mp4", cwd=tmp_path)
    fetched = _submit(url, "later.mp4", "--wait", cwd=tmp_path)

    assert queued.returncode == 0, queued.stderr
    (job,) = JOB_LINE.finditer(queued.stdout)
    assert "run the same command again with --wait" in queued.stderr
    assert fetched.returncode == 0, fetched.stderr
    assert f"later.mp4: following job {job['id']}, started before" in fetched.stderr
    assert [j.job_id for j in _jobs_named(data, "later.mp4")] == [job["id"]]
    assert (tmp_path / "later_redcyan.mp4").exists()


def test_a_remembered_job_cancelled_or_deleted_is_said_and_submitted_anew_only_so(clip_mp4,
                                                                                  tmp_path):  # fmt: skip
    with _queueing_portal(tmp_path / "data") as (url, jobs):
        _copy(clip_mp4, tmp_path / "v.mp4")
        first = _submit(url, "v.mp4", cwd=tmp_path)
        (job,) = JOB_LINE.finditer(first.stdout)
        httpx.post(f"{url}/api/jobs/{job['id']}/cancel").raise_for_status()

        told = _submit(url, "v.mp4", cwd=tmp_path)
        anew = _submit(url, "v.mp4", cwd=tmp_path)
        (second,) = JOB_LINE.finditer(anew.stdout)
        httpx.post(f"{url}/api/jobs/{second['id']}/cancel").raise_for_status()
        httpx.delete(f"{url}/api/jobs/{second['id']}").raise_for_status()
        gone = _submit(url, "v.mp4", cwd=tmp_path)
        (third,) = JOB_LINE.finditer(gone.stdout)
        made = len(jobs.list_all(50))

    assert told.returncode == 1
    assert (
        f"v.mp4: Job {job['id']}, started before, was cancelled; run the command again to "
        "convert the video in a new job." in told.stderr
    )
    assert "job " not in told.stdout, "no job made that time"
    assert anew.returncode == 0 and second["id"] != job["id"]
    assert gone.returncode == 0, gone.stderr
    assert (
        f"v.mp4: job {second['id']}, started before, is no longer on the portal; uploading the "
        "video again in a new job" in gone.stderr
    )
    assert third["id"] not in (job["id"], second["id"])
    assert made == 2, "the cancelled first and the third"


# 2. A portal away for a moment is asked again: polls and the start.


def test_submit_wait_rides_out_a_proxy_502_while_it_polls(stack, clip_mp4, tmp_path) -> None:
    url, _ = stack
    _copy(clip_mp4, tmp_path / "polled.mp4")
    fault = _first(2, "GET", r"/api/jobs/[A-Za-z0-9_-]+", "502")

    with _proxy(url, fault) as proxied:
        done = _submit(proxied, "polled.mp4", "--wait", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert re.search(r"The portal answered 502 \(GET /api/jobs/\S+\); trying again", done.stderr)
    assert done.stderr.count("trying again") == 1, "one line, not one a try"
    assert (tmp_path / "polled_redcyan.mp4").exists()


def test_submit_asks_the_start_again_when_its_answer_is_lost(stack, clip_mp4, tmp_path) -> None:
    url, data = stack
    _copy(clip_mp4, tmp_path / "dropped.mp4")
    second = _copy(clip_mp4, tmp_path / "next.mp4")
    fault = _first(1, "POST", r"/api/jobs/[A-Za-z0-9_-]+/start", "drop")

    with _proxy(url, fault) as proxied:
        done = _submit(proxied, "dropped.mp4", second.name, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "could not be reached (POST /api/jobs/" in done.stderr
    (started,) = _jobs_named(data, "dropped.mp4")
    assert started.status.value != "created", "started, once"
    assert len(_jobs_named(data, "next.mp4")) == 1, "the batch went on"


# 3. A 422's reasons, named; an engine refused stops the batch.


def test_submit_names_a_refused_engine_and_stops_the_batch(clip_mp4, tmp_path) -> None:
    _copy(clip_mp4, tmp_path / "a.mp4")
    _copy(clip_mp4, tmp_path / "b.mp4")
    with _served(Settings(data_dir=tmp_path / "data")) as url:
        done = _submit(url, "a.mp4", "b.mp4", "--engine", "depth-anything", cwd=tmp_path)

    assert done.returncode == 1
    assert re.search(
        r"a\.mp4: The portal refused engine: This portal's model server runs the 'classical'",
        done.stderr,
    ), done.stderr
    assert "The portal refuses these settings for every video: the other 1 are not sent." in (
        done.stderr
    )
    assert "[2/2]" not in done.stderr
    assert done.stderr.rstrip().endswith("Not converted: a.mp4, b.mp4.")


# 4. and 5. in-process: the answer to "complete" lost; a file gone mid-upload.


class _AnswerLost:
    """The portal ``http`` as the network delivers to it: the first request whose path ends
    with ``suffix`` arrives, and its answer is lost to ``error``."""

    def __init__(self, http, suffix: str, error: BaseException) -> None:
        self._http, self._suffix, self._error = http, suffix, error
        self._dropped = False

    def request(self, method: str, path: str, **kwargs):
        answer = self._http.request(method, path, **kwargs)
        if path.endswith(self._suffix) and not self._dropped:
            self._dropped = True
            raise self._error
        return answer


@pytest.mark.parametrize("lost", ["dropped connection", "ctrl-c"])
def test_a_complete_whose_answer_was_lost_starts_the_job_uploaded(lost, tmp_path, launcher,
                                                                   clip_mp4):  # fmt: skip
    """Answered (dropped connection: asked again in the same run; Ctrl-C: by the next run) with
    "This upload is complete", the job uploaded is started, nothing sent again."""
    from fastapi.testclient import TestClient

    from portal.app import create_app
    from stereo_spot.cli.portal_client import PortalClient
    from stereo_spot.cli.upload_ledger import UploadLedger

    settings = Settings(data_dir=tmp_path / "data", max_upload_bytes=64 * 1024**2)
    ledger = UploadLedger(tmp_path / "submissions")
    jobs = job_store_from(settings)
    error = httpx.ReadError("connection reset") if lost == "dropped connection" else None
    with TestClient(create_app(settings, storage_from(settings), jobs, launcher)) as http:
        api = _AnswerLost(http, "/uploads/complete", error or KeyboardInterrupt())
        sent: list[str] = []

        class Storage:
            def put(self, url: str, content: bytes):
                sent.append(url)
                return http.put(url, content=content)

        portal = PortalClient("http://testserver", api=api, storage=Storage())
        if error is None:
            with pytest.raises(KeyboardInterrupt):
                portal.submit(clip_mp4, {"layout": "sbs"}, {}, ledger)
            sent.clear()
        job = portal.submit(clip_mp4, {"layout": "sbs"}, {}, ledger)

    assert job["status"] == "queued"
    assert [j.job_id for j in jobs.list_all(10)] == [job["job_id"]], "no second job"
    if error is None:
        assert sent == [], "nothing uploaded again"


def test_a_file_gone_mid_upload_fails_that_video_with_a_sentence(tmp_path, launcher) -> None:
    from fastapi.testclient import TestClient

    from portal.app import create_app
    from stereo_spot.cli.portal_client import PortalClient
    from stereo_spot.cli.upload_ledger import UploadLedger
    from stereo_spot.errors import StereoSpotError

    settings = Settings(
        data_dir=tmp_path / "data", max_upload_bytes=64 * 1024**2, upload_part_bytes=5 * 1024**2
    )
    master = tmp_path / "gone.mov"
    master.write_bytes(os.urandom(26 * 1024**2))  # six parts: more than are sent at once
    jobs = job_store_from(settings)
    moved = threading.Event()
    with TestClient(create_app(settings, storage_from(settings), jobs, launcher)) as http:

        class Storage:
            """The storage; the file moved away as part 1 arrives, before parts 5 and 6
            are read."""

            def put(self, url: str, content: bytes):
                if url.split("?")[0].endswith("/1"):
                    master.unlink()
                    moved.set()
                moved.wait(30)
                return http.put(url, content=content)

        portal = PortalClient("http://testserver", api=http, storage=Storage())
        with pytest.raises(StereoSpotError) as failed:
            portal.submit(master, {"layout": "sbs"}, {}, UploadLedger(tmp_path / "submissions"))

    # A StereoSpotError: the batch says it for this video and goes on (an OSError ended it).
    assert str(failed.value) == "The file went away while it was uploaded; its job was deleted."
    assert jobs.list_all(10) == [], "no empty job left"


# 6.-10. Refusals, each before anything is uploaded.


def test_submit_refuses_a_token_a_header_cannot_carry_never_printing_it(tmp_path, clip_mp4):
    newline = _submit("http://127.0.0.1:9", clip_mp4, cwd=tmp_path,
                      env={"STEREO_SPOT_AUTH_TOKEN": "s3cret-x\n"})  # fmt: skip
    accented = _submit("http://127.0.0.1:9", clip_mp4, "--token", "sécret-x", cwd=tmp_path)

    assert newline.returncode == 2, "misuse, as any wrong option"
    assert newline.stderr.strip() == (
        "stereo-spot: The token (--token or STEREO_SPOT_AUTH_TOKEN) holds a character an HTTP "
        "header cannot carry (a newline at its end?); give the token alone."
    )
    assert accented.returncode == 2
    assert "a letter outside ASCII" in accented.stderr and "Traceback" not in accented.stderr
    for done in (newline, accented):
        assert "cret-x" not in done.stdout + done.stderr


@pytest.fixture
def redirecting() -> Iterator[str]:
    """An ingress that sends plain HTTP to HTTPS (308), as most do."""
    from http.server import BaseHTTPRequestHandler

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(308)
            self.send_header("Location", f"https://{self.headers['Host']}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with http_server(Redirect) as url:
        yield url.removeprefix("http://")


def test_submit_names_the_address_an_ingress_redirects_to(redirecting, clip_mp4, tmp_path):
    done = _submit(f"http://{redirecting}", clip_mp4, cwd=tmp_path)

    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"stereo-spot: http://{redirecting} redirects to https://{redirecting}; give that address."
    )


def test_submit_hints_at_the_scheme_and_takes_the_api_address(clip_mp4, tmp_path) -> None:
    with _queueing_portal(tmp_path / "data") as (url, _):
        host = url.removeprefix("http://")
        tls = _submit(f"https://{host}", clip_mp4, cwd=tmp_path)
        api = _submit(f"{url}/api/jobs", clip_mp4, cwd=tmp_path)
    slash_short = _submit("http:/127.0.0.1:17800", clip_mp4, cwd=tmp_path)

    assert tls.returncode == 1
    assert tls.stderr.rstrip().endswith(f"it answers plain HTTP there: give http://{host}")
    assert api.returncode == 0, api.stderr
    (job,) = JOB_LINE.finditer(api.stdout)
    assert job["page"] == f"{url}/jobs/{job['id']}"
    assert slash_short.returncode == 2
    assert slash_short.stderr.strip() == (
        "stereo-spot: http:/127.0.0.1:17800: the portal's address starts with https:// or "
        "http:// (for example http://127.0.0.1:17800)."
    )


def test_submit_says_videos_of_one_name_by_their_paths(clip_mp4, tmp_path) -> None:
    for folder in ("a", "b"):
        _copy(clip_mp4, tmp_path / folder / "clip.mp4")

    with _queueing_portal(tmp_path / "data") as (url, _):
        done = _submit(url, "a/clip.mp4", "b/clip.mp4", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert [m["name"] for m in JOB_LINE.finditer(done.stdout)] == ["a/clip.mp4", "b/clip.mp4"]


def test_submit_refuses_a_part_past_the_end_before_uploading(short_clip, tmp_path) -> None:
    _copy(short_clip, tmp_path / "short.mp4")
    with _queueing_portal(tmp_path / "data") as (url, jobs):
        done = _submit(url, "short.mp4", "--start", "5", cwd=tmp_path)
        made = jobs.list_all(10)

    assert done.returncode == 1
    assert "short.mp4: The part asked for starts at 5 s, and the video is only 2.0 s long." in (
        done.stderr
    )
    assert made == [], "refused before a job was made"


def test_submit_refuses_a_data_folder_it_cannot_write_before_making_a_job(clip_mp4, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    with _queueing_portal(tmp_path / "data") as (url, jobs):
        done = _submit(url, clip_mp4, cwd=tmp_path,
                       env={"STEREO_SPOT_DATA_DIR": str(tmp_path / "a-file" / "d")})  # fmt: skip
        made = jobs.list_all(10)

    assert done.returncode == 1
    assert done.stderr.startswith(
        f"stereo-spot: Cannot write the record of uploads in {tmp_path / 'a-file' / 'd'}"
    ), done.stderr
    assert made == []
