"""A real browser against the real embedded stack (``stereo-spot up``).

Debian's ``chromium`` driven headless by Playwright for Python: create a job in the page, upload
a real clip through the file input (XHR with a progress bar, straight to the signed URL), wait for
the conversion, then play it and check the video element has decoded frames (readyState >= 2).
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from stereo_spot.domain import DUBOIS_MIXES, AnaglyphMode
from stereo_spot.keys import final_key, source_key
from stereo_spot.settings import Settings
from stereo_spot.wiring import storage_from
from tests.media import ffmpeg, make_three_part_video
from tests.processes import stereo_spot_up

pytestmark = pytest.mark.browser


# The player's current frame and the anaglyph canvas's pixels, each through a 2D canvas:
# [[width, height, RGBA...], [width, height, RGBA...]].
READ_VIDEO_AND_CANVAS = """(() => {
  function pixels(source, width, height) {
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext('2d');
    context.drawImage(source, 0, 0, width, height);
    return [width, height, Array.from(context.getImageData(0, 0, width, height).data)];
  }
  const video = document.getElementById('player');
  const view = document.getElementById('stereo-canvas');
  return [pixels(video, video.videoWidth, video.videoHeight), pixels(view, view.width, view.height)];
})()"""


def _drawn(page, seconds: float = 30.0) -> list:
    """READ_VIDEO_AND_CANVAS once the page's view has drawn a frame: a fixed half second after
    a seek was once not enough on a loaded machine (the view was still blank)."""
    deadline = time.monotonic() + seconds
    while True:
        video, view = page.evaluate(READ_VIDEO_AND_CANVAS)
        if any(view[2]) or time.monotonic() > deadline:
            return [video, view]
        time.sleep(0.1)


def _wait_until(page, expression: str, seconds: float = 30.0) -> None:
    """Poll ``expression`` in the page until it is true. Playwright's wait_for_function polls by
    evaluating it inside the page, which the portal's CSP (no 'unsafe-eval') refuses once the
    first try is false; an evaluate from outside is not the page's own script."""
    deadline = time.monotonic() + seconds
    while not _evaluated(page, expression):
        assert time.monotonic() < deadline, f"still false after {seconds:g} s: {expression}"
        time.sleep(0.1)


def _evaluated(page, expression: str):
    """``expression`` in the page, or None while the page is being replaced by another (the
    upload page goes to the job's page once the job has started; a CI run evaluated during it)."""
    from playwright.sync_api import Error

    try:
        return page.evaluate(expression)
    except Error as error:
        if "Execution context was destroyed" in str(error):
            return None
        raise


@pytest.fixture
def embedded_stack(tmp_path: Path) -> Iterator[str]:
    with stereo_spot_up(tmp_path / "d") as url:
        yield url


def _continue_to_upload(page) -> str:
    """From the create page with its settings chosen, on to the new job's upload page; its URL."""
    page.click("text=Continue to upload")
    page.wait_for_url(re.compile(r"/jobs/[A-Za-z0-9_-]+$"))
    return page.url


def _create_upload_convert_and_play(page, portal: str, clip_mp4: Path) -> None:
    errors: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))

    page.goto(portal)
    page.check('input[name="layout"][value="anaglyph"]')
    page.fill("#divergence", "2.5")
    job_url = _continue_to_upload(page)

    page.set_input_files("#file", str(clip_mp4))
    assert not page.is_visible("#upload-progress"), "no progress bar before the upload starts"
    page.click("#upload-button")
    page.wait_for_selector("#upload-progress:not([hidden])")
    # After the upload the script starts the job and reloads; the page then refreshes itself.
    page.wait_for_selector("text=Play the 3D video", timeout=180_000)
    assert "failed" not in page.locator(".badge").inner_text().lower()

    page.click("text=Play the 3D video")
    page.wait_for_url(job_url + "/play")
    _wait_until(page, "document.getElementById('player').readyState >= 2")
    size = page.evaluate(
        "[document.getElementById('player').videoWidth, document.getElementById('player').videoHeight]"
    )
    download = page.get_attribute("a[download]", "download")

    assert size == [192, 108]
    assert download == "clip_redcyan.mp4"
    assert not [e for e in errors if "Content Security Policy" in e], errors

    page.goto(portal + "jobs")
    assert page.locator("table.jobs tbody tr").count() == 1


def test_create_upload_convert_and_play_in_a_browser(embedded_stack, browser, clip_mp4) -> None:
    _create_upload_convert_and_play(browser.new_page(), embedded_stack, clip_mp4)


