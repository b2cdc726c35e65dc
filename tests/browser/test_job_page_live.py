"""A job's page kept open while the job changes under it, in a real browser.

Headless Debian chromium through Playwright against the portal's app with the real local
adapters and launcher (its worker not started: a started job stays queued), served on a free
port. The jobs are moved as a ``stereo-spot convert`` or another tab would move them, so these
tests take seconds, not a conversion.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.launcher import LocalRunLauncher
from stereo_spot.cli.web import ChildProcessRuns
from stereo_spot.domain import Job, JobStatus
from stereo_spot.jobs import cancel
from stereo_spot.keys import source_key
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from, storage_from
from tests.processes import run_lock_held
from tests.served import served

pytestmark = pytest.mark.browser

PART_BYTES = 5 * 1024**2  # the least S3 takes: a few megabytes make an upload of several parts


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(backend="local", data_dir=tmp_path / "data", upload_part_bytes=PART_BYTES)


@pytest.fixture
def jobs(settings: Settings):
    return job_store_from(settings)


@pytest.fixture
def portal(settings: Settings, jobs) -> Iterator[str]:
    """``stereo-spot portal``'s app with the local launcher, whose worker is not started."""
    from portal.app import create_app

    launcher = LocalRunLauncher(jobs, ChildProcessRuns(settings, jobs))
    with served(create_app(settings, jobs=jobs, launcher=launcher)) as url:
        yield url


def _converting(jobs, segments: int = 12) -> str:
    """A job as ``stereo-spot convert`` leaves it while converting its first segments."""
    job = jobs.create(Job(source_name="film.mp4", output_path="/home/me/film_3d.mp4"))
    for status in (JobStatus.UPLOADED, JobStatus.QUEUED, JobStatus.CHUNKING, JobStatus.PROCESSING):
        jobs.transition(job.job_id, status)
    jobs.update(job.job_id, total_segments=segments, completed_segments=1)
    return job.job_id


