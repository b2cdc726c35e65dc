"""Portal pages and JSON API over the real local adapters (no pipeline run needed here)."""

from __future__ import annotations

import base64
import html
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from portal.services import download_name
from stereo_spot.domain import (
    DUBOIS_MIXES,
    Job,
    JobStatus,
    Part,
    SourceInfo,
    StereoParams,
    SubtitleTrack,
)
from stereo_spot.jobs import cancel
from stereo_spot.keys import (
    converted_segment_key,
    final_key,
    job_prefixes,
    source_key,
    subtitles_key,
)
from stereo_spot.settings import Settings
from tests.media import make_clip, probe
from tests.portal.conftest import (
    MAX_UPLOAD_BYTES,
    create_job_via_api,
    create_job_via_form,
    csrf_token,
    post_upload,
    upload_in_parts,
)
from tests.processes import run_lock_held

UNKNOWN_ID = "noSuchJob_0123456789abcdef"


def _form_fields(page: str, form_id: str) -> dict[str, str]:
    form = re.search(rf'<form[^>]*id="{form_id}".*?</form>', page, re.S).group(0)
    return dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))


def _upload_form(page: str) -> str:
    return re.search(r'<form id="upload-form".*?</form>', page, re.S).group(0)


def _start(client: TestClient, job_id: str, name: str = "clip.mp4"):
    return client.post(
        f"/jobs/{job_id}/start",
        data={"source_name": name},
        headers={"X-CSRF-Token": csrf_token(client), "Accept": "application/json"},
    )


def _engines_offered(page: str) -> list[str]:
    select = re.search(r'<select id="engine".*?</select>', page, re.S).group(0)
    return re.findall(r'<option value="([^"]+)"', select)


def test_create_page_offers_layouts_strength_and_engine(client) -> None:
    page = client.get("/")

    assert page.status_code == 200
    for name in ("layout", "divergence", "convergence", "engine", "csrf_token"):
        assert f'name="{name}"' in page.text
    assert 'value="half-sbs"' in page.text
    assert _engines_offered(page.text) == ["classical"], "the engine `up` serves by default"


def test_only_the_engine_the_model_server_runs_is_offered_and_taken(
    settings, storage, jobs, launcher, clip_mp4
) -> None:
    served = settings.model_copy(update={"engine": "stereocrafter"})
    with TestClient(create_app(served, storage=storage, jobs=jobs, launcher=launcher)) as client:
        assert _engines_offered(client.get("/").text) == ["stereocrafter"]

        # Another engine is refused before there is a job to upload to, naming the field as
        # every refused value is named.
        refused = client.post("/api/jobs", json={"layout": "sbs", "engine": "classical"})
        assert refused.status_code == 422
        assert refused.json() == {
            "detail": [
                {
                    "type": "value_error",
                    "loc": ["body", "engine"],
                    "msg": "This portal's model server runs the 'stereocrafter' engine, not "
                    "'classical'; convert with 'stereocrafter' or leave the engine out.",
                    "input": "classical",
                }
            ]
        }
        form = client.post(
            "/jobs", data={"csrf_token": csrf_token(client), "engine": "depth-anything"}
        )
        assert form.status_code == 422 and "not &#39;depth-anything&#39;" in form.text
        assert jobs.list_all() == []

        # Left out, it is the served one; "Convert again" offers and takes that one only.
        job_id, upload = create_job_via_api(client, layout="sbs")
        assert jobs.get(job_id).engine == "stereocrafter"
        post_upload(client, upload, clip_mp4)
        client.post(f"/api/jobs/{job_id}/start", json={"source_name": "clip.mp4"})
        jobs.transition(job_id, JobStatus.COMPLETED)
        assert _engines_offered(client.get(f"/jobs/{job_id}").text) == ["stereocrafter"]
        again = client.post(f"/api/jobs/{job_id}/again", json={"engine": "classical"})
        assert again.status_code == 422
        [problem] = again.json()["detail"]
        assert problem["loc"] == ["body", "engine"] and "not 'classical'" in problem["msg"]
        assert len(jobs.list_all()) == 1


def test_pages_carry_security_headers(client) -> None:
    headers = client.get("/").headers

    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]


def test_pages_name_an_icon_the_portal_serves(client) -> None:
    icon = re.search(r'<link rel="icon" href="([^"]+)"', client.get("/jobs").text).group(1)

    assert client.get(icon).status_code == 200, "no 404 for /favicon.ico on every page"


def test_form_post_without_csrf_token_is_403(client, jobs) -> None:
    client.get("/")  # has the cookie, but the form does not carry the token

    missing = client.post("/jobs", data={"layout": "sbs"}, follow_redirects=False)
    forged = client.post(
        "/jobs", data={"layout": "sbs", "csrf_token": "0" * 64}, follow_redirects=False
    )

    assert missing.status_code == 403 and forged.status_code == 403
    assert jobs.list_all() == []


def test_csrf_token_is_bound_to_its_cookie(client, settings, storage, jobs) -> None:
    token = csrf_token(client)
    other = TestClient(create_app(settings, storage=storage, jobs=jobs))
    other.get("/")  # a different cookie

    response = other.post("/jobs", data={"csrf_token": token}, follow_redirects=False)

    assert response.status_code == 403


def test_portal_replicas_take_each_others_forms_only_with_one_key(tmp_path, storage, jobs):
    """Behind a load balancer the page comes from one replica and its form may go to another,
    over the same jobs and storage: each replica's own key refused it (403), a shared
    ``STEREO_SPOT_SECRET_KEY`` takes it (the AWS deployment gives every replica one)."""

    def replica(name: str, **key: str) -> TestClient:
        # Each pod has a data folder of its own, where a portal with no key keeps the one it made.
        settings = Settings(backend="local", data_dir=tmp_path / name, **key)
        return TestClient(create_app(settings, storage=storage, jobs=jobs))

    def post_on_the_other(served: TestClient, posted: TestClient) -> int:
        token = csrf_token(served)
        posted.cookies = served.cookies  # the browser's cookie goes with it
        return posted.post("/jobs", data={"csrf_token": token}, follow_redirects=False).status_code

    assert post_on_the_other(replica("a"), replica("b")) == 403
    shared = {"secret_key": "k" * 64}
    assert post_on_the_other(replica("c", **shared), replica("d", **shared)) == 303


def test_form_creates_job_and_shows_upload_page(client, jobs) -> None:
    job_id = create_job_via_form(
        client, layout="half-sbs", divergence="2.5", convergence="0.5", engine="classical"
    )

    job = jobs.get(job_id)
    page = client.get(f"/jobs/{job_id}")
    form = _upload_form(page.text)
    assert job.status is JobStatus.CREATED and job.layout.value == "half-sbs"
    assert job.params.divergence == 2.5 and job.params.convergence == 0.5
    # The page's script uploads in parts through the JSON API; the page signs nothing itself.
    assert f'data-uploads-url="/api/jobs/{job_id}/uploads"' in form
    assert f'data-max-bytes="{MAX_UPLOAD_BYTES}"' in form
    assert 'type="hidden"' not in form
    assert 'id="upload-bar"' in page.text and "/static/portal.js" in page.text


def test_form_offers_and_stores_edges_at_screen_and_chroma(client, jobs) -> None:
    page = client.get("/").text
    assert 'name="edges_at_screen"' in page and 'name="chroma"' in page

    chosen = create_job_via_form(client, layout="anaglyph", edges_at_screen="on", chroma="444")
    plain = create_job_via_form(client, layout="anaglyph")  # an unticked box sends nothing

    assert jobs.get(chosen).params.edges_at_screen is True
    assert jobs.get(chosen).params.chroma == "444"
    assert jobs.get(plain).params == StereoParams()
    assert "edges at screen depth" in client.get(f"/jobs/{chosen}").text
    assert "4:4:4 colour" in client.get(f"/jobs/{chosen}").text
    assert "edges at screen depth" not in client.get(f"/jobs/{plain}").text


def test_form_and_api_take_the_picture_size(client, jobs) -> None:
    page = client.get("/").text
    assert 'name="max_height"' in page and "At most 1080p" in page

    sized = create_job_via_form(client, layout="sbs", max_height="1080")
    same = create_job_via_form(client, layout="sbs", max_height="")  # "Same as the source"
    api = client.post("/api/jobs", json={"max_height": 720})
    refused = client.post("/api/jobs", json={"max_height": 100})

    assert jobs.get(sized).params.max_height == 1080
    assert "at most 1080p" in client.get(f"/jobs/{sized}").text
    assert jobs.get(same).params.max_height is None
    assert api.status_code == 201 and api.json()["job"]["params"]["max_height"] == 720
    assert refused.status_code == 422


