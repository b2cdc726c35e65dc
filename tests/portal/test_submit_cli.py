"""``stereo-spot submit``: the CLI against a real portal (``stereo-spot up``, or the app served by
uvicorn), as a studio's workstation reaches a cluster's: videos uploaded in parts, converted,
followed and downloaded; and what it says when a video, the portal or its sign-in fails."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stereo_spot.cli.portal_api import PortalError
from stereo_spot.keys import source_key
from stereo_spot.settings import Settings
from stereo_spot.wiring import storage_from
from tests.aws_fixtures import free_port
from tests.media import make_three_part_video, probe, video_stream
from tests.processes import stereo_spot_command, stereo_spot_up
from tests.served import http_server, served

pytestmark = pytest.mark.slow

JOB_LINE = re.compile(r"^(?P<name>\S+): job (?P<id>[A-Za-z0-9_-]+), (?P<page>http://\S+)$", re.M)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("submit") / "d"
    with stereo_spot_up(data) as url:
        yield url, data


def _submit(
    *args: object, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """The CLI as a user runs it, its upload records under ``cwd`` (not the home folder's data
    folder), without this machine's STEREO_SPOT_* settings; ``env`` on top."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STEREO_SPOT_")}
    environment["STEREO_SPOT_DATA_DIR"] = str(cwd / "submitter")
    return subprocess.run(
        [*stereo_spot_command(), "submit", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=300, stdin=subprocess.DEVNULL,
        env={**environment, **(env or {})},
    )  # fmt: skip


def _jobs_named(data: Path, name: str) -> list:
    """The jobs the portal over ``data`` holds for a video called ``name``."""
    from stereo_spot.wiring import job_store_from

    return [
        j for j in job_store_from(Settings(data_dir=data)).list_all(500) if j.source_name == name
    ]


def _frames(path: Path) -> int:
    return int(video_stream(probe(path))["nb_read_packets"])


def test_submit_uploads_in_parts_converts_and_downloads_each_video(stack, clip_mp4, tmp_path):
    url, data = stack
    camera = make_three_part_video(tmp_path / "camera.mp4")

    done = _submit(url, camera, clip_mp4, "--layout", "half-sbs", "--wait", "-o", "out",
                   cwd=tmp_path)  # fmt: skip

    assert done.returncode == 0, done.stderr
    jobs = {m["name"]: m for m in JOB_LINE.finditer(done.stdout)}
    assert set(jobs) == {str(camera), str(clip_mp4)}, "each named as given"
    # Not a terminal: lines, not a bar's redraws (its log was a line of carriage returns).
    assert "\r" not in done.stderr
    assert f"{camera}: uploading 3 parts" in done.stderr
    assert f"{clip_mp4}: uploading 1 part\n" in done.stderr, "not '1 parts'"
    assert jobs[str(camera)]["page"] == f"{url}jobs/{jobs[str(camera)]['id']}"
    stored = storage_from(Settings(data_dir=data)).path_for(source_key(jobs[str(camera)]["id"]))
    assert stored.read_bytes() == camera.read_bytes(), "the three parts joined as the file"
    # Both started before either is followed: the portal converts them side by side.
    lines = done.stdout.splitlines()
    assert [JOB_LINE.match(line) is not None for line in lines] == [True, True, False, False]
    for source in (camera, clip_mp4):
        result = tmp_path / "out" / f"{source.stem}_3dh_LR.mp4"
        assert f"wrote out/{result.name}" in done.stdout
        assert _frames(result) == _frames(source)


def test_submit_says_why_a_video_was_not_converted_and_goes_on(stack, not_a_video, clip_mp4,
                                                               tmp_path):  # fmt: skip
    url, _ = stack

    done = _submit(url, not_a_video, clip_mp4, "--wait", cwd=tmp_path)

    assert done.returncode == 1
    assert (
        f"{not_a_video}: The conversion failed: The file is not a video we can read" in done.stderr
    )
    assert done.stderr.rstrip().endswith(f"Not converted: {not_a_video}.")
    assert (clip_mp4.parent / f"{clip_mp4.stem}_redcyan.mp4").exists(), "the next one converted"


def test_submit_refuses_a_missing_video_before_anything(tmp_path, clip_mp4) -> None:
    done = _submit("http://127.0.0.1:9", clip_mp4, tmp_path / "gone.mp4", cwd=tmp_path)

    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"stereo-spot: {tmp_path / 'gone.mp4'} does not exist or is not a file."
    )