def test_the_same_behind_the_sign_in_the_aws_deployment_asks_for(browser, clip_mp4, tmp_path):
    """The portal on AWS always asks for a sign-in (basic auth): the page's own requests (its
    API calls, the parts, the progress, the player) must all go through behind it."""
    password = "a-long-password-for-the-test"
    signed_in = {"STEREO_SPOT_BASIC_AUTH": f"studio:{password}"}
    with stereo_spot_up(tmp_path / "d", signed_in) as portal:
        assert httpx.get(portal).status_code == 401, "the premise: it asks"
        context = browser.new_context(http_credentials={"username": "studio", "password": password})
        _create_upload_convert_and_play(context.new_page(), portal, clip_mp4)


PAGE_FITS = "document.scrollingElement.scrollWidth <= window.innerWidth"


def test_a_long_file_name_wraps_inside_the_pages_of_a_phone(
    embedded_stack, browser, clip_mp4, tmp_path
):
    """A name without spaces (as cameras and downloads make them) on a phone's screen: each
    page keeps to the screen's width, the name wrapping inside its card or table."""
    long_name = tmp_path / ("Holiday_" + "x" * 180 + ".mp4")
    shutil.copy(clip_mp4, long_name)
    page = browser.new_page(viewport={"width": 390, "height": 844})
    missing: list[str] = []
    page.on("response", lambda answer: answer.status >= 400 and missing.append(answer.url))
    page.goto(embedded_stack)
    job_url = _continue_to_upload(page)
    page.set_input_files("#file", str(long_name))
    page.click("#upload-button")
    page.wait_for_selector("text=Play the 3D video", timeout=180_000)
    assert page.locator("h1").inner_text() == long_name.name
    assert _evaluated(page, PAGE_FITS), "the job's page"

    page.click("text=Play the 3D video")
    page.wait_for_url(job_url + "/play")
    assert _evaluated(page, PAGE_FITS), "the play page"
    page.goto(embedded_stack + "jobs")
    assert page.locator("table.jobs tbody tr").count() == 1
    assert _evaluated(page, PAGE_FITS), "the list"
    assert missing == [], "every page's request answered, the icon's too"


def test_a_result_whose_picture_the_browser_cannot_decode_says_so(
    embedded_stack, browser, clip_mp4
) -> None:
    """HEVC, which Debian's chromium cannot decode: its player plays only the sound, over a
    black box. The page says why and points to the download, and offers no view drawn from
    frames there are none of."""
    page = browser.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(embedded_stack)
    page.check('input[name="layout"][value="half-sbs"]')
    page.select_option("#codec", "hevc")
    _continue_to_upload(page)
    page.set_input_files("#file", str(clip_mp4))
    page.click("#upload-button")
    page.wait_for_selector("text=Play the 3D video", timeout=180_000)
    page.click("text=Play the 3D video")
    page.wait_for_url(re.compile(r"/play$"))

    _wait_until(page, "!document.getElementById('no-picture').hidden")
    assert page.locator("#no-picture").inner_text() == (
        "This browser cannot show this video's picture (HEVC); download it and play it in a "
        "player that can."
    )
    assert page.evaluate("document.getElementById('player').videoWidth") == 0, "the premise"
    assert not page.is_visible("#stereo-view"), "no view drawn from frames"
    # Chosen all the same (a page script racing the load), the view draws nothing from no frame.
    page.evaluate("""(() => { const view = document.getElementById('view');
                             view.value = 'dubois'; view.dispatchEvent(new Event('change')); })()""")
    page.wait_for_timeout(1000)
    assert not [text for text in console if "texImage2D" in text], console