def test_form_offers_the_glasses_and_the_result_is_named_for_them(
    client, jobs, storage, clip_mp4
) -> None:
    page = client.get("/").text
    assert '<option value="green-magenta"' in page and "amber-blue glasses" in page

    job_id = create_job_via_form(client, layout="anaglyph", anaglyph_mode="amber-blue")

    job = jobs.get(job_id)
    assert job.params.anaglyph_mode == "amber-blue"
    assert download_name(job) == f"stereo-{job_id[:8]}_amberblue.mp4"
    # Its pages say which glasses to put on, not the red-cyan of most anaglyphs.
    storage.put_file(clip_mp4, final_key(job_id))
    jobs.transition(job_id, JobStatus.COMPLETED)
    for page in (f"/jobs/{job_id}", f"/jobs/{job_id}/play", "/jobs"):
        shown = client.get(page).text
        assert "Anaglyph for amber-blue glasses" in shown, page
        assert "Anaglyph for red-cyan glasses" not in shown, page


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("dubois", "Anaglyph for red-cyan glasses, Dubois"),
        ("gray", "Anaglyph for red-cyan glasses, grey"),
        ("color", "Anaglyph for red-cyan glasses, full colour"),
        ("half-color", "Anaglyph for red-cyan glasses, half colour"),
        ("green-magenta", "Anaglyph for green-magenta glasses, Dubois"),
    ],
)
def test_each_page_of_an_anaglyph_says_its_colour_mix(
    client, jobs, storage, clip_mp4, mode, said
) -> None:
    # Two conversions of one video with other mixes ("Convert again") are told apart by it:
    # their files are named alike (_redcyan).
    job_id = create_job_via_form(client, layout="anaglyph", anaglyph_mode=mode)
    storage.put_file(clip_mp4, final_key(job_id))
    jobs.transition(job_id, JobStatus.COMPLETED)

    for page in (f"/jobs/{job_id}", f"/jobs/{job_id}/play", "/jobs"):
        assert said in _words(client.get(page).text), page


def test_the_form_drops_the_glasses_of_a_layout_without_colours(client, jobs, clip_mp4) -> None:
    # What the API and `convert` refuse as ignored, a page without its script (which disables
    # the select) sends: not stored, so the job's record says what its result is.
    made = create_job_via_form(client, layout="sbs", anaglyph_mode="gray")
    again_from = _finished_job(client, jobs, clip_mp4)
    again = client.post(
        f"/jobs/{again_from}/again",
        data={"csrf_token": csrf_token(client), "layout": "tab", "anaglyph_mode": "color"},
        follow_redirects=False,
    )
    anaglyph = create_job_via_form(client, layout="anaglyph", anaglyph_mode="gray")

    assert again.status_code == 303, again.text
    copy = jobs.get(again.headers["location"].removeprefix("/jobs/"))
    assert (copy.layout.value, copy.params.anaglyph_mode) == ("tab", "dubois")
    assert jobs.get(made).params == StereoParams()
    assert jobs.get(anaglyph).params.anaglyph_mode == "gray"
    assert "data-anaglyph-only" in client.get("/").text, "portal.js disables it for the others"


def test_the_file_chooser_offers_every_kind_of_source_the_portal_converts(client) -> None:
    """A picker greys out what ``accept`` leaves out (Chromium takes an .ogg for audio/ogg):
    each demuxer sources are read with has its files' extensions there."""
    from portal.routes_html import SOURCE_EXTENSIONS
    from stereo_spot.media.probe import ALLOWED_FORMATS

    job_id, _ = create_job_via_api(client)
    accept = re.search(
        r'<input type="file"[^>]* accept="([^"]+)"', client.get(f"/jobs/{job_id}").text
    )

    offered = set(accept.group(1).split(","))
    assert set(SOURCE_EXTENSIONS) == set(ALLOWED_FORMATS)
    assert all(extensions for extensions in SOURCE_EXTENSIONS.values())
    # Those README names as sources, beside the rest of video/*.
    readme = ".mp4 .mov .mkv .webm .avi .ts .m2ts .mts .vob .mpg .m2t .mod .tod .flv .ogg .ogv "
    readme += ".wmv .wtv .mxf .dv .y4m .h264 .264 .hevc .265 .m2v .gif .apng"
    assert {"video/*", *readme.split()} <= offered
    assert not offered & {".m4a", ".heic", ".avif", ".mp3"}, "refused as sound or a picture"


def test_form_and_api_take_the_codec_quality_and_encoder_speed(client, jobs) -> None:
    page = client.get("/").text
    assert 'name="codec"' in page and 'name="crf"' in page and 'value="veryslow"' in page

    # An empty quality field takes the chosen codec's own default.
    hevc = create_job_via_form(client, layout="sbs", codec="hevc", crf="", preset="slow")
    assert (jobs.get(hevc).params.codec, jobs.get(hevc).params.crf) == ("hevc", 20)
    assert jobs.get(hevc).params.preset == "slow"
    assert "HEVC crf 20 slow" in client.get(f"/jobs/{hevc}").text
    job_id, _ = create_job_via_api(client, codec="hevc", crf=28)
    assert (jobs.get(job_id).params.codec, jobs.get(job_id).params.crf) == ("hevc", 28)
    assert "H.264 crf 18" in client.get(f"/jobs/{create_job_via_form(client)}").text

    for wrong in ({"crf": 0}, {"crf": 52}, {"codec": "vp9"}, {"preset": "placebo"}):
        assert client.post("/api/jobs", json=wrong).status_code == 422, wrong


def test_api_defaults_are_the_engines_own(client, jobs) -> None:
    # The comfort budget's screen plane (0.65), as the CLI and the form use it.
    job_id, _ = create_job_via_api(client, layout="sbs")
    assert jobs.get(job_id).params == StereoParams()

    job_id, _ = create_job_via_api(client, edges_at_screen=True, chroma="444")
    params = jobs.get(job_id).params
    assert params.edges_at_screen is True and params.chroma == "444"
    assert client.post("/api/jobs", json={"chroma": "422"}).status_code == 422


@pytest.mark.parametrize(
    ("divergence", "said"),
    # nan: refused as what it is, not as "less than or equal to 10".
    [("55", "divergence"), ("nan", "divergence: Input should be a finite number")],
)
def test_invalid_form_values_are_shown_not_stored(client, jobs, divergence, said) -> None:
    response = client.post(
        "/jobs",
        data={"csrf_token": csrf_token(client), "divergence": divergence, "layout": "sbs"},
        follow_redirects=False,
    )

    assert response.status_code == 422
    assert said in html.unescape(response.text)
    assert jobs.list_all() == []


def test_upload_from_page_then_start_queues_the_probed_job(
    client, jobs, launcher, clip_mp4: Path
) -> None:
    job_id = create_job_via_form(client, layout="sbs")
    upload_in_parts(client, job_id, clip_mp4)
    started = _start(client, job_id)

    assert started.status_code == 202, started.text
    job = jobs.get(job_id)
    assert job.status is JobStatus.QUEUED
    assert job.source is not None and (job.source.width, job.source.height) == (192, 108)
    assert job.source_name == "clip.mp4"
    assert launcher.run_ids() == {job_id: job.run_id}
    assert "Waiting for its turn" in client.get(f"/jobs/{job_id}").text


def test_a_file_cut_short_is_queued_and_its_page_says_where_it_stops(
    client, jobs, launcher, tmp_path: Path
) -> None:
    whole = make_clip(tmp_path / "whole.mkv", seconds=4, size="160x96")
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    job_id = create_job_via_form(client)
    upload_in_parts(client, job_id, cut)
    assert _start(client, job_id, "cut.mkv").status_code == 202

    job = jobs.get(job_id)
    assert job.status is JobStatus.QUEUED and job.source.stated_duration
    page = client.get(f"/jobs/{job_id}").text
    assert f"The file ends early: it stops at {job.source.duration:.1f} s of the 4.0 s" in page


def test_the_upload_form_used_again_after_the_start_replaces_nothing(
    client, jobs, storage, launcher, clip_mp4: Path, not_a_video: Path, tmp_path: Path
) -> None:
    # A double submit or a retried upload: the signed form has not expired yet.
    job_id, upload = create_job_via_api(client)
    post_upload(client, upload, clip_mp4)
    assert client.post(f"/api/jobs/{job_id}/start").status_code == 202

    again = post_upload(client, upload, not_a_video)

    assert again.status_code == 409
    assert "it takes no more uploads" in again.text
    kept = storage.get_file(source_key(job_id), tmp_path / "kept.mp4")
    assert kept.read_bytes() == clip_mp4.read_bytes()


def test_second_start_does_not_submit_again(client, jobs, launcher, clip_mp4: Path) -> None:
    job_id, upload = create_job_via_api(client, layout="anaglyph")
    post_upload(client, upload, clip_mp4)

    first = client.post(f"/api/jobs/{job_id}/start").json()
    second = client.post(f"/api/jobs/{job_id}/start").json()
    third = _start(client, job_id).json()

    assert first["run_id"] == second["run_id"] == third["run_id"] is not None
    assert list(launcher.run_ids()) == [job_id]
    assert launcher._queue.qsize() == 1


def test_non_video_upload_fails_the_job_with_its_reason(client, jobs, not_a_video: Path) -> None:
    job_id = create_job_via_form(client)
    upload_in_parts(client, job_id, not_a_video)

    _start(client, job_id)

    job = jobs.get(job_id)
    page = client.get(f"/jobs/{job_id}").text
    assert job.status is JobStatus.FAILED and job.error
    assert 'id="failure"' in page
    assert job.error.replace("'", "&#39;") in page
    assert 'id="upload-form"' not in page


def test_start_before_upload_is_409(client) -> None:
    job_id, _ = create_job_via_api(client)

    response = client.post(f"/api/jobs/{job_id}/start")

    assert response.status_code == 409
    assert "not been uploaded" in response.json()["detail"]


def test_start_without_a_runner_is_503(settings, storage, jobs, clip_mp4: Path) -> None:
    client = TestClient(create_app(settings, storage=storage, jobs=jobs, launcher=None))
    job_id, upload = create_job_via_api(client)
    post_upload(client, upload, clip_mp4)

    response = client.post(f"/api/jobs/{job_id}/start")

    assert response.status_code == 503
    assert jobs.get(job_id).status is JobStatus.CREATED


