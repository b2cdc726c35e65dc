"""The play page once its signed links have expired, and the job pages' forms, in a real browser.

Headless Debian chromium through Playwright (``browser``, from conftest) against the portal's
app (the real local adapters, no runner) on a free port, its links signed for a few seconds
(``STEREO_SPOT_DOWNLOAD_URL_SECONDS``) where an hour is the default; the jobs are put in its
store as a run would leave them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stereo_spot.domain import Job, JobStatus, SubtitleTrack
from stereo_spot.keys import final_key, subtitles_key
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from, storage_from
from tests.browser.test_portal_browser import _wait_until
from tests.media import ffmpeg
from tests.served import served

pytestmark = pytest.mark.browser

LINK_SECONDS = 6


@pytest.fixture(scope="module")
def noisy_video(tmp_path_factory) -> Path:
    """20 s of noise, ~1.5 MB a second: more than the player fetches ahead of where it plays,
    so a seek near the end asks the storage for a range of its own."""
    path = tmp_path_factory.mktemp("media") / "film.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=20,noise=alls=100:allf=t",
        "-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-g", "25",
        "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(path),
    )  # fmt: skip
    assert path.stat().st_size > 15_000_000, "the premise: more than the player reads ahead"
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(backend="local", data_dir=tmp_path / "data", download_url_seconds=LINK_SECONDS)


@pytest.fixture
def portal(settings: Settings) -> Iterator[str]:
    from portal.app import create_app

    with served(create_app(settings)) as url:
        yield url


def _completed(settings: Settings, video: Path, tmp_path: Path) -> str:
    """A finished job with a subtitle track, as its run leaves it."""
    jobs, storage = job_store_from(settings), storage_from(settings)
    job_id = jobs.create(Job(source_name="film.mp4", layout="anaglyph")).job_id
    vtt = tmp_path / "subtitles.vtt"
    vtt.write_text("WEBVTT\n\n00:00.000 --> 00:20.000\nHELLO\n")
    storage.put_file(vtt, subtitles_key(job_id, 0), content_type="text/vtt")
    storage.put_file(video, final_key(job_id))
    jobs.transition(job_id, JobStatus.COMPLETED, subtitles=[SubtitleTrack(label="English")])
    return job_id


def _player(page, expression: str):
    return page.evaluate(f"(video => {expression})(document.getElementById('player'))")


def test_the_player_plays_and_seeks_after_its_first_link_has_expired(
    browser, portal, settings, noisy_video, tmp_path
) -> None:
    job_id = _completed(settings, noisy_video, tmp_path)
    page = browser.new_page()
    refused: list[str] = []
    page.on("response", lambda answer: answer.status == 403 and refused.append(answer.url))
    page.goto(f"{portal}jobs/{job_id}/play")
    _wait_until(page, "document.getElementById('player').readyState >= 1")
    first = _player(page, "video.currentSrc")
    assert _player(page, "video.duration") == pytest.approx(20, abs=0.1)

    time.sleep(LINK_SECONDS + 1)
    # Paused past its link's life, then sought near the end and played: it goes on from there.
    _player(page, "(video.muted = true, video.currentTime = 17, video.play(), null)")
    _wait_until(page, "document.getElementById('player').currentTime > 17.3")
    assert _player(page, "video.error") is None
    assert _player(page, "video.currentSrc") != first, "signed again"
    assert not _player(page, "video.paused")

    # Left paused past the new link's life too, then sought back: it stays paused, there.
    _player(page, "(video.pause(), null)")
    second = _player(page, "video.currentSrc")
    time.sleep(LINK_SECONDS + 1)
    _player(page, "(video.currentTime = 3, null)")
    # The expired link's range request may fail first (video.error, for a moment): the page
    # signs again and the new source settles there.
    _wait_until(
        page,
        f"(v => v.currentSrc !== {second!r} && !v.error && v.readyState >= 2 && !v.seeking)"
        "(document.getElementById('player'))",
    )
    assert _player(page, "video.currentTime") == pytest.approx(3, abs=0.05)
    assert _player(page, "video.paused")

    # A subtitle track turned on only now loads from a fresh link.
    _player(page, "(video.textTracks[0].mode = 'showing', null)")
    _wait_until(page, "document.querySelector('track').readyState === 2")
    assert _player(page, "video.textTracks[0].cues[0].text") == "HELLO"
    assert page.is_hidden("#links-expired")
    assert all("/storage/" in url for url in refused), refused


def test_the_download_after_its_link_has_expired_is_signed_again(
    browser, portal, settings, clip_mp4, tmp_path
) -> None:
    job_id = _completed(settings, clip_mp4, tmp_path)
    page = browser.new_page(accept_downloads=True)
    page.goto(f"{portal}jobs/{job_id}/play")
    time.sleep(LINK_SECONDS + 1)

    with page.expect_download() as download:
        page.click("#download")

    assert download.value.suggested_filename == "film_redcyan.mp4"
    saved = tmp_path / "saved.mp4"
    download.value.save_as(saved)
    assert saved.read_bytes() == clip_mp4.read_bytes()
    assert page.url == f"{portal}jobs/{job_id}/play", "the page stays"


def test_cancel_asks_first_and_says_what_is_lost(browser, portal, settings) -> None:
    jobs = job_store_from(settings)
    job_id = jobs.create(Job(source_name="long film.mp4")).job_id
    jobs.transition(job_id, JobStatus.QUEUED)
    page = browser.new_page()
    page.goto(f"{portal}jobs/{job_id}")

    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click("text=Cancel this conversion")
    page.wait_for_timeout(300)

    assert asked == [
        "Cancel the conversion of long film.mp4? It cannot be resumed: the segments converted so "
        "far are discarded, and converting it again starts from the beginning."
    ]
    assert not jobs.get(job_id).cancelled, "declined: it goes on"
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Cancel this conversion")
    page.wait_for_selector(".badge:text('cancelled')")
    assert jobs.get(job_id).cancelled


def test_the_anaglyph_colours_are_offered_only_for_the_anaglyph_layout(
    browser, portal, settings
) -> None:
    page = browser.new_page()
    page.goto(portal)
    assert page.is_enabled("#anaglyph_mode"), "the anaglyph layout comes first"
    page.select_option("#anaglyph_mode", "gray")
    page.check('input[name="layout"][value="sbs"]')
    assert page.is_disabled("#anaglyph_mode")
    page.check('input[name="layout"][value="anaglyph"]')
    assert page.is_enabled("#anaglyph_mode")
    page.check('input[name="layout"][value="tab"]')
    page.click("text=Continue to upload")
    page.wait_for_url(f"{portal}jobs/*")

    (job,) = job_store_from(settings).list_all()
    assert job.layout.value == "tab" and job.params.anaglyph_mode == "dubois", "not sent"