def test_submit_wait_refuses_to_overwrite_an_input_before_anything(tmp_path, clip_mp4) -> None:
    # As convert refuses: the portal is never asked (port 9 answers nothing, and reaching it
    # would say so), and the files are as they were.
    (tmp_path / "ow").mkdir()
    video, other = tmp_path / "ow" / "v.mp4", tmp_path / "ow" / "v_redcyan.mp4"
    video.write_bytes(clip_mp4.read_bytes())
    other.write_bytes(b"the studio's own v_redcyan.mp4")

    done = _submit("http://127.0.0.1:9", "ow/v.mp4", "ow/v_redcyan.mp4", "--wait", cwd=tmp_path)

    assert done.returncode == 1
    assert done.stderr.strip() == (
        "stereo-spot: The output of ow/v.mp4 would overwrite the input ow/v_redcyan.mp4; "
        "choose another -o."
    )
    assert other.read_bytes() == b"the studio's own v_redcyan.mp4"


def test_submit_wait_refuses_two_videos_written_to_one_result(tmp_path, clip_mp4) -> None:
    for folder in ("d1", "d2"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.mp4").write_bytes(clip_mp4.read_bytes())

    done = _submit("http://127.0.0.1:9", "d1/x.mp4", "d2/x.mp4", "--wait", "-o", "same",
                   cwd=tmp_path)  # fmt: skip

    assert done.returncode == 1
    assert done.stderr.strip() == (
        "stereo-spot: d1/x.mp4 and d2/x.mp4 would both be written to same/x_redcyan.mp4; "
        "convert them one at a time with -o."
    )
    assert not (tmp_path / "same").exists()


def test_submit_refuses_an_output_folder_it_could_not_write_before_anything(tmp_path, clip_mp4):
    # The portal is never asked: port 9 answers nothing, and a refusal reaching it would say so.
    (tmp_path / "notes.txt").write_text("mine")

    into_a_file = _submit("http://127.0.0.1:9", clip_mp4, "--wait", "-o", "notes.txt/out",
                          cwd=tmp_path)  # fmt: skip
    without_wait = _submit("http://127.0.0.1:9", clip_mp4, "-o", "out", cwd=tmp_path)

    assert into_a_file.returncode == 1
    assert into_a_file.stderr.strip() == (
        f"stereo-spot: Cannot write notes.txt/out/{clip_mp4.stem}_redcyan.mp4: notes.txt is a "
        "file, not a folder."
    )
    assert without_wait.returncode == 2, "misuse, as any wrong option"
    assert without_wait.stderr.strip() == (
        "stereo-spot: -o out: only --wait downloads the 3D videos; add --wait, or leave -o out "
        "and download them from their pages."
    )
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_submit_says_once_when_the_portal_cannot_be_reached(tmp_path, clip_mp4) -> None:
    # Once, not for each of a folder's videos: every next one would fail the same way.
    port = free_port()
    second = tmp_path / "second.mp4"
    second.write_bytes(clip_mp4.read_bytes())

    done = _submit(f"http://127.0.0.1:{port}", clip_mp4, second, cwd=tmp_path)

    assert done.returncode == 1
    assert done.stderr.count("Could not reach the portal") == 1
    assert f"stereo-spot: Could not reach the portal at http://127.0.0.1:{port}" in done.stderr
    assert "[2/2]" not in done.stderr, "it stopped before the second video"


def test_submit_refuses_a_portal_address_without_its_scheme(tmp_path, clip_mp4) -> None:
    done = _submit("stereo.example.org", clip_mp4, cwd=tmp_path)
    ftp = _submit("ftp://127.0.0.1:9", clip_mp4, cwd=tmp_path)

    assert done.returncode == 2, "misuse, as any wrong option"
    assert done.stderr.strip() == (
        "stereo-spot: stereo.example.org: the portal's address starts with https:// or http:// "
        "(for example https://stereo.example.org)."
    )
    assert ftp.returncode == 2
    assert ftp.stderr.strip() == (
        "stereo-spot: ftp://127.0.0.1:9: the portal's address starts with https:// or http:// "
        "(for example https://127.0.0.1:9)."
    )


@pytest.fixture
def another_service() -> Iterator[str]:
    """A web server that is not a portal: a page for every address."""
    from http.server import BaseHTTPRequestHandler

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>It works!</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    with http_server(Page) as url:
        yield url


def test_submit_stops_at_once_on_an_address_that_is_not_a_portal(stack, another_service,
                                                                  clip_mp4, tmp_path):  # fmt: skip
    url, _ = stack
    second = tmp_path / "second.mp4"
    second.write_bytes(clip_mp4.read_bytes())

    a_page = _submit(f"{url}jobs", clip_mp4, second, cwd=tmp_path)
    elsewhere = _submit(another_service, clip_mp4, second, cwd=tmp_path)

    assert a_page.returncode == 1
    assert a_page.stderr.strip() == (
        f"stereo-spot: {url}jobs is not a Stereo-Spot portal (it has no /api/jobs); give the "
        f"address the portal's pages start at, {url.rstrip('/')} perhaps."
    )
    assert elsewhere.returncode == 1
    assert elsewhere.stderr.strip() == (
        f"stereo-spot: {another_service} is not a Stereo-Spot portal (it has no /api/jobs); "
        "give the address the portal's pages start at."
    )
    assert "job" not in a_page.stdout + elsewhere.stdout


def test_submit_says_a_video_the_portal_failed_at_its_start_and_goes_on(stack, not_a_video,
                                                                         clip_mp4, tmp_path):  # fmt: skip
    """Without --wait too: the portal reads each video as its job starts."""
    url, _ = stack

    done = _submit(url, not_a_video, clip_mp4, cwd=tmp_path)

    assert done.returncode == 1
    assert (
        f"{not_a_video}: The conversion failed: The file is not a video we can read" in done.stderr
    )
    assert done.stderr.rstrip().endswith(f"Not converted: {not_a_video}.")
    assert str(clip_mp4) in {m["name"] for m in JOB_LINE.finditer(done.stdout)}, "went on"


def test_submit_takes_an_address_whose_scheme_is_in_capitals(stack, clip_mp4, tmp_path):
    url, _ = stack

    done = _submit(url.replace("http://", "HTTP://"), clip_mp4, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    (job,) = JOB_LINE.finditer(done.stdout)
    assert job["page"] == f"{url}jobs/{job['id']}"


def test_submit_refuses_an_empty_video_and_leaves_no_job(stack, clip_mp4, tmp_path):
    url, data = stack
    (tmp_path / "empty.mp4").touch()

    done = _submit(url, "empty.mp4", cwd=tmp_path)

    assert done.returncode == 1
    assert "empty.mp4: The file is empty (0 bytes)." in done.stderr
    assert _jobs_named(data, "empty.mp4") == []


def test_submit_says_a_video_is_over_the_portal_limit_and_leaves_no_job(stack, tmp_path):
    url, data = stack  # up to 64 MiB
    with (tmp_path / "huge.mov").open("wb") as huge:
        huge.truncate(65 * 1024**2)

    done = _submit(url, "huge.mov", cwd=tmp_path)

    assert done.returncode == 1
    assert (
        "huge.mov: The file is 65.0 MiB; this portal accepts videos of up to 64.0 MiB."
        in done.stderr
    )
    assert _jobs_named(data, "huge.mov") == []


@contextlib.contextmanager
def _served(settings: Settings) -> Iterator[str]:
    """The portal over ``settings``, without a runner, served by uvicorn on a free port."""
    from portal.app import create_app

    with served(create_app(settings)) as url:
        yield url.rstrip("/")


@pytest.fixture
def signed_in_portal(tmp_path: Path) -> Iterator[str]:
    """The portal with a bearer token."""
    with _served(Settings(data_dir=tmp_path / "data", auth_token="s3cret-token-for-tests")) as url:
        yield url


def test_submit_to_a_portal_on_s3_sends_the_parts_to_s3(moto_endpoint, tmp_path) -> None:
    """The cluster's shape: the portal (signed in) signs, the parts go straight to S3 (moto
    server) under their own signatures, and S3 joins them."""
    from stereo_spot.aws_setup import create_bucket_and_table
    from tests.aws_fixtures import fresh_aws_settings

    settings = fresh_aws_settings(
        "submit", data_dir=tmp_path / "data", upload_part_bytes=5 * 1024**2,
        auth_token="s3cret-token-for-tests",
    )  # fmt: skip
    create_bucket_and_table(settings)
    master = tmp_path / "master.mov"
    master.write_bytes(os.urandom(11 * 1024**2))  # three parts

    with _served(settings) as url:
        done = _submit(url, master, "--token", "s3cret-token-for-tests", cwd=tmp_path)

    # Uploaded and joined; this portal has no runner to start it, and says so.
    assert done.returncode == 1 and "This portal cannot run conversions" in done.stderr
    storage = storage_from(settings)
    (key,) = storage.list_prefix("input/")
    assert storage.get_file(key, tmp_path / "joined.mov").read_bytes() == master.read_bytes()


def test_submit_names_the_token_a_portal_asks_for(signed_in_portal, clip_mp4, tmp_path):
    refused = _submit(signed_in_portal, clip_mp4, cwd=tmp_path)
    wrong = _submit(signed_in_portal, clip_mp4, "--token", "not-that-one", cwd=tmp_path)
    signed_in = _submit(signed_in_portal, clip_mp4, "--token", "s3cret-token-for-tests",
                        cwd=tmp_path)  # fmt: skip

    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "stereo-spot: The portal asks to sign in: pass its token with --token (or set "
        "STEREO_SPOT_AUTH_TOKEN)."
    )
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == (
        "stereo-spot: The portal refused the token given; check --token (or "
        "STEREO_SPOT_AUTH_TOKEN)."
    )
    # Signed in, the video is uploaded; this portal has no runner, and says so.
    assert signed_in.returncode == 1
    assert "This portal cannot run conversions" in signed_in.stderr


def test_an_interrupted_submit_resumes_its_upload(tmp_path, launcher, capsys) -> None:
    """Ctrl-C (or a dropped connection) during part 3 of 3: run again, only part 3 is sent."""
    from fastapi.testclient import TestClient

    from portal.app import create_app
    from stereo_spot.cli.portal_client import PortalClient
    from stereo_spot.cli.upload_ledger import UploadLedger
    from stereo_spot.wiring import job_store_from

    settings = Settings(
        data_dir=tmp_path / "data", max_upload_bytes=64 * 1024**2, upload_part_bytes=5 * 1024**2
    )
    camera = make_three_part_video(tmp_path / "camera.mp4")
    ledger = UploadLedger(tmp_path / "submissions")
    wanted = {"layout": "sbs", "engine": "classical"}
    app = create_app(settings, storage_from(settings), job_store_from(settings), launcher)
    with TestClient(app) as http:
        sent: list[int] = []

        class Storage:
            """The storage as the network delivers to it: each part's number noted, and the
            user's Ctrl-C arriving during part 3 the first time."""

            interrupt = True

            def put(self, url: str, content: bytes):
                number = int(url.split("?")[0].rsplit("/", 1)[1])
                if number == 3 and self.interrupt:
                    raise KeyboardInterrupt
                sent.append(number)
                return http.put(url, content=content)

        storage = Storage()
        portal = PortalClient("http://testserver", api=http, storage=storage)
        with pytest.raises(KeyboardInterrupt):
            portal.submit(camera, wanted, {}, ledger)
        first = sorted(sent)
        sent.clear()
        storage.interrupt = False

        job = portal.submit(camera, wanted, {}, ledger)

    assert first == [1, 2] and sent == [3], "only the part that did not arrive"
    assert "resuming job" in capsys.readouterr().err
    assert job["status"] == "queued" and job["layout"] == "sbs"
    stored = storage_from(settings).path_for(source_key(job["job_id"]))
    assert stored.read_bytes() == camera.read_bytes()
    assert ledger.recall("http://testserver", camera, wanted)["started"]["job_id"] == job["job_id"]


PASSWORD = "hunter2-for-tests"


@pytest.fixture(scope="module")
def password_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``stereo-spot up`` signing in with a user name and password only, no token."""
    data = tmp_path_factory.mktemp("submit-basic") / "d"
    with stereo_spot_up(data, {"STEREO_SPOT_BASIC_AUTH": f"studio:{PASSWORD}"}) as url:
        yield url


def test_submit_signs_in_with_a_password_never_printing_it(password_stack, clip_mp4, tmp_path):
    url = password_stack
    host = url.removeprefix("http://").rstrip("/")

    asked = _submit(url, clip_mp4, cwd=tmp_path)
    wrong = _submit(f"http://studio:nope@{host}", clip_mp4, cwd=tmp_path)
    in_address = _submit(f"http://studio:{PASSWORD}@{host}", clip_mp4, cwd=tmp_path)
    in_environment = _submit(url, clip_mp4, cwd=tmp_path,
                             env={"STEREO_SPOT_BASIC_AUTH": f"studio:{PASSWORD}"})  # fmt: skip

    assert asked.returncode == 1
    assert asked.stderr.strip() == (
        "stereo-spot: The portal asks to sign in: give its user name and password in its "
        f"address (http://USER:PASSWORD@{host}) or in STEREO_SPOT_BASIC_AUTH=USER:PASSWORD."
    )
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == (
        "stereo-spot: The portal refused the user name and password given; check them."
    )
    for done in (in_address, in_environment):
        assert done.returncode == 0, done.stderr
        (job,) = JOB_LINE.finditer(done.stdout)
        assert job["page"] == f"{url}jobs/{job['id']}"
        assert PASSWORD not in done.stdout + done.stderr


def test_submit_never_prints_the_password_of_a_portal_it_cannot_reach(tmp_path, clip_mp4):
    port = free_port()

    done = _submit(f"http://studio:{PASSWORD}@127.0.0.1:{port}", clip_mp4, cwd=tmp_path)

    assert done.returncode == 1
    assert f"Could not reach the portal at http://127.0.0.1:{port}:" in done.stderr
    assert PASSWORD not in done.stdout + done.stderr


@pytest.mark.parametrize("cut", ["dropped connection", "ctrl-c"])
def test_a_submit_cut_off_at_the_start_starts_the_uploaded_job(cut, tmp_path, launcher) -> None:
    """The job starts and its answer is lost: a dropped connection, the start is asked again in
    the same run (starting again returns the same run); Ctrl-C, by the run after it. Either
    way nothing is sent again and no second job is made; the job uploaded is the one started."""
    from fastapi.testclient import TestClient

    from portal.app import create_app
    from stereo_spot.cli.portal_client import PortalClient
    from stereo_spot.cli.upload_ledger import UploadLedger
    from stereo_spot.wiring import job_store_from

    settings = Settings(
        data_dir=tmp_path / "data", max_upload_bytes=64 * 1024**2, upload_part_bytes=5 * 1024**2
    )
    camera = make_three_part_video(tmp_path / "camera.mp4")
    ledger = UploadLedger(tmp_path / "submissions")
    wanted = {"layout": "sbs", "engine": "classical"}
    jobs = job_store_from(settings)
    app = create_app(settings, storage_from(settings), jobs, launcher)
    with TestClient(app) as http:
        sent: list[int] = []

        class Storage:
            def put(self, url: str, content: bytes):
                sent.append(int(url.split("?")[0].rsplit("/", 1)[1]))
                return http.put(url, content=content)

        dropped = cut == "dropped connection"
        lost = _FirstStartAnswerLost(http, httpx.ReadError("reset") if dropped else None)
        portal = PortalClient("http://testserver", api=lost, storage=Storage())
        if not dropped:
            with pytest.raises(KeyboardInterrupt):
                portal.submit(camera, wanted, {}, ledger)
            sent.clear()

        job = portal.submit(camera, wanted, {}, ledger)

    assert sent == [] if not dropped else sorted(sent) == [1, 2, 3], "nothing uploaded again"
    assert [j.job_id for j in jobs.list_all(50)] == [job["job_id"]], "no second job"
    assert job["status"] == "queued"
    started = ledger.recall("http://testserver", camera, wanted)["started"]
    assert started["job_id"] == job["job_id"], "kept, to be followed"


def test_submit_leaves_the_engine_to_the_portal_unless_told(tmp_path, clip_mp4) -> None:
    # It named the classical engine always, and a portal serving a learned one refused every
    # video it sent, after the upload.
    data = tmp_path / "data"
    with _served(Settings(data_dir=data, engine="depth-anything")) as url:
        _submit(url, clip_mp4, cwd=tmp_path)
    (job,) = _jobs_named(data, clip_mp4.name)
    assert job.engine == "depth-anything"


@pytest.mark.timeout(60)
def test_submit_wait_stops_at_a_job_stopped_part_way_and_says_how_to_resume(
    client, jobs, settings, tmp_path
) -> None:
    # Its status says processing for good: --wait polled it forever.
    from stereo_spot.cli.portal_client import PortalClient
    from stereo_spot.cli.submit import _wait_and_download
    from stereo_spot.domain import Job, JobStatus
    from stereo_spot.errors import StereoSpotError
    from tests.processes import run_lock_held

    job = jobs.create(Job(source_name="film.mp4", output_path="/home/me/film_3d.mp4"))
    for status in (JobStatus.UPLOADED, JobStatus.QUEUED, JobStatus.CHUNKING, JobStatus.PROCESSING):
        jobs.transition(job.job_id, status)
    with run_lock_held(settings.runs_dir, job.job_id):
        pass  # its runner was killed, its lock left
    portal = PortalClient("http://testserver", api=client, storage=client)

    with pytest.raises(StereoSpotError) as stopped:
        _wait_and_download(portal, portal.job(job.job_id), tmp_path / "film_3d.mp4")

    assert str(stopped.value) == (
        f"The conversion stopped part-way: the process converting job {job.job_id} on the "
        f"portal's machine ended before it finished. Resume it there with: stereo-spot jobs "
        f"retry {job.job_id}"
    )
    assert not (tmp_path / "film_3d.mp4").exists()


def test_a_submit_whose_lost_start_failed_the_job_says_why_and_resumes_it_no_more(
    tmp_path, launcher, not_a_video
) -> None:
    """The first start failed the job (no video) and its answer was lost (Ctrl-C): the next run
    is told why the job does not start, and the one after begins anew rather than asking
    again."""
    from fastapi.testclient import TestClient

    from portal.app import create_app
    from stereo_spot.cli.portal_client import PortalClient
    from stereo_spot.cli.upload_ledger import UploadLedger
    from stereo_spot.wiring import job_store_from

    settings = Settings(data_dir=tmp_path / "data", max_upload_bytes=64 * 1024**2)
    ledger = UploadLedger(tmp_path / "submissions")
    jobs = job_store_from(settings)
    with TestClient(create_app(settings, storage_from(settings), jobs, launcher)) as http:
        portal = PortalClient("http://testserver", api=_FirstStartAnswerLost(http), storage=http)
        with pytest.raises(KeyboardInterrupt):
            portal.submit(not_a_video, {"layout": "sbs"}, {}, ledger)
        with pytest.raises(PortalError) as refused:
            portal.submit(not_a_video, {"layout": "sbs"}, {}, ledger)

        (failed,) = jobs.list_all(10)
        assert refused.value.status == 409
        assert str(refused.value).startswith(
            f"This job failed ({failed.error.rstrip('.')}); a failed job does not start again"
        )
        assert not list(ledger.folder.iterdir()), "nothing left to resume"


class _FirstStartAnswerLost:
    """The portal ``http`` as the network delivers to it: the first start arrives, its answer
    does not (``error``: a dropped connection; default, the user's Ctrl-C as it comes)."""

    def __init__(self, http, error: BaseException | None = None) -> None:
        self._http = http
        self._error = error or KeyboardInterrupt()
        self._dropped = False

    def request(self, method: str, path: str, **kwargs):
        answer = self._http.request(method, path, **kwargs)
        if path.endswith("/start") and not self._dropped:
            self._dropped = True
            raise self._error
        return answer