@pytest.mark.parametrize(
    "path",
    [
        f"/jobs/{UNKNOWN_ID}",
        f"/jobs/{UNKNOWN_ID}/play",
        "/jobs/..%2F..%2Fetc%2Fpasswd",
        "/jobs/%2E%2E",
        "/jobs/short",
        "/jobs/has%20space_0123456789",
    ],
)
def test_unknown_or_malformed_job_id_is_a_404_page(client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "There is no such job" in response.text or "no such page" in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/jobs/{UNKNOWN_ID}"),
        ("GET", f"/api/jobs/{UNKNOWN_ID}/play"),
        ("POST", f"/api/jobs/{UNKNOWN_ID}/start"),
        ("DELETE", f"/api/jobs/{UNKNOWN_ID}"),
        ("GET", "/api/jobs/..%2F..%2Fsecret_key"),
    ],
)
def test_unknown_job_id_is_json_404(client, method: str, path: str) -> None:
    response = client.request(method, path)

    assert response.status_code == 404
    assert response.json()["detail"]


def test_api_create_returns_absolute_upload_target(client) -> None:
    response = client.post("/api/jobs", json={"layout": "tab", "divergence": 2.0})

    body = response.json()
    assert response.status_code == 201
    assert body["job"]["status"] == "created" and body["job"]["layout"] == "tab"
    assert body["upload"]["url"] == "http://testserver/storage/upload"
    assert body["upload"]["file_field"] == "file"
    assert body["upload"]["fields"]["key"] == source_key(body["job"]["job_id"])


def test_api_create_without_a_body_takes_every_default(client) -> None:
    response = client.post("/api/jobs")

    assert response.status_code == 201, response.text
    job = response.json()["job"]
    assert job["layout"] == "anaglyph" and job["params"]["codec"] == "h264"


def test_api_rejects_bad_parameters(client) -> None:
    assert client.post("/api/jobs", json={"layout": "3d-glasses"}).status_code == 422
    assert client.post("/api/jobs", json={"convergence": 2}).status_code == 422
    assert client.post("/api/jobs", json={"engine": "magic"}).status_code == 422


def test_openapi_describes_the_api(client) -> None:
    schema = client.get("/api/openapi.json").json()

    paths = schema["paths"]
    assert {"/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/start"} <= set(paths)
    assert "delete" in paths["/api/jobs/{job_id}"]
    assert "JobOut" in schema["components"]["schemas"]
    assert "/jobs" not in paths  # the HTML pages are not part of the API


def _complete(jobs, storage, clip: Path, count: int) -> list[str]:
    """Jobs the pipeline would have finished: a final file, then ``completed``, one by one."""
    ids = []
    for i in range(count):
        job = jobs.create(Job(source_name=f"video{i}.mp4"))
        storage.put_file(clip, final_key(job.job_id))
        jobs.transition(job.job_id, JobStatus.COMPLETED)
        ids.append(job.job_id)
    return ids


def test_completed_list_is_newest_first_and_paginated(client, jobs, storage, clip_mp4) -> None:
    ids = _complete(jobs, storage, clip_mp4, 5)
    jobs.create(Job(source_name="still-running.mp4"))
    newest_first = list(reversed(ids))

    first = client.get("/jobs?limit=2")
    cursor = re.search(r'cursor=([^"&]+)" rel="next"', first.text).group(1)
    second = client.get(f"/jobs?limit=2&cursor={cursor}")

    def listed(page: str) -> list[str]:
        return re.findall(r'<td><a href="/jobs/([^"/]+)">', page)

    assert listed(first.text) == newest_first[:2]
    assert listed(second.text) == newest_first[2:4]
    assert "still-running" not in first.text + second.text

    api_pages, cursor = [], None
    while True:
        body = client.get("/api/jobs", params={"limit": 2, "cursor": cursor}).json()
        api_pages.append([job["job_id"] for job in body["jobs"]])
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert api_pages == [newest_first[:2], newest_first[2:4], newest_first[4:]]