def test_a_job_page_checks_the_part_to_convert_again_and_asks_before_a_delete(
    embedded_stack, browser, clip_mp4
) -> None:
    page = browser.new_page()
    page.goto(embedded_stack)
    job_url = _continue_to_upload(page)
    page.set_input_files("#file", str(clip_mp4))
    # A "Please check" about the part goes as soon as the part is changed.
    page.fill("#upload-start", "0:03")
    page.fill("#upload-end", "1")
    page.click("#upload-button")
    assert page.locator("#upload-message").inner_text().startswith("Please check")
    page.fill("#upload-start", "1:75")
    assert page.locator("#upload-message").inner_text() == ""
    page.fill("#upload-start", "")
    page.fill("#upload-end", "")
    page.click("#upload-button")
    page.wait_for_selector("text=Play the 3D video", timeout=180_000)

    # "Convert again" with an end before its start: said in the page, nothing sent.
    page.click("#again summary")
    page.fill("#start", "0:02")
    page.fill("#end", "1.5")
    page.click("#again-form button[type=submit]")
    assert page.locator("#again-message").inner_text() == (
        "Please check: the end (1.5 s) must come after the start (2 s)."
    )
    assert page.url == job_url
    page.fill("#end", "2.5")
    assert page.locator("#again-message").inner_text() == ""

    # Delete asks first: declined, the job stays; accepted, the list says what went.
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click("text=Delete this job and its files")
    assert asked == ["Delete clip.mp4 and its files? This cannot be undone."]
    assert page.url == job_url and page.locator("h1").inner_text() == "clip.mp4"
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Delete this job and its files")
    page.wait_for_url(re.compile(r"/jobs\?.*deleted="))
    assert page.locator("#deleted").inner_text() == "Deleted clip.mp4 and its files."
    assert page.locator("table.jobs tbody tr").count() == 0


def test_only_a_part_asked_for_with_the_upload_in_a_browser(embedded_stack, browser, clip_mp4):
    page = browser.new_page()
    page.goto(embedded_stack)
    _continue_to_upload(page)
    page.set_input_files("#file", str(clip_mp4))  # 3 s

    # Not a clock: the browser says so before the file goes anywhere.
    page.fill("#upload-start", "1:75")
    page.click("#upload-button")
    assert not page.evaluate("document.getElementById('upload-start').validity.valid")
    assert not page.is_visible("#upload-progress"), "nothing uploaded"

    page.fill("#upload-start", "0.5")
    page.fill("#upload-end", "0:02.25")
    page.click("#upload-button")
    page.wait_for_selector("#part-of", timeout=60_000)
    assert page.locator("#part-of").inner_text() == "The part from 0:00.5 to 0:02.25 of the video."
    page.wait_for_selector("text=Play the 3D video", timeout=180_000)
    page.click("text=Play the 3D video")
    # The play page loaded, as the other tests wait for it: read before, the job page had no
    # player (a CI run found it so).
    page.wait_for_url(re.compile(r"/play$"))
    _wait_until(page, "document.getElementById('player').readyState >= 1")
    seconds = page.evaluate("document.getElementById('player').duration")
    assert seconds == pytest.approx(1.75, abs=0.05)
    assert page.get_attribute("a[download]", "download") == "clip_0m00.5s-0m02.25s_redcyan.mp4"


def test_a_part_ending_before_it_starts_is_said_first_and_a_refused_start_is_not_uploaded_again(
    embedded_stack, browser, clip_mp4
) -> None:
    page = browser.new_page()
    sent: list[str] = []
    page.on(
        "request",
        lambda request: (
            ("/uploads" in request.url or "/storage/" in request.url or "/start" in request.url)
            and sent.append(f"{request.method} {request.url.split('?')[0].rsplit('/', 1)[1]}")
        ),
    )
    page.goto(embedded_stack)
    job_url = _continue_to_upload(page)
    page.set_input_files("#file", str(clip_mp4))

    # The end before the start, as clocks: said in the page before the file goes anywhere.
    page.fill("#upload-start", "0:03")
    page.fill("#upload-end", "1")
    page.click("#upload-button")
    assert page.locator("#upload-message").inner_text() == (
        "Please check: the end (1 s) must come after the start (3 s)."
    )
    assert not page.is_visible("#upload-progress") and sent == [], "nothing sent"

    # The file goes up, and the start is refused once (a portal restarting, say) ...
    refusals: list[str] = []

    def refuse_once(route) -> None:
        if refusals:
            route.continue_()
            return
        refusals.append(route.request.url)
        route.fulfill(
            status=503,
            content_type="application/json",
            body='{"detail": "The portal is restarting; try again in a moment."}',
        )

    page.route("**/start", refuse_once)
    page.fill("#upload-start", "0.5")
    page.fill("#upload-end", "0:02.25")
    page.click("#upload-button")
    _wait_until(page, "document.getElementById('upload-message').textContent"
                ".includes('restarting')")  # fmt: skip
    assert sent[0] == "POST uploads" and "PUT 1" in sent and sent[-1] == "POST start"
    sent.clear()

    # ... and submitted again it only starts the job: the same file is not uploaded twice.
    page.click("#upload-button")
    page.wait_for_url(job_url)
    page.wait_for_selector("#part-of", timeout=60_000)
    assert sent == ["POST start"]
    assert page.locator("#part-of").inner_text() == "The part from 0:00.5 to 0:02.25 of the video."


