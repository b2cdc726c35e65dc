"""The portal's lists and pages in a real browser on a phone's screen, and without JavaScript.

Headless Debian chromium through Playwright (``browser``, from conftest) against the portal's
app (the real local adapters, no runner), served on a free port; the jobs are put in its store
as a run would leave them, so these tests take seconds, not a conversion.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stereo_spot.domain import Job, JobStatus
from stereo_spot.jobs import cancel
from stereo_spot.keys import final_key
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from, storage_from
from tests.served import served

pytestmark = pytest.mark.browser

# An iPhone 12's screen, and the narrowest phone still about (an iPhone SE, first generation).
PHONES = [{"width": 390, "height": 844}, {"width": 320, "height": 568}]
# A name without spaces, as cameras and downloads make them: the one thing a cell may break.
LONG_NAME = "Holiday_" + "x" * 120 + ".mp4"
PAGE_FITS = "document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(backend="local", data_dir=tmp_path / "data")


@pytest.fixture
def portal(settings: Settings) -> Iterator[str]:
    """``stereo-spot portal``'s app over ``settings`` (no runner), on a free port."""
    from portal.app import create_app

    with served(create_app(settings)) as url:
        yield url


def _completed(settings: Settings, clip: Path, name: str, layout: str = "anaglyph") -> str:
    """A job as its run leaves it once finished: the result stored, then ``completed``."""
    jobs, storage = job_store_from(settings), storage_from(settings)
    job_id = jobs.create(Job(source_name=name, layout=layout)).job_id
    storage.put_file(clip, final_key(job_id))
    jobs.transition(job_id, JobStatus.COMPLETED)
    return job_id


def _cancelled(settings: Settings, name: str) -> str:
    jobs = job_store_from(settings)
    job_id = jobs.create(Job(source_name=name)).job_id
    cancel(jobs, job_id)
    return job_id


def _lines(page, selector: str) -> int:
    """How many lines the text of the element ``selector`` picks is drawn on: 1 for a word kept
    whole, 4 for "Play" drawn a letter a line."""
    return page.evaluate(
        """(selector) => {
          const range = document.createRange();
          range.selectNodeContents(document.querySelector(selector));
          return new Set(Array.from(range.getClientRects(), r => Math.round(r.top))).size;
        }""",
        selector,
    )


@pytest.mark.parametrize("screen", PHONES, ids=lambda screen: f"{screen['width']}px")
def test_the_lists_keep_words_whole_on_a_phone_and_break_only_a_long_name(
    browser, portal, settings, clip_mp4, screen
) -> None:
    for layout in ("anaglyph", "half-sbs"):
        _completed(settings, clip_mp4, "clip.mp4", layout)
    _completed(settings, clip_mp4, LONG_NAME)
    _cancelled(settings, "long.mp4")
    _cancelled(settings, LONG_NAME)
    page = browser.new_page(viewport=screen)

    page.goto(portal + "jobs")
    assert page.locator("table.jobs tbody tr").count() == 3
    assert page.evaluate(PAGE_FITS), "the completed list is no wider than the screen"
    for row in range(1, 4):
        assert _lines(page, f"tbody tr:nth-child({row}) a.button") == 1, "Play, on one line"
    _assert_words_whole(page, "tbody td:nth-child(2), tbody time")
    # Blocks to the eye, still a table to a screen reader, each Play named after its video.
    assert page.get_by_role("row").count() == 4 and page.get_by_role("cell").count() == 12
    assert page.get_by_role("link", name=f"Play {LONG_NAME}", exact=True).count() == 1
    assert page.get_by_role("link", name="Play", exact=True).count() == 0
    longest = "tbody tr:first-child td:first-child a"
    assert page.locator(longest).inner_text() == LONG_NAME
    assert _lines(page, longest) > 1, "the long name wraps inside its cell"

    page.goto(portal + "jobs?show=unfinished")
    assert page.locator("table.jobs tbody tr").count() == 2
    assert page.evaluate(PAGE_FITS), "the list of jobs not finished"
    for row in (1, 2):
        assert page.locator(f"tbody tr:nth-child({row}) td.state").inner_text() == "Cancelled"
        assert _lines(page, f"tbody tr:nth-child({row}) td.state") == 1
    _assert_words_whole(page, "tbody td:first-child a, tbody td:nth-child(2), tbody time")


def _assert_words_whole(page, selector: str) -> None:
    """Every word of every cell ``selector`` picks is on one line, save the long name: a word
    broken over two lines has a rectangle on each (Range.getClientRects)."""
    broken = page.evaluate(
        """([selector, longName]) => {
          const broken = [];
          for (const cell of document.querySelectorAll(selector)) {
            const text = cell.firstChild;
            if (!text || text.nodeType !== Node.TEXT_NODE) continue;
            for (const match of text.data.matchAll(/\\S+/g)) {
              if (match[0] === longName) continue;
              const range = document.createRange();
              range.setStart(text, match.index);
              range.setEnd(text, match.index + match[0].length);
              const lines = new Set(Array.from(range.getClientRects(), r => Math.round(r.top)));
              if (lines.size > 1) broken.push(match[0]);
            }
          }
          return broken;
        }""",
        [selector, LONG_NAME],
    )
    assert broken == [], f"words broken across lines: {broken}"


def test_a_delete_asked_on_a_page_without_javascript_leaves_back_and_reload_harmless(
    browser, portal, settings, clip_mp4
) -> None:
    """The question is a page of its own (post/redirect/get): Back to it after the delete, and
    reloading it, send no form again ("Confirm Form Resubmission", net::ERR_CACHE_MISS)."""
    job_id = _completed(settings, clip_mp4, "clip.mp4")
    kept = _completed(settings, clip_mp4, "other.mp4")
    page = browser.new_context(java_script_enabled=False).new_page()
    page.goto(f"{portal}jobs/{job_id}")

    page.click("text=Delete this job and its files")
    assert page.url == f"{portal}jobs/{job_id}/delete"
    assert page.locator("h1").inner_text() == "Delete clip.mp4?"
    page.reload()
    assert page.locator("h1").inner_text() == "Delete clip.mp4?", "asked again, nothing sent"
    page.click("text=Delete it and its files")
    assert page.locator("#deleted").inner_text() == "Deleted clip.mp4 and its files."

    back = page.go_back()
    assert back.status == 404 and page.url == f"{portal}jobs/{job_id}/delete"
    assert page.reload().status == 404
    page.go_forward()
    assert page.locator("#deleted").inner_text() == "Deleted clip.mp4 and its files."
    assert [job.job_id for job in job_store_from(settings).list_all()] == [kept]