def _words(fragment: str) -> str:
    """The text of an HTML fragment as a reader sees it: tags gone, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def test_jobs_not_finished_are_listed_with_where_each_stands(
    client, jobs, storage, clip_mp4
) -> None:
    """Cancelled, failed, held and running jobs can be found again, newest made first; the
    completed ones stay in their own list."""
    (done,) = _complete(jobs, storage, clip_mp4, 1)
    made = {}
    for name, steps, fields in [
        (
            "failed.mp4",
            [JobStatus.QUEUED, JobStatus.FAILED],
            {"error": "The video has no picture."},
        ),
        ("cancelled.mp4", [JobStatus.QUEUED], {}),
        ("held.mp4", [JobStatus.UPLOADED], {}),
        ("converting.mp4", [JobStatus.QUEUED, JobStatus.PROCESSING], {}),
        ("not-uploaded.mp4", [], {}),
    ]:
        job = jobs.create(Job(source_name=name))
        for status in steps:
            job = jobs.transition(job.job_id, status, **(fields if status.is_final else {}))
        made[name] = job.job_id
    cancel(jobs, made["cancelled.mp4"])
    jobs.update(
        made["held.mp4"],
        source=SourceInfo(
            width=640, height=360, frames=48, duration=2.0, fps=24.0, video_codec="h264"
        ),
    )
    jobs.update(made["converting.mp4"], total_segments=4, completed_segments=1)

    page = client.get("/jobs?show=unfinished").text

    rows = re.findall(r'<tr class="status-\w+">(.*?)</tr>', page, re.S)
    said = {
        re.search(r">([^<]+)</a>", row).group(1): _words(
            re.search(r'<td class="state">(.*?)</td>', row, re.S).group(1)
        )
        for row in rows
    }
    assert list(said) == [
        "not-uploaded.mp4",
        "converting.mp4",
        "held.mp4",
        "cancelled.mp4",
        "failed.mp4",
    ]
    assert said == {
        "not-uploaded.mp4": "Waiting for the video",
        "converting.mp4": "Converting segments to 3D: 25%",
        "held.mp4": "Preview first; then waiting for you to convert it",
        "cancelled.mp4": "Cancelled",
        "failed.mp4": "Failed The video has no picture.",
    }
    assert done not in page
    assert made["failed.mp4"] not in client.get("/jobs").text
    api = client.get("/api/jobs", params={"show": "unfinished"}).json()
    assert [job["source_name"] for job in api["jobs"]] == list(said)
    assert client.get("/api/jobs", params={"show": "running"}).status_code == 422

    # Deleting one leads back to the list it was in, which says what went.
    response = client.post(
        f"/jobs/{made['failed.mp4']}/delete",
        data={"csrf_token": csrf_token(client), "confirmed": "yes"},
        follow_redirects=False,
    )
    listed = client.get(response.headers["location"]).text
    assert "Conversions not finished" in listed and "Deleted failed.mp4 and its files." in listed
    assert made["failed.mp4"] not in listed


def test_a_page_link_of_one_list_is_refused_by_the_other(client, jobs, storage, clip_mp4) -> None:
    _complete(jobs, storage, clip_mp4, 3)
    for _ in range(3):
        jobs.create(Job(source_name="waiting.mp4"))
    completed = client.get("/api/jobs", params={"limit": 1}).json()["next_cursor"]
    unfinished = client.get("/api/jobs", params={"limit": 1, "show": "unfinished"}).json()

    older = client.get(
        "/jobs", params={"show": "unfinished", "limit": 1, "cursor": unfinished["next_cursor"]}
    )
    assert older.status_code == 200 and "waiting.mp4" in older.text
    refused = client.get("/jobs", params={"show": "unfinished", "cursor": completed})
    assert refused.status_code == 400
    assert "That page link is not valid" in refused.text


def test_a_job_whose_video_was_damaged_says_so(client, jobs, storage, clip_mp4) -> None:
    job = jobs.create(Job(source_name="recording.ts"))
    jobs.update(job.job_id, damaged_frames=3)
    storage.put_file(clip_mp4, final_key(job.job_id))
    jobs.transition(job.job_id, JobStatus.COMPLETED)

    page = client.get(f"/jobs/{job.job_id}").text
    assert (
        "3 pictures of the video could not be decoded (the file is damaged there); the picture "
        "before each is shown in its place." in page
    )
    assert client.get(f"/api/jobs/{job.job_id}").json()["damaged_frames"] == 3


def test_play_page_streams_a_signed_video(client, jobs, storage, clip_mp4) -> None:
    (job_id,) = _complete(jobs, storage, clip_mp4, 1)

    page = client.get(f"/jobs/{job_id}/play").text
    video_url = re.search(r'<video id="player"[^>]* src="([^"]+)"', page).group(1)
    download = re.search(r'href="([^"]+)" download="([^"]+)"', page)
    api = client.get(f"/api/jobs/{job_id}/play").json()

    assert (
        client.get(video_url.replace("&amp;", "&"), headers={"Range": "bytes=0-99"}).status_code
        == 206
    )
    assert download.group(2) == "video0_redcyan.mp4"
    assert "Anaglyph for red-cyan glasses" in page
    assert client.get(download.group(1).replace("&amp;", "&")).status_code == 200
    assert api["video_url"].startswith("http://testserver/storage/jobs/")
    assert api["download_name"] == "video0_redcyan.mp4"


def test_play_page_hands_the_browser_the_results_text_tracks(
    client, jobs, storage, clip_mp4, tmp_path
) -> None:
    # Browsers show an MP4's own text tracks nowhere: the page gives them the WebVTT copies the
    # join stored, signed, each named and marked as captions or subtitles.
    job_id = jobs.create(Job(source_name="news.ts")).job_id
    vtt = tmp_path / "captions.vtt"
    vtt.write_text("WEBVTT\n\n00:01.000 --> 00:02.000\nGOOD EVENING\n")
    storage.put_file(vtt, subtitles_key(job_id, 0), content_type="text/vtt")
    storage.put_file(clip_mp4, final_key(job_id))
    captions = [SubtitleTrack(label="Closed captions", captions=True)]
    jobs.transition(job_id, JobStatus.COMPLETED, subtitles=captions)

    page = client.get(f"/jobs/{job_id}/play").text
    track = re.search(r'<track kind="captions" label="Closed captions" src="([^"]+)">', page)
    api = client.get(f"/api/jobs/{job_id}/play").json()

    assert track and 'crossorigin="anonymous"' in page
    served = client.get(track.group(1).replace("&amp;", "&"))
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/vtt")
    assert "GOOD EVENING" in served.text
    assert [(t["label"], t["kind"], t["language"]) for t in api["subtitles"]] == [
        ("Closed captions", "captions", None)
    ]
    assert api["subtitles"][0]["url"].startswith("http://testserver/storage/jobs/")
    # The job's page says what the result holds besides its picture and sound.
    shown = re.search(
        r'<p class="meta" id="text-tracks">([^<]+)</p>', client.get(f"/jobs/{job_id}").text
    )
    assert shown and shown.group(1) == "Text tracks, in the player's menu too: Closed captions"


def test_a_packed_result_can_be_seen_as_an_anaglyph_or_without_glasses_in_the_page(
    client, jobs, storage, clip_mp4
) -> None:
    # stereo-view.js mixes the eyes with the engines' own matrices, given by the page.
    sbs = jobs.create(Job(source_name="trip.mp4", layout="half-sbs")).job_id
    storage.put_file(clip_mp4, final_key(sbs))
    jobs.transition(sbs, JobStatus.COMPLETED)
    (flat,) = _complete(jobs, storage, clip_mp4, 1)

    page = client.get(f"/jobs/{sbs}/play").text
    mixes = re.search(r'data-mixes="([^"]+)"', page).group(1)

    assert '<script src="/static/stereo-view.js" defer>' in page
    assert 'data-layout="half-sbs"' in page and "an anaglyph for amber-blue glasses" in page
    assert '<option value="cross-eyed">' in page and '<option value="wiggle">' in page
    assert json.loads(html.unescape(mixes)) == {
        mode.value: [[list(row) for row in eye] for eye in matrices]
        for mode, matrices in DUBOIS_MIXES.items()
    }
    assert client.get("/static/stereo-view.js").status_code == 200
    assert "stereo-view" not in client.get(f"/jobs/{flat}/play").text, "an anaglyph is one"


def test_each_play_link_and_the_player_are_named_after_their_video(
    client, jobs, storage, clip_mp4
) -> None:
    """A screen reader lists links by name: "Play video0.mp4", not "Play" once per row. Each
    looks the same ("Play"), and its name starts with what it shows (WCAG's label in name)."""
    ids = _complete(jobs, storage, clip_mp4, 2)
    part = jobs.create(Job(source_name="talk.mp4", part=Part(start=30, end=60))).job_id
    storage.put_file(clip_mp4, final_key(part))
    jobs.transition(part, JobStatus.COMPLETED)

    listed = client.get("/jobs").text
    plays = re.findall(r'<a class="button" href="([^"]+)" aria-label="([^"]+)">Play</a>', listed)

    assert plays == [
        (f"/jobs/{part}/play", "Play talk.mp4 from 0:30 to 1:00"),
        (f"/jobs/{ids[1]}/play", "Play video1.mp4"),
        (f"/jobs/{ids[0]}/play", "Play video0.mp4"),
    ]
    player = re.search(r'<video id="player"[^>]*>', client.get(f"/jobs/{ids[0]}/play").text)
    assert 'aria-label="video0.mp4 in 3D: Anaglyph for red-cyan glasses, Dubois"' in player.group(0)


def test_play_before_completion_is_409(client) -> None:
    job_id, _ = create_job_via_api(client)

    assert client.get(f"/jobs/{job_id}/play").status_code == 409
    assert client.get(f"/api/jobs/{job_id}/play").status_code == 409


def test_delete_removes_the_record_and_every_file(client, jobs, storage, clip_mp4) -> None:
    job_id, upload = create_job_via_api(client)
    post_upload(client, upload, clip_mp4)
    storage.put_file(clip_mp4, f"segments/{job_id}/00000_00001_anaglyph.mp4")
    storage.put_file(clip_mp4, converted_segment_key(job_id, 0))
    storage.put_file(clip_mp4, final_key(job_id))
    (keep,) = _complete(jobs, storage, clip_mp4, 1)

    jobs.update(job_id, source_name="holiday & co.mp4")
    page = client.get(f"/jobs/{job_id}").text
    asks = re.search(r'<form[^>]*id="delete-form"[^>]*data-confirm="([^"]*)"', page).group(1)
    assert html.unescape(asks) == (
        "Delete holiday & co.mp4 and its files? This cannot be undone."
    ), "portal.js asks this first"

    # Without the page's script nobody asked yet: the portal asks on a page, deleting nothing.
    asked = client.post(f"/jobs/{job_id}/delete", data={"csrf_token": csrf_token(client)})
    assert asked.status_code == 200 and asked.url.path == f"/jobs/{job_id}/delete"
    assert "<h1>Delete holiday &amp; co.mp4?</h1>" in asked.text
    assert f'<a class="button" href="/jobs/{job_id}">Keep it</a>' in asked.text
    assert storage.exists(final_key(job_id)) and jobs.get(job_id)

    # The script (or that page) says yes.
    response = client.post(
        f"/jobs/{job_id}/delete",
        data={"csrf_token": csrf_token(client), "confirmed": "yes"},
        follow_redirects=False,
    )

    assert response.status_code == 303
    listed = client.get(response.headers["location"])
    assert listed.url.path == "/jobs"
    said = re.search(r'<p class="notice" role="status" id="deleted">(.*?)</p>', listed.text)
    assert html.unescape(said.group(1)) == "Deleted holiday & co.mp4 and its files."
    assert all(storage.list_prefix(prefix) == [] for prefix in job_prefixes(job_id))
    assert client.get(f"/jobs/{job_id}").status_code == 404
    assert storage.exists(final_key(keep)) and jobs.get(keep)

    # A link anyone could make puts no words in the page, nor one made for another browser.
    made_up = client.get("/jobs", params={"deleted": "your account"})
    assert 'id="deleted"' not in made_up.text
    other = TestClient(client.app)
    assert 'id="deleted"' not in other.get(response.headers["location"]).text


def test_a_delete_asked_without_the_pages_script_is_asked_on_a_page_of_its_own(
    client, jobs, storage, clip_mp4
) -> None:
    """Post/redirect/get: the question is a page got, not the answer to the post, so Back to it
    and Reload re-post nothing ("Confirm Form Resubmission"), and getting it deletes nothing."""
    (job_id,) = _complete(jobs, storage, clip_mp4, 1)

    unasked = client.post(
        f"/jobs/{job_id}/delete", data={"csrf_token": csrf_token(client)}, follow_redirects=False
    )
    assert unasked.status_code == 303
    assert unasked.headers["location"] == f"/jobs/{job_id}/delete"
    for _ in range(2):  # reloaded: asks again
        asking = client.get(f"/jobs/{job_id}/delete")
        assert asking.status_code == 200 and asking.headers["cache-control"] == "no-store"
        assert "<h1>Delete video0.mp4?</h1>" in asking.text
    assert client.head(f"/jobs/{job_id}/delete").status_code == 200
    assert storage.exists(final_key(job_id)) and jobs.get(job_id)

    form = re.search(r'<form method="post" action="([^"]+)".*?</form>', asking.text, re.S)
    assert form.group(1) == f"/jobs/{job_id}/delete"
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(0)))
    assert fields == {"csrf_token": csrf_token(client), "confirmed": "yes"}
    deleted = client.post(form.group(1), data=fields, follow_redirects=False)
    assert deleted.status_code == 303 and deleted.headers["location"].startswith("/jobs?")
    assert jobs.list_all() == [] and not storage.exists(final_key(job_id))

    # Back to the question once the job is gone: it is not there to delete, and nothing happens.
    assert client.get(f"/jobs/{job_id}/delete").status_code == 404
    assert client.get(f"/jobs/{UNKNOWN_ID}/delete").status_code == 404


def test_delete_needs_csrf_and_api_delete_works(client, jobs, storage, clip_mp4) -> None:
    (job_id,) = _complete(jobs, storage, clip_mp4, 1)

    assert client.post(f"/jobs/{job_id}/delete", follow_redirects=False).status_code == 403
    assert storage.exists(final_key(job_id))

    assert client.delete(f"/api/jobs/{job_id}").status_code == 204
    assert storage.list_prefix(f"jobs/{job_id}/") == []
    assert client.get(f"/api/jobs/{job_id}").status_code == 404