def test_a_large_upload_goes_in_parts_and_resumes_after_a_reload(
    embedded_stack, browser, tmp_path
) -> None:
    video = make_three_part_video(tmp_path / "camera.mp4")
    assert 10 * 1024**2 < video.stat().st_size < 15 * 1024**2
    page = browser.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # "leave the page?" during the upload
    arrived: list[int] = []
    page.on(
        "response",
        lambda answer: (
            "/storage/parts/" in answer.url
            and answer.status == 200
            and arrived.append(int(answer.url.split("?")[0].rsplit("/", 1)[1]))
        ),
    )
    page.goto(embedded_stack)
    _continue_to_upload(page)
    job_id = page.url.rsplit("/", 1)[1]

    # A file over the portal's limit is refused before a byte leaves, saying both sizes.
    too_big = tmp_path / "too big.mov"
    with too_big.open("wb") as handle:
        handle.truncate(65 * 1024**2)
    page.set_input_files("#file", str(too_big))
    page.click("#upload-button")
    assert page.locator("#upload-message").inner_text() == (
        "too big.mov is 65.0 MiB; this portal accepts videos of up to 64.0 MiB."
    )
    assert not page.is_visible("#upload-progress")

    # The connection drops every try of part 3: the page sends it again, after a pause...
    def drop_part_3(route) -> None:
        if "/parts/" in route.request.url and "/3?" in route.request.url:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/storage/parts/**", drop_part_3)
    # A slow link (2 MB/s up): the page tells the speed and the time left as the parts go.
    network = page.context.new_cdp_session(page)
    network.send("Network.enable")
    slow = {"offline": False, "latency": 0, "downloadThroughput": -1}
    network.send("Network.emulateNetworkConditions", {**slow, "uploadThroughput": 2_000_000})
    page.set_input_files("#file", str(video))
    page.click("#upload-button")
    _wait_until(page, "/ · [0-9.]+ MB\\/s · .* left$/"
                ".test(document.getElementById('upload-percent').textContent)")  # fmt: skip
    network.send("Network.emulateNetworkConditions", {**slow, "uploadThroughput": -1})
    _wait_until(page, "document.getElementById('upload-message').textContent"
                ".includes('sending part 3 again')")  # fmt: skip
    deadline = time.monotonic() + 30
    while sorted(arrived) != [1, 2]:
        assert time.monotonic() < deadline, arrived
        page.wait_for_timeout(100)  # Playwright hands over events only while it is called

    # ...and, the page opened again and the same file chosen, sends only what did not arrive.
    page.unroute("**/storage/parts/**")
    page.reload()
    arrived.clear()
    page.set_input_files("#file", str(video))
    page.click("#upload-button")
    _wait_until(page, "!document.getElementById('upload-form')", seconds=60)

    assert arrived == [3]
    stored = storage_from(Settings(backend="local", data_dir=tmp_path / "d")).get_file(
        source_key(job_id), tmp_path / "stored.mp4"
    )
    assert stored.read_bytes() == video.read_bytes()
    assert page.locator("#phase").inner_text() != "Waiting for the video"


NEWS = ((3.0, 4.0, "GOOD EVENING"), (4.5, 5.5, "HERE IS THE NEWS"))


def test_preview_first_then_the_whole_video_in_a_browser(embedded_stack, browser, tmp_path):
    from tests.media import make_broadcast_with_captions

    # A TV recording, its captions inside the picture: the player shows them as a text track.
    clip = make_broadcast_with_captions(tmp_path / "news.ts", NEWS, seconds=8)
    page = browser.new_page()
    page.goto(embedded_stack)
    page.check('input[name="layout"][value="half-sbs"]')
    whole_url = _continue_to_upload(page)

    page.set_input_files("#file", str(clip))
    page.check("#preview-first")
    page.click("#upload-button")
    # The script goes on to the preview's own page, which links back to the whole video.
    page.wait_for_url(lambda url: url.rstrip("/") != whole_url and "/jobs/" in url)
    page.wait_for_selector("text=Play the 3D video", timeout=180_000)
    preview_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    assert page.locator("h1").inner_text() == "news_preview.ts"
    assert page.get_attribute("#preview-of a", "href") == whole_url.removeprefix(
        embedded_stack.rstrip("/")
    )

    page.click("text=Convert the whole video like this")
    page.wait_for_url(whole_url)
    page.wait_for_selector("text=Play the 3D video", timeout=180_000)
    assert page.locator("h1").inner_text() == "news.ts"
    page.click("text=Play the 3D video")
    page.wait_for_url(whole_url + "/play")
    page.evaluate("document.getElementById('player').textTracks[0].mode = 'showing'")
    _wait_until(page, "document.getElementById('player').textTracks[0].cues?.length === 2")
    track = page.evaluate(
        """(() => { const t = document.getElementById('player').textTracks[0];
                    return [t.kind, t.label, Array.from(t.cues, c => c.text)]; })()"""
    )
    assert track == ["captions", "Closed captions", [text for *_, text in NEWS]]

    # A half side by side seen here as an anaglyph for red-cyan glasses: each pixel Dubois' mix
    # of the two eyes' pixels at its place, as the page's WebGL draws it from the player. The
    # preview's result is replaced by eyes of two colours, so the mix tells left from right.
    eyes = tmp_path / "eyes.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "color=c=0xc83c28:s=96x108:d=2", "-f", "lavfi"),
        *("-i", "color=c=0x2878dc:s=96x108:d=2", "-filter_complex", "hstack"),
        *("-c:v", "libx264", "-pix_fmt", "yuv420p", str(eyes)),
    )
    storage = storage_from(Settings(backend="local", data_dir=tmp_path / "d"))
    storage.put_file(eyes, final_key(preview_id))
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text))
    page.goto(f"{embedded_stack}jobs/{preview_id}/play")
    page.select_option("#view", "dubois")
    _wait_until(page, "document.getElementById('player').readyState >= 2")
    page.evaluate("document.getElementById('player').currentTime = 1")
    _wait_until(page, "!document.getElementById('player').seeking")
    (width, height, frame), (out_width, out_height, shown) = _drawn(page)
    assert (out_width, out_height) == (width, height), "a squeezed eye is shown stretched back"
    frame = np.array(frame, float).reshape(height, width, 4)[..., :3] / 255
    shown = np.array(shown, float).reshape(height, width, 4)[..., :3] / 255
    left, right = frame[height // 2, width // 4], frame[height // 2, 3 * width // 4]
    assert np.abs(left - right).max() > 0.3, "two eyes of clearly other colours"
    mix_left, mix_right = (np.array(m) for m in DUBOIS_MIXES[AnaglyphMode.DUBOIS])
    expected = np.clip(mix_left @ left**2.2 + mix_right @ right**2.2, 0, 1) ** (1 / 2.2)
    inside = shown[8:-8, 8:-8].reshape(-1, 3)  # clear of the edges, where sampling blends
    assert np.abs(inside - expected).max() < 8 / 255, (inside.min(axis=0), expected)

    # Without glasses: a cross-eyed pair, the right eye's picture on the left ...
    page.select_option("#view", "cross-eyed")
    time.sleep(0.5)
    _, (pair_width, pair_height, pair) = page.evaluate(READ_VIDEO_AND_CANVAS)
    assert (pair_width, pair_height) == (2 * width, height)
    pair = np.array(pair, float).reshape(height, 2 * width, 4)[..., :3] / 255
    assert np.abs(pair[8:-8, 8 : width - 8] - right).max() < 8 / 255
    assert np.abs(pair[8:-8, width + 8 : -8] - left).max() < 8 / 255
    # ... or the two eyes' pictures in turn, each whole.
    page.select_option("#view", "wiggle")
    seen: set[str] = set()
    reads = 0
    deadline = time.monotonic() + 30
    while seen != {"left", "right"}:
        assert time.monotonic() < deadline, (seen, page.inner_text("#stereo-message"), reads)
        _, (_, _, turn) = page.evaluate(READ_VIDEO_AND_CANVAS)
        turn = np.array(turn, float).reshape(height, width, 4)[8:-8, 8:-8, :3] / 255
        eye = "left" if np.abs(turn - left).max() < 8 / 255 else "right"
        assert np.abs(turn - (left if eye == "left" else right)).max() < 8 / 255
        seen.add(eye)
        reads += 1
        time.sleep(0.05)
    assert not [e for e in errors if "Content Security Policy" in e], errors
    page.goto(embedded_stack + "jobs")
    assert page.locator("table.jobs tbody tr").count() == 2