def _until(page, condition, seconds: float = 30.0) -> None:
    """Wait until ``condition()`` holds; Playwright hands over events only while it is called."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"still not so after {seconds:g} s"
        page.wait_for_timeout(100)


def test_an_open_job_page_says_by_itself_that_the_conversion_stopped_part_way(
    browser, portal, settings, jobs
) -> None:
    job_id = _converting(jobs)
    page = browser.new_page()
    polls: list[str] = []
    page.on("request", lambda request: f"/api/jobs/{job_id}" in request.url and polls.append(1))

    with run_lock_held(settings.runs_dir, job_id):  # the convert command is converting it
        page.goto(f"{portal}jobs/{job_id}")
        assert page.locator("#phase").inner_text() == "Converting segments to 3D"
        assert page.locator("#segments").inner_text() == "1 / 12"
        _until(page, lambda: polls)  # it has looked once while the job was converting
        assert not page.locator("#stopped").count()
    # Leaving the block kills the command (SIGKILL), as `kill -9` does: its record stays.

    page.wait_for_selector("#stopped", timeout=15_000)  # no reload asked of the page
    assert page.locator("#phase").inner_text() == (
        "Stopped part-way: the conversion ended before it finished"
    )
    assert f"stereo-spot jobs retry {job_id}" in page.locator("#stopped").inner_text()
    assert not page.is_visible("#job-bar")

    # Nothing will move the job now: the page stops asking after it.
    polls.clear()
    page.wait_for_timeout(5_000)  # two polls' time and more
    assert polls == []


# What S3 answers a part of an upload that was dropped (another began, or the job started).
NO_SUCH_UPLOAD = "<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist."


def _answered(route, dropped: bool) -> None:
    if dropped:
        route.fulfill(status=404, content_type="application/xml", body=NO_SUCH_UPLOAD + "</Error>")
    else:
        route.continue_()


@pytest.mark.parametrize(
    ("held", "dropped"),
    [("**/storage/parts/**", False), ("**/storage/parts/**", True), ("**/uploads/complete", False)],
    ids=[
        "its parts refused",
        "its parts refused as a dropped upload (404)",
        "its completion refused",
    ],
)
def test_an_upload_another_tab_overtook_says_so_and_leads_to_the_started_job(
    browser, portal, settings, jobs, clip_mp4, tmp_path, held, dropped
) -> None:
    job_id = jobs.create(Job()).job_id
    job_page = f"{portal}jobs/{job_id}"
    camera = tmp_path / "camera.mov"
    camera.write_bytes(os.urandom(2 * PART_BYTES + 1024**2))  # three parts
    tabs = browser.new_context()
    first, second = tabs.new_page(), tabs.new_page()

    # The first tab's upload is slow: its requests wait here while the second tab's goes.
    waiting: list = []
    second_started = False
    first.route(
        held, lambda route: _answered(route, dropped) if second_started else waiting.append(route)
    )
    first.goto(job_page)
    first.set_input_files("#file", str(camera))
    first.click("#upload-button")
    _until(first, lambda: waiting)

    second.goto(job_page)
    second.set_input_files("#file", str(clip_mp4))
    second.click("#upload-button")
    second.wait_for_selector("#job[data-poll-url]")  # started: the job's page, watching it
    assert not second.locator("#upload-form").count()

    second_started = True
    for route in waiting:
        _answered(route, dropped)
    first.wait_for_selector("#upload-message a", timeout=30_000)

    # The first tab no longer shows an upload going, nor offers one the job would refuse.
    message = first.locator("#upload-message").inner_text()
    assert message.startswith("Another upload started this job while camera.mov was going"), message
    assert not first.is_visible("#upload-progress")
    assert not first.is_visible("#upload-button") and not first.is_visible("#file")

    # The job converts the second tab's video, as its page (one click away) shows.
    first.click("#upload-message a")
    first.wait_for_url(job_page)
    assert not first.locator("#upload-form").count()
    assert first.locator("#phase").inner_text() != "Waiting for the video"
    stored = storage_from(settings).get_file(source_key(job_id), tmp_path / "stored")
    assert stored.read_bytes() == clip_mp4.read_bytes()


def test_an_upload_whose_job_was_cancelled_before_it_started_is_not_offered_again(
    browser, portal, settings, jobs, clip_mp4
) -> None:
    job_id = jobs.create(Job()).job_id
    page = browser.new_page()
    # The start waits here while the job is cancelled elsewhere (`stereo-spot jobs cancel`).
    waiting: list = []
    page.route("**/start", lambda route: waiting.append(route))
    page.goto(f"{portal}jobs/{job_id}")
    page.set_input_files("#file", str(clip_mp4))
    page.click("#upload-button")
    _until(page, lambda: waiting)
    cancel(jobs, job_id)
    waiting[0].continue_()

    page.wait_for_selector("#upload-message a", timeout=30_000)
    message = page.locator("#upload-message").inner_text()
    assert message.startswith("This job was cancelled; a cancelled job does not start again"), (
        message
    )
    assert not page.is_visible("#upload-progress") and not page.is_visible("#upload-button")
    page.click("#upload-message a")
    page.wait_for_url(f"{portal}jobs/{job_id}")
    assert page.locator("#phase").inner_text() == "Cancelled"


def test_a_job_page_says_when_its_updates_stop_and_when_the_job_is_gone(
    browser, portal, jobs
) -> None:
    job_id = _converting(jobs)
    page = browser.new_page()
    page.goto(f"{portal}jobs/{job_id}")
    assert not page.is_visible("#updates")

    # The portal stops answering: after a few polls the page says so, and keeps asking.
    page.route(f"**/api/jobs/{job_id}", lambda route: route.abort())
    page.wait_for_selector("#updates", timeout=15_000)
    assert page.locator("#updates").inner_text().startswith("Updates have stopped")
    page.unroute(f"**/api/jobs/{job_id}")
    page.wait_for_selector("#updates", state="hidden", timeout=10_000)

    # Deleted elsewhere: the page says the job is gone, not that the portal is silent.
    jobs.delete(job_id)
    page.wait_for_selector("#updates a", timeout=10_000)
    assert page.locator("#updates").inner_text().startswith("This job is no longer there")


def test_an_upload_page_says_an_upload_can_go_on_and_refuses_an_empty_file(
    browser, portal, jobs, tmp_path
) -> None:
    job_id = jobs.create(Job()).job_id
    page = browser.new_page()
    page.goto(f"{portal}jobs/{job_id}")
    assert page.locator("#upload-message").inner_text() == ""

    # What the page remembers of an upload a reload broke off (its name, size and date).
    remembered = {"identity": "holiday|2024.mov|123456|1700000000000", "upload_id": "u"}
    page.evaluate(
        "([name, value]) => localStorage.setItem(name, JSON.stringify(value))",
        [f"stereo-spot-upload:{job_id}", remembered],
    )
    page.reload()
    assert page.locator("#upload-message").inner_text() == (
        "An upload of holiday|2024.mov was under way; choose the same file to continue."
    )

    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    page.set_input_files("#file", str(empty))
    page.click("#upload-button")
    message = page.locator("#upload-message")
    assert message.inner_text() == "empty.mp4 is empty (0 bytes): choose another file."
    assert message.get_attribute("class") == "alert"