def test_running_job_cannot_be_deleted(client, jobs, launcher, clip_mp4) -> None:
    job_id, upload = create_job_via_api(client)
    post_upload(client, upload, clip_mp4)
    client.post(f"/api/jobs/{job_id}/start")

    response = client.delete(f"/api/jobs/{job_id}")

    assert response.status_code == 409
    assert jobs.get(job_id).status is JobStatus.QUEUED


def test_a_source_being_prepared_shows_how_far_it_has_got(client, jobs, launcher, clip_mp4):
    job_id, upload = create_job_via_api(client)
    post_upload(client, upload, clip_mp4)
    client.post(f"/api/jobs/{job_id}/start")
    jobs.transition(job_id, JobStatus.CHUNKING)
    page = client.get(f"/jobs/{job_id}").text
    assert re.search(r'<p class="hint" id="preparing"\s+hidden>', page), "nothing to show yet"

    jobs.update(job_id, chunk_progress=0.375)

    assert client.get(f"/api/jobs/{job_id}").json()["chunk_progress"] == 0.375
    page = client.get(f"/jobs/{job_id}").text
    preparing = re.search(r'<p class="hint" id="preparing"(.*?)</p>', page, re.S).group(1)
    assert "hidden" not in preparing and '"preparing-percent">38 %<' in preparing


def test_a_queued_job_is_cancelled_from_its_page_then_deleted(
    client, jobs, storage, launcher, clip_mp4
) -> None:
    job_id, upload = create_job_via_api(client)
    post_upload(client, upload, clip_mp4)
    client.post(f"/api/jobs/{job_id}/start")
    page = client.get(f"/jobs/{job_id}").text
    assert f'action="/jobs/{job_id}/cancel"' in page
    assert f'action="/jobs/{job_id}/delete"' not in page, "running: cancel first"
    # Asked first (portal.js), as a delete is: it cannot be undone.
    assert re.search(
        r'id="cancel-form"\s+data-confirm="Cancel the conversion of this job\? It '
        r"cannot be resumed: the segments converted so far are discarded",
        page,
    )

    response = client.post(
        f"/jobs/{job_id}/cancel", data={"csrf_token": csrf_token(client)}, follow_redirects=False
    )

    assert response.status_code == 303 and response.headers["location"] == f"/jobs/{job_id}"
    page = client.get(f"/jobs/{job_id}").text
    assert "<strong>Cancelled.</strong>" in page and "The conversion failed" not in page
    phase = re.search(r'<p class="phase[^"]*">(.*?)</p>', page, re.S).group(1)
    assert re.sub(r"<[^>]+>|\s+", " ", phase).split() == ["cancelled", "Cancelled"]
    assert f'action="/jobs/{job_id}/cancel"' not in page
    assert f'action="/jobs/{job_id}/delete"' in page
    assert launcher.run_ids() == {job_id: jobs.get(job_id).run_id}, "left to be skipped"
    assert client.delete(f"/api/jobs/{job_id}").status_code == 204
    assert not storage.exists(source_key(job_id))


def test_api_cancel_answers_the_failed_job_and_refuses_a_finished_one(
    client, jobs, clip_mp4
) -> None:
    job_id, upload = create_job_via_api(client)
    post_upload(client, upload, clip_mp4)
    client.post(f"/api/jobs/{job_id}/start")

    response = client.post(f"/api/jobs/{job_id}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "failed"
    assert response.json()["error"] == "Cancelled before it finished."
    again = client.post(f"/api/jobs/{job_id}/cancel")
    assert again.status_code == 409
    assert again.json()["detail"] == (
        "This job has already been cancelled; there is nothing to cancel."
    ), "as its page says Cancelled"
    finished, upload = create_job_via_api(client)
    post_upload(client, upload, clip_mp4)
    client.post(f"/api/jobs/{finished}/start")
    jobs.transition(finished, JobStatus.COMPLETED)
    refused = client.post(f"/api/jobs/{finished}/cancel")
    assert (refused.status_code, refused.json()["detail"]) == (
        409,
        "This job has already completed; there is nothing to cancel.",
    )


@pytest.fixture
def long_clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "holiday.mp4", seconds=12)  # a keyframe every 0.5 s


def _finished_job(client, jobs, clip: Path) -> str:
    """A job whose video was uploaded and read, and whose run has ended."""
    job_id, upload = create_job_via_api(client, layout="anaglyph")
    post_upload(client, upload, clip)
    client.post(f"/api/jobs/{job_id}/start", json={"source_name": clip.name})
    jobs.transition(job_id, JobStatus.COMPLETED)
    return job_id


def test_a_preview_with_other_settings_then_the_whole_video_needs_no_new_upload(
    client, jobs, storage, long_clip, tmp_path
) -> None:
    first = _finished_job(client, jobs, long_clip)
    page = client.get(f"/jobs/{first}").text
    assert f'action="/jobs/{first}/again"' in page and 'name="preview"' in page

    response = client.post(
        f"/api/jobs/{first}/again",
        json={"layout": "sbs", "divergence": 2.0, "max_height": 720, "preview": True},
    )

    assert response.status_code == 202, response.text
    preview = response.json()
    assert preview["status"] == "queued" and preview["layout"] == "sbs"
    assert preview["params"]["divergence"] == 2.0 and preview["preview_of"] == first
    assert preview["source_name"] == "holiday_preview.mp4"
    excerpt = storage.get_file(source_key(preview["job_id"]), tmp_path / "excerpt.mp4")
    assert 4.5 <= float(probe(excerpt)["format"]["duration"]) <= 6.0, "5 s from the middle"
    assert jobs.get(first).status is JobStatus.COMPLETED, "the first job is left as it was"

    # From the preview's page, the whole video with the preview's settings: the first upload.
    jobs.transition(preview["job_id"], JobStatus.COMPLETED)
    page = client.get(f"/jobs/{preview['job_id']}").text
    assert "Convert the whole video like this" in page
    fields = _form_fields(page, "whole-video")
    again = client.post(f"/jobs/{preview['job_id']}/again", data=fields, follow_redirects=False)

    assert again.status_code == 303
    whole = jobs.get(again.headers["location"].removeprefix("/jobs/"))
    assert whole.status is JobStatus.QUEUED and whole.preview_of is None
    assert whole.layout.value == "sbs"
    assert whole.params == StereoParams(divergence=2.0, max_height=720)
    assert whole.source_name == "holiday.mp4"
    assert storage.size(source_key(whole.job_id)) == long_clip.stat().st_size

    # Once the job it was cut from is deleted, the preview's page no longer offers the whole
    # video (it would only be refused) and says why.
    assert client.delete(f"/api/jobs/{first}").status_code == 204
    page = client.get(f"/jobs/{preview['job_id']}").text
    assert (
        'id="whole-video"' not in page and f'action="/jobs/{preview["job_id"]}/again"' not in page
    )
    preview_of = re.search(r'<p class="meta" id="preview-of">(.*?)</p>', page, re.S).group(1)
    assert "whose job has since been deleted" in preview_of and "href" not in preview_of
    assert "Play the 3D video" in page, "the preview itself still plays"


def test_preview_first_holds_the_upload_until_the_whole_video_is_asked_for(
    client, jobs, storage, launcher, long_clip, tmp_path
) -> None:
    job_id = create_job_via_form(client, layout="half-sbs", divergence="2.5")
    page = client.get(f"/jobs/{job_id}").text
    assert 'id="preview-first"' in page, "the upload page offers a preview first"
    assert 'name="preview' not in _upload_form(page), "the choice is not sent to the storage"
    upload_in_parts(client, job_id, long_clip)

    response = client.post(
        f"/jobs/{job_id}/start",
        data={"source_name": "holiday.mp4", "preview": "on"},
        headers={"X-CSRF-Token": csrf_token(client), "Accept": "application/json"},
    )

    # The answer is the preview, with the upload's settings; the page's script goes there.
    assert response.status_code == 202, response.text
    preview = response.json()
    assert preview["preview_of"] == job_id and preview["status"] == "queued"
    assert preview["layout"] == "half-sbs" and preview["params"]["divergence"] == 2.5
    assert preview["source_name"] == "holiday_preview.mp4"
    assert preview["links"]["page"] == f"/jobs/{preview['job_id']}"
    excerpt = storage.get_file(source_key(preview["job_id"]), tmp_path / "excerpt.mp4")
    assert 4.5 <= float(probe(excerpt)["format"]["duration"]) <= 6.0, "5 s from the middle"
    # The whole video was read and waits: nothing runs for it.
    whole = jobs.get(job_id)
    assert whole.status is JobStatus.UPLOADED and whole.held
    assert whole.source is not None and whole.source.duration == pytest.approx(12, abs=0.1)
    assert list(launcher.run_ids()) == [preview["job_id"]]
    assert whole.previewed_by == preview["job_id"]
    assert client.get(f"/api/jobs/{job_id}").json()["previewed_by"] == preview["job_id"]
    page = client.get(f"/jobs/{job_id}").text
    # Its page links to the preview it waits on, and does not say it was made before it was
    # (it had no link at all, and said "a preview of this video was made first" at once).
    assert _held_hint(page) == (
        "Nothing converts this video yet: its preview is being made first. When you have seen "
        "it, convert the whole video below."
    )
    assert f'<a href="/jobs/{preview["job_id"]}">its preview</a>' in page
    assert "Waiting for its preview, then for you to convert the whole video" in page
    assert "data-poll-url" not in page, "a held job does not change by itself"
    assert 'id="held"' in page and 'id="job-bar"' not in page, "no progress bar standing still"
    assert "Convert the whole video, with these settings or others" in page
    assert f'href="/jobs/{job_id}"' in client.get(f"/jobs/{preview['job_id']}").text

    # Asking again changes nothing: no second preview.
    again = client.post(f"/api/jobs/{job_id}/start", json={"preview": True}).json()
    assert again["job_id"] == job_id and len(jobs.list_all()) == 2

    # "Convert the whole video like this" from the finished preview starts the held job itself,
    # with the preview's settings: no copy of the upload, no third job.
    jobs.transition(preview["job_id"], JobStatus.COMPLETED)
    page = client.get(f"/jobs/{job_id}").text
    assert "Previewed first; waiting for you to convert the whole video" in page
    assert _held_hint(page) == (
        "Nothing is converting now: a preview of this video was made first: see the preview. "
        "When you have seen it, convert the whole video below."
    )
    assert f'<a href="/jobs/{preview["job_id"]}">see the preview</a>' in page
    page = client.get(f"/jobs/{preview['job_id']}").text
    fields = _form_fields(page, "whole-video")
    fields["layout"] = "sbs"  # as if the settings were changed on the way
    started = client.post(f"/jobs/{preview['job_id']}/again", data=fields, follow_redirects=False)

    assert started.headers["location"] == f"/jobs/{job_id}"
    whole = jobs.get(job_id)
    assert whole.status is JobStatus.QUEUED and not whole.held and whole.run_id
    assert whole.layout.value == "sbs" and whole.params.divergence == 2.5
    assert whole.source_name == "holiday.mp4" and len(jobs.list_all()) == 2
    assert storage.size(source_key(job_id)) == long_clip.stat().st_size


def _held_hint(page: str) -> str:
    """The words of a held job's hint, its links' markup and the lines' breaks left out."""
    hint = re.search(r'<p class="hint" id="held">(.*?)</p>', page, re.S).group(1)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", hint)).split())


def test_a_held_video_whose_preview_did_not_finish_says_so_and_links_to_why(
    client, jobs, launcher, long_clip
) -> None:
    job_id = create_job_via_form(client)
    upload_in_parts(client, job_id, long_clip)
    preview = client.post(f"/api/jobs/{job_id}/start", json={"preview": True}).json()["job_id"]
    jobs.transition(preview, JobStatus.FAILED, error="The model server stopped.")

    page = client.get(f"/jobs/{job_id}").text

    assert _held_hint(page) == (
        "The preview made first of this video did not finish (see why); convert the whole "
        "video below, with these settings or others."
    )
    assert f'<a href="/jobs/{preview}">see why</a>' in page
    # Its preview deleted, the page says what it said before previews were recorded on it.
    client.delete(f"/api/jobs/{preview}")
    assert _held_hint(client.get(f"/jobs/{job_id}").text).startswith(
        "Nothing is converting now: a preview of this video was made first."
    )


def test_the_whole_video_asked_for_twice_from_its_preview_is_converted_once(
    client, jobs, storage, launcher, long_clip
) -> None:
    job_id, upload = create_job_via_api(client, layout="tab", source_name="holiday.mp4")
    post_upload(client, upload, long_clip)
    preview = client.post(f"/api/jobs/{job_id}/start", json={"preview": True}).json()["job_id"]
    jobs.transition(preview, JobStatus.COMPLETED)
    fields = _form_fields(client.get(f"/jobs/{preview}").text, "whole-video")

    # A double click on "Convert the whole video like this", then the API asked alike.
    first = client.post(f"/jobs/{preview}/again", data=fields, follow_redirects=False)
    second = client.post(f"/jobs/{preview}/again", data=fields, follow_redirects=False)
    third = client.post(f"/api/jobs/{preview}/again", json={"layout": "tab"})

    assert first.headers["location"] == second.headers["location"] == f"/jobs/{job_id}"
    assert third.status_code == 202 and third.json()["job_id"] == job_id
    assert set(launcher.run_ids()) == {preview, job_id} and len(jobs.list_all()) == 2

    # Other settings are another conversion: a new job on a copy of the video.
    other = client.post(
        f"/jobs/{preview}/again", data={**fields, "layout": "sbs"}, follow_redirects=False
    )
    copy = other.headers["location"].removeprefix("/jobs/")
    assert copy not in (job_id, preview) and jobs.get(copy).layout.value == "sbs"
    assert storage.size(source_key(copy)) == long_clip.stat().st_size
    # And so is the same conversion once the first has failed: it is tried again.
    client.post(f"/api/jobs/{job_id}/cancel")
    retried = client.post(f"/jobs/{preview}/again", data=fields, follow_redirects=False)
    assert retried.headers["location"] not in (f"/jobs/{job_id}", f"/jobs/{copy}")
    assert len(jobs.list_all()) == 4


def test_a_finished_video_asked_for_twice_alike_is_converted_once(
    client, jobs, storage, launcher, long_clip
) -> None:
    """A form sent twice, or a script that retries, on a finished job's video (not held: each
    conversion is a new job on a copy) makes one job, also when the two asks come at once."""
    first = _finished_job(client, jobs, long_clip)
    ask_preview = {"layout": "sbs", "divergence": 2.0, "preview": True}

    previews = _race(
        *[lambda: client.post(f"/api/jobs/{first}/again", json=ask_preview) for _ in range(2)]
    )
    again = client.post(f"/api/jobs/{first}/again", json=ask_preview)

    (preview,) = {answer.json()["job_id"] for answer in [*previews, again]}
    assert all(answer.status_code == 202 for answer in [*previews, again])
    # (The launcher never started the first job's run: the test marked it completed.)
    assert len(jobs.list_all()) == 2 and set(launcher.run_ids()) == {first, preview}

    ask_whole = {"layout": "tab", "divergence": 2.0}
    wholes = [client.post(f"/api/jobs/{preview}/again", json=ask_whole) for _ in range(2)]
    (whole,) = {answer.json()["job_id"] for answer in wholes}
    assert whole not in (first, preview) and jobs.get(whole).layout.value == "tab"
    assert storage.size(source_key(whole)) == long_clip.stat().st_size
    assert len(jobs.list_all()) == 3

    # Once it is cancelled (or failed), the same ask is a new try; so it is once deleted, and
    # under an id of its own (what a job leaves, a KFP run named after it, is not the new one's).
    client.post(f"/api/jobs/{whole}/cancel")
    retried = client.post(f"/api/jobs/{preview}/again", json=ask_whole).json()["job_id"]
    assert retried not in (first, preview, whole) and len(jobs.list_all()) == 4
    client.post(f"/api/jobs/{retried}/cancel")
    assert client.delete(f"/api/jobs/{retried}").status_code == 204
    after_delete = client.post(f"/api/jobs/{preview}/again", json=ask_whole).json()["job_id"]
    assert after_delete not in (first, preview, whole, retried)


def _race(*calls):
    """Run ``calls`` at the same instant on their own threads; their results in order."""
    barrier = threading.Barrier(len(calls))
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(lambda call=call: (barrier.wait(), call())[1]) for call in calls]
        return [future.result(timeout=120) for future in futures]


def test_a_held_video_previews_again_or_starts_with_its_own_settings(
    client, jobs, launcher, long_clip
) -> None:
    job_id, upload = create_job_via_api(client, layout="tab", source_name="holiday.mp4")
    post_upload(client, upload, long_clip)
    first = client.post(f"/api/jobs/{job_id}/start", json={"preview": True}).json()

    second = client.post(
        f"/api/jobs/{job_id}/again", json={"layout": "anaglyph", "preview": True}
    ).json()

    assert second["preview_of"] == job_id and second["job_id"] != first["job_id"]
    assert second["layout"] == "anaglyph" and jobs.get(job_id).held

    started = client.post(f"/api/jobs/{job_id}/start", json={}).json()

    assert started["job_id"] == job_id and started["status"] == "queued"
    assert started["layout"] == "tab", "its own settings"
    assert set(launcher.run_ids()) == {first["job_id"], second["job_id"], job_id}


def test_a_part_of_an_uploaded_video_converts_without_a_new_upload(
    client, jobs, storage, long_clip
) -> None:
    first = _finished_job(client, jobs, long_clip)
    page = client.get(f"/jobs/{first}").text
    assert 'name="start"' in page and 'name="end"' in page, "the form asks for a part"

    response = client.post(
        f"/jobs/{first}/again",
        data={"layout": "sbs", "start": "0:02.625", "end": "7", "csrf_token": csrf_token(client)},
        follow_redirects=False,
    )

    assert response.status_code == 303, response.text
    part = jobs.get(response.headers["location"].removeprefix("/jobs/"))
    assert (part.part_of, part.part, part.preview_of) == (first, Part(start=2.625, end=7), None)
    assert part.status is JobStatus.QUEUED and part.layout.value == "sbs"
    assert part.source_name == "holiday.mp4"
    # Its run cuts the part (a long one takes minutes): the request copies the video.
    assert storage.size(source_key(part.job_id)) == long_clip.stat().st_size
    page = client.get(f"/jobs/{part.job_id}").text
    said = re.search(r'<p class="meta" id="part-of">(.*?)</p>', page, re.S).group(1)
    assert said == f'The part from 0:02.625 to 0:07 of <a href="/jobs/{first}">the whole video</a>.'
    # Converting it again keeps to the part unless the form is cleared.
    jobs.transition(part.job_id, JobStatus.COMPLETED)
    page = client.get(f"/jobs/{part.job_id}").text
    assert 'value="0:02.625"' in page and 'value="0:07"' in page
    play = client.get(f"/jobs/{part.job_id}/play").text
    assert 'download="holiday_0m02.625s-0m07s_LR.mp4"' in play, "named as the CLI names it"
    assert '<small class="part">from 0:02.625 to 0:07</small>' in client.get("/jobs").text

    # Again from the part with no part asked for: the whole video, the first upload.
    whole = client.post(f"/api/jobs/{part.job_id}/again", json={}).json()
    assert (whole["part"], whole["part_of"], whole["source_name"]) == (None, None, "holiday.mp4")
    assert storage.size(source_key(whole["job_id"])) == long_clip.stat().st_size

    # The part keeps its copy of the whole video: with the first job deleted, it still
    # converts again, the whole video or another part.
    assert client.delete(f"/api/jobs/{first}").status_code == 204
    page = client.get(f"/jobs/{part.job_id}").text
    said = re.search(r'<p class="meta" id="part-of">(.*?)</p>', page, re.S).group(1)
    assert said == "The part from 0:02.625 to 0:07 of the video."
    assert f'action="/jobs/{part.job_id}/again"' in page
    other = client.post(f"/api/jobs/{part.job_id}/again", json={"start": 1, "end": 2})
    assert other.status_code == 202, other.text
    assert other.json()["part"] == {"start": 1.0, "end": 2.0}
    assert storage.size(source_key(other.json()["job_id"])) == long_clip.stat().st_size


def test_a_preview_of_a_part_then_the_part_itself(client, jobs, storage, long_clip) -> None:
    first = _finished_job(client, jobs, long_clip)
    preview = client.post(
        f"/api/jobs/{first}/again", json={"preview": True, "start": "0:02", "end": 10}
    ).json()

    assert (preview["preview_of"], preview["preview_within"], preview["part"]) == (
        first,
        {"start": 2.0, "end": 10.0},
        None,
    )
    assert preview["source_name"] == "holiday_0m02s-0m10s_preview.mp4"
    jobs.transition(preview["job_id"], JobStatus.COMPLETED)
    page = client.get(f"/jobs/{preview['job_id']}").text
    assert "A 5 s preview of the part from 0:02 to 0:10 of" in page
    fields = _form_fields(page, "whole-video")
    assert "Convert the part from 0:02 to 0:10 like this" in page
    started = client.post(f"/jobs/{preview['job_id']}/again", data=fields, follow_redirects=False)

    part = jobs.get(started.headers["location"].removeprefix("/jobs/"))
    assert (part.part_of, part.part, part.preview_of) == (first, Part(start=2, end=10), None)
    assert part.source_name == "holiday.mp4"


def test_a_preview_says_how_long_it_is(client, jobs, clip_mp4, long_clip) -> None:
    def said(job_id: str, **asked) -> str:
        preview = client.post(f"/api/jobs/{job_id}/again", json={"preview": True, **asked})
        page = client.get(f"/jobs/{preview.json()['job_id']}").text
        found = re.search(r'<p class="meta" id="preview-of">(.*?)</p>', page, re.S).group(1)
        return re.sub(r"<[^>]+>", "", found)

    long_one = _finished_job(client, jobs, long_clip)
    # A part shorter than a preview is converted whole: 2.5 s, not 5.
    assert said(long_one, start="0:01", end=3.5) == (
        "A preview of the whole part from 0:01 to 0:03.5 of the whole video."
    )
    assert said(long_one) == "A 5 s preview of the whole video."
    # A video shorter than a preview: its own length.
    assert said(_finished_job(client, jobs, clip_mp4)) == "A 3 s preview of the whole video."


def test_a_part_asked_for_with_the_upload_is_what_the_job_converts(
    client, jobs, storage, launcher, long_clip
) -> None:
    job_id = create_job_via_form(client, layout="sbs")
    page = client.get(f"/jobs/{job_id}").text
    assert 'id="upload-start"' in page and 'id="upload-end"' in page
    form = _upload_form(page)
    assert 'name="start"' not in form and 'name="end"' not in form, "not sent to the storage"
    upload_in_parts(client, job_id, long_clip)

    response = client.post(
        f"/jobs/{job_id}/start",
        data={"source_name": "holiday.mp4", "start": "3", "end": "0:09.5"},
        headers={"X-CSRF-Token": csrf_token(client), "Accept": "application/json"},
    )

    assert response.status_code == 202, response.text
    job = jobs.get(job_id)
    assert (job.status, job.part, job.part_of) == (JobStatus.QUEUED, Part(start=3, end=9.5), None)
    assert list(launcher.run_ids()) == [job_id] and len(jobs.list_all()) == 1, "no copy"
    said = re.search(r'<p class="meta" id="part-of">(.*?)</p>', client.get(f"/jobs/{job_id}").text)
    assert said.group(1) == "The part from 0:03 to 0:09.5 of the video."


def test_a_part_past_the_end_of_the_upload_fails_the_job_and_keeps_the_video(
    client, jobs, storage, launcher, long_clip
) -> None:
    job_id, upload = create_job_via_api(client, layout="anaglyph")
    post_upload(client, upload, long_clip)
    started = client.post(f"/api/jobs/{job_id}/start", json={"source_name": "holiday.mp4",
                                                             "start": "0:30"})  # fmt: skip

    assert started.status_code == 202 and started.json()["status"] == "failed"
    job = jobs.get(job_id)
    assert job.error == "The part asked for starts at 30 s, and the video is only 12.0 s long."
    assert not list(launcher.run_ids()), "nothing ran"
    page = client.get(f"/jobs/{job_id}").text
    assert job.error in page and f'action="/jobs/{job_id}/again"' in page, "try other times"
    again = client.post(f"/api/jobs/{job_id}/again", json={"start": 3})
    assert again.status_code == 202 and again.json()["part"] == {"start": 3.0, "end": None}


def test_a_part_past_the_end_of_a_held_video_is_refused_and_it_stays_held(
    client, jobs, launcher, long_clip
) -> None:
    job_id, upload = create_job_via_api(client, source_name="holiday.mp4")
    post_upload(client, upload, long_clip)
    preview = client.post(f"/api/jobs/{job_id}/start", json={"preview": True}).json()
    said = "The part asked for starts at 50 s, and the video is only 12.0 s long."

    api = client.post(f"/api/jobs/{job_id}/start", json={"start": 50})
    form = client.post(
        f"/jobs/{job_id}/start", data={"start": "50", "csrf_token": csrf_token(client)}
    )

    assert api.status_code == 422
    assert api.json()["detail"] == [
        {"type": "value_error", "loc": ["body", "start"], "msg": said, "input": 50}
    ]
    assert form.status_code == 422 and said in html.unescape(form.text)
    assert jobs.get(job_id).held and jobs.get(job_id).error is None
    assert list(launcher.run_ids()) == [preview["job_id"]], "nothing ran for it"
    started = client.post(f"/api/jobs/{job_id}/start", json={"start": 3})
    assert started.status_code == 202 and started.json()["status"] == "queued"
    assert started.json()["part"] == {"start": 3.0, "end": None}


def test_a_held_video_starts_itself_on_the_part_its_preview_was_taken_from(
    client, jobs, storage, launcher, long_clip
) -> None:
    job_id, upload = create_job_via_api(client, layout="tab", source_name="holiday.mp4")
    post_upload(client, upload, long_clip)
    preview = client.post(
        f"/api/jobs/{job_id}/start", json={"preview": True, "start": 2, "end": "0:10"}
    ).json()
    assert (preview["preview_of"], preview["preview_within"]) == (
        job_id,
        {"start": 2.0, "end": 10.0},
    )
    assert jobs.get(job_id).held and jobs.get(job_id).part == Part(start=2, end=10)

    jobs.transition(preview["job_id"], JobStatus.COMPLETED)
    fields = _form_fields(client.get(f"/jobs/{preview['job_id']}").text, "whole-video")
    started = client.post(f"/jobs/{preview['job_id']}/again", data=fields, follow_redirects=False)

    assert started.headers["location"] == f"/jobs/{job_id}", "the held job itself, no copy"
    whole = jobs.get(job_id)
    assert (whole.status, whole.part) == (JobStatus.QUEUED, Part(start=2, end=10))
    assert len(jobs.list_all()) == 2


def test_a_video_held_for_its_preview_keeps_the_part_it_was_uploaded_for(
    client, jobs, launcher, long_clip
) -> None:
    job_id = create_job_via_form(client, layout="sbs")
    upload_in_parts(client, job_id, long_clip)
    client.post(
        f"/jobs/{job_id}/start",
        data={"source_name": "holiday.mp4", "preview": "on", "start": "0:01", "end": "3.5"},
        headers={"X-CSRF-Token": csrf_token(client), "Accept": "application/json"},
    )

    assert client.get(f"/api/jobs/{job_id}").json()["part"] == {"start": 1.0, "end": 3.5}
    page = client.get(f"/jobs/{job_id}").text
    assert "then for you to convert the part from 0:01 to 0:03.5" in page
    said = re.search(r'<p class="meta" id="part-of">(.*?)</p>', page, re.S).group(1)
    assert said == "Uploaded to convert the part from 0:01 to 0:03.5 of the video."
    form = re.search(r'<details class="again".*?</form>', page, re.S).group(0)
    start = re.search(r'id="start" name="start"[^>]* value="([^"]*)"', form).group(1)
    end = re.search(r'id="end" name="end"[^>]* value="([^"]*)"', form).group(1)
    assert (start, end) == ("0:01", "0:03.5")

    # "Convert" there, with the part's fields as they are filled, converts that part.
    fields = {"csrf_token": csrf_token(client), "layout": "sbs", "start": start, "end": end}
    started = client.post(f"/jobs/{job_id}/again", data=fields, follow_redirects=False)

    assert started.headers["location"] == f"/jobs/{job_id}"
    whole = jobs.get(job_id)
    assert (whole.status, whole.part) == (JobStatus.QUEUED, Part(start=1, end=3.5))


@pytest.mark.parametrize(
    ("part", "said"),
    [
        ({"start": 5, "end": 3}, "the end (3 s) must come after the start (5 s)"),
        ({"start": "1:75"}, "'1:75' is not a clock"),
        (
            {"start": "0:20"},
            "The part asked for starts at 20 s, and the video is only 12.0 s long.",
        ),
    ],
)
def test_a_part_that_cannot_be_cut_is_refused_and_makes_no_job(
    client, jobs, long_clip, part, said
) -> None:
    first = _finished_job(client, jobs, long_clip)
    response = client.post(f"/api/jobs/{first}/again", json=part)
    assert response.status_code == 422 and said in response.text, response.text
    form = client.post(
        f"/jobs/{first}/again",
        data={key: str(value) for key, value in part.items()} | {"csrf_token": csrf_token(client)},
    )
    assert form.status_code == 422 and said in html.unescape(form.text), form.text
    assert len(jobs.list_all()) == 1


def test_a_refused_convert_again_leads_back_to_its_job(client, jobs, long_clip) -> None:
    first = _finished_job(client, jobs, long_clip)
    form = client.post(
        f"/jobs/{first}/again",
        data={"start": "0:05", "end": "2", "csrf_token": csrf_token(client)},
    )

    assert form.status_code == 422
    assert re.search(rf'<a class="button primary" href="/jobs/{first}" id="back">', form.text)


def test_convert_again_is_refused_without_a_stored_video(client, jobs, storage, long_clip):
    never_uploaded, _ = create_job_via_api(client)
    response = client.post(f"/api/jobs/{never_uploaded}/again", json={})
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "This job's video has not been uploaded yet; upload it on the job's page, which then "
        "converts it."
    )

    deleted = _finished_job(client, jobs, long_clip)
    storage.delete_prefix(f"input/{deleted}/")
    assert client.post(f"/api/jobs/{deleted}/again", json={"preview": True}).status_code == 409
    assert len(jobs.list_all()) == 2, "no job was made"

    first = _finished_job(client, jobs, long_clip)
    preview = client.post(f"/api/jobs/{first}/again", json={"preview": True}).json()["job_id"]
    jobs.transition(preview, JobStatus.COMPLETED)
    assert client.delete(f"/api/jobs/{first}").status_code == 204
    whole = client.post(f"/api/jobs/{preview}/again", json={})
    assert whole.status_code == 409
    assert "this preview was cut from has been deleted" in whole.json()["detail"]


def _auth_client(settings, storage, jobs, **auth) -> TestClient:
    secured = settings.model_copy(update=auth)
    return TestClient(create_app(secured, storage=storage, jobs=jobs))


def test_bearer_token_is_required_when_configured(settings, storage, jobs) -> None:
    from pydantic import SecretStr

    client = _auth_client(settings, storage, jobs, auth_token=SecretStr("t0ken-for-scripts"))

    assert client.get("/api/jobs").status_code == 401
    assert client.get("/").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.get("/api/jobs", headers=wrong).status_code == 401
    right = {"Authorization": "Bearer t0ken-for-scripts"}
    assert client.get("/api/jobs", headers=right).status_code == 200


def test_basic_auth_is_required_when_configured(settings, storage, jobs, clip_mp4) -> None:
    from pydantic import SecretStr

    client = _auth_client(settings, storage, jobs, basic_auth=SecretStr("ann:s3cret"))

    def basic(credentials: str) -> dict:
        return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}

    denied = client.get("/")
    assert denied.status_code == 401
    assert denied.headers["www-authenticate"].startswith("Basic")
    assert client.get("/", headers=basic("ann:wrong")).status_code == 401
    assert client.get("/", headers=basic("ann:s3cret")).status_code == 200
    # Signed storage URLs carry their own authority, like S3's.
    storage.put_file(clip_mp4, final_key("authJob_0123456789abcdef"))
    url = storage.presign_download(final_key("authJob_0123456789abcdef"))
    assert client.get(url).status_code == 200


def test_portal_is_open_when_no_auth_is_configured(client) -> None:
    assert client.get("/api/jobs").status_code == 200


def test_a_convert_whose_run_was_killed_shows_stopped_with_how_to_resume(client, jobs, settings):
    job = jobs.create(Job(source_name="film.mp4", output_path="/home/me/film_3d.mp4"))
    for status in (JobStatus.UPLOADED, JobStatus.QUEUED, JobStatus.CHUNKING, JobStatus.PROCESSING):
        jobs.transition(job.job_id, status)
    with run_lock_held(settings.runs_dir, job.job_id):  # its runner is converting it
        page = client.get(f"/jobs/{job.job_id}").text
        assert 'id="job-bar"' in page and 'id="stopped"' not in page

    # The runner was killed: its lock is left and free, the record still says processing.
    page = client.get(f"/jobs/{job.job_id}").text
    assert "Stopped part-way" in page and 'id="stopped"' in page
    assert f"stereo-spot jobs retry {job.job_id}" in page
    assert 'id="job-bar"' not in page and "data-poll-url" not in page, "nothing will move it"
    assert f'action="/jobs/{job.job_id}/cancel"' in page, "it can still be cancelled"

    # Or deleted as it is, as `jobs delete` does: it was refused as "still running".
    assert f'action="/jobs/{job.job_id}/delete"' in page and "or delete the job" in page
    deleted = client.post(
        f"/jobs/{job.job_id}/delete",
        data={"csrf_token": csrf_token(client), "confirmed": "yes"},
        follow_redirects=False,
    )
    assert deleted.status_code == 303, deleted.text
    assert client.get(f"/jobs/{job.job_id}").status_code == 404


def test_the_api_says_a_job_stopped_part_way_as_its_page_does(client, jobs, settings) -> None:
    # The page said "Stopped part-way" while the API said processing, with no hint that the
    # status would never move.
    job = jobs.create(Job(source_name="film.mp4", output_path="/home/me/film_3d.mp4"))
    for status in (JobStatus.UPLOADED, JobStatus.QUEUED, JobStatus.CHUNKING, JobStatus.PROCESSING):
        jobs.transition(job.job_id, status)

    def listed() -> dict:
        page = client.get("/api/jobs", params={"show": "unfinished"}).json()["jobs"]
        return {entry["job_id"]: entry for entry in page}[job.job_id]

    with run_lock_held(settings.runs_dir, job.job_id):  # its runner is converting it
        converting = client.get(f"/api/jobs/{job.job_id}").json()
        assert converting["status"] == "processing" and converting["stopped"] is False
        assert listed()["stopped"] is False

    stopped = client.get(f"/api/jobs/{job.job_id}").json()  # the runner was killed
    assert stopped["status"] == "processing" and stopped["stopped"] is True
    assert listed()["stopped"] is True
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]["JobOut"]
    assert "stopped part-way" in schema["properties"]["stopped"]["description"]
    assert "stopped" in schema["required"]


def test_a_cancelled_job_says_cancelled_when_it_refuses_an_upload(client, jobs, clip_mp4):
    job_id, upload = create_job_via_api(client)
    cancel(jobs, job_id)
    said = "This job is cancelled; it takes no more uploads."

    form = post_upload(client, upload, clip_mp4)
    parts = client.post(f"/api/jobs/{job_id}/uploads", json={"size": 1_000_000})
    target = client.get(f"/api/jobs/{job_id}/upload")

    for refused in (form, parts, target):
        assert refused.status_code == 409 and refused.json()["detail"] == said


def test_a_cancelled_or_failed_job_is_not_started_again(client, jobs, clip_mp4, not_a_video):
    cancelled, upload = create_job_via_api(client)
    post_upload(client, upload, clip_mp4)
    assert client.post(f"/api/jobs/{cancelled}/start").status_code == 202
    cancel(jobs, cancelled)
    failed, upload = create_job_via_api(client)
    post_upload(client, upload, not_a_video)
    first = client.post(f"/api/jobs/{failed}/start")
    assert first.status_code == 202 and first.json()["status"] == "failed", (
        "the start that failed it"
    )
    reason = jobs.get(failed).error.rstrip(".")

    answers = {
        job_id: [
            client.post(f"/api/jobs/{job_id}/start"),
            client.post(f"/api/jobs/{job_id}/start", json={"preview": True}),
            _start(client, job_id),
        ]
        for job_id in (cancelled, failed)
    }

    said = {
        cancelled: "This job was cancelled; a cancelled job does not start again",
        failed: f"This job failed ({reason}); a failed job does not start again",
    }
    for job_id, refusals in answers.items():
        for refused in refusals:
            assert refused.status_code == 409
            assert refused.json()["detail"] == (
                f"{said[job_id]}: convert its video again from its page, or upload it in a new job."
            )
        assert jobs.get(job_id).status is JobStatus.FAILED
    assert len(jobs.list_all(limit=10)) == 2, "no preview was made"
