"""What a job's page says and offers in the cases a reviewer found wanting: settings the form's
lists lack, a stopped job, no JavaScript, a part of a part, a file that is no video."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from stereo_spot.domain import Job, JobStatus, Part, StereoParams
from tests.portal.conftest import (
    create_job_via_api,
    csrf_token,
    post_upload,
    upload_in_parts,
)
from tests.processes import run_lock_held


def _finished(client, jobs, clip: Path, **settings) -> str:
    job_id, upload = create_job_via_api(client, **settings)
    post_upload(client, upload, clip)
    client.post(f"/api/jobs/{job_id}/start", json={"source_name": clip.name})
    jobs.transition(job_id, JobStatus.COMPLETED)
    return job_id


def _element(page: str, pattern: str) -> str:
    found = re.search(pattern, page, re.S)
    assert found, pattern
    return found.group(0)


def _said(page: str, element_id: str) -> str:
    """The words of the element ``element_id``, its markup and spacing left out."""
    inner = _element(page, rf'id="{element_id}"[^>]*>(.*?)</p>')
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", inner.split(">", 1)[1])).split())


def test_convert_again_sends_the_jobs_own_settings_the_form_does_not_list(
    client, jobs, clip_mp4
) -> None:
    # As `convert --divergence 2.55 --convergence 0.62 --max-height 240` makes it.
    first = _finished(
        client, jobs, clip_mp4, divergence=2.55, convergence=0.62, max_height=240, layout="sbs"
    )
    page = client.get(f"/jobs/{first}").text

    # The browser takes the values as they are (a step of 0.1 refused 2.55), and the picture
    # size is the job's, not "Same as the source".
    divergence = _element(page, r'<input type="number" id="divergence"[^>]*>')
    convergence = _element(page, r'<input type="number" id="convergence"[^>]*>')
    assert 'step="any"' in divergence and 'value="2.55"' in divergence and 'min="0"' in divergence
    assert 'step="any"' in convergence and 'value="0.62"' in convergence
    select = _element(page, r'<select id="max_height".*?</select>')
    assert re.findall(r'<option value="(\d*)" selected', select) == ["240"]
    assert re.findall(r'<option value="(\d*)"', select) == [
        "",
        "2160",
        "1440",
        "1080",
        "720",
        "240",
    ]

    # The form sent as it stands converts alike.
    again = client.post(
        f"/jobs/{first}/again",
        data={
            "csrf_token": csrf_token(client),
            "layout": "sbs",
            "divergence": "2.55",
            "convergence": "0.62",
            "max_height": "240",
        },
        follow_redirects=False,
    )
    assert again.status_code == 303, again.text
    made = jobs.get(again.headers["location"].removeprefix("/jobs/"))
    assert (made.params.divergence, made.params.convergence) == (2.55, 0.62)
    assert made.params.max_height == 240


def test_a_listed_picture_size_is_offered_once(client, jobs, clip_mp4) -> None:
    first = _finished(client, jobs, clip_mp4, max_height=720)
    select = _element(client.get(f"/jobs/{first}").text, r'<select id="max_height".*?</select>')
    assert re.findall(r'<option value="(\d*)"', select) == ["", "2160", "1440", "1080", "720"]
    assert re.findall(r'<option value="(\d*)" selected', select) == ["720"]


@pytest.mark.parametrize(
    ("segments", "said"),
    [
        ((0, 0), "It stopped before the video was split into segments."),
        ((12, 0), "None of its 12 segments had been converted."),
        ((12, 5), "The 5 of 12 segments converted so far are kept."),
    ],
    ids=["not split yet", "none converted", "some converted"],
)
def test_a_stopped_job_has_its_own_badge_and_says_plainly_how_to_resume(
    client, jobs, settings, segments, said
) -> None:
    job = jobs.create(Job(source_name="film.mp4", output_path="/home/me/film_3d.mp4"))
    for status in (JobStatus.UPLOADED, JobStatus.QUEUED, JobStatus.CHUNKING, JobStatus.PROCESSING):
        jobs.transition(job.job_id, status)
    total, done = segments
    jobs.update(job.job_id, total_segments=total, completed_segments=done)
    with run_lock_held(settings.runs_dir, job.job_id):
        pass  # its command was killed: the record still says processing

    page = client.get(f"/jobs/{job.job_id}").text
    assert '<span class="badge">stopped</span>' in page
    assert 'class="phase status-stopped"' in page
    stopped = _said(page, "stopped")
    assert said in stopped
    assert "of ? segments" not in stopped
    assert stopped.count(f"stereo-spot jobs retry {job.job_id}") == 1, stopped
    assert stopped.endswith("or delete the job."), stopped


def test_the_upload_form_is_unusable_without_javascript_and_says_what_to_do(client) -> None:
    job_id, _ = create_job_via_api(client)
    page = client.get(f"/jobs/{job_id}").text
    form = _element(page, r'<form id="upload-form".*?</form>')

    # The controls come disabled (portal.js enables them), so nothing submits a GET that
    # does nothing.
    controls = re.findall(r"<(?:input|button)\b[^>]*>", form)
    assert len(controls) == 5 and all(re.search(r"\bdisabled\b", c) for c in controls), controls
    notice = _element(form, r"<noscript>.*?</noscript>")
    assert "turn JavaScript on" in notice and "stereo-spot submit URL FILE" in notice


def test_the_upload_and_job_pages_name_their_fields_and_bars(client, jobs, launcher, clip_mp4):
    job_id, _ = create_job_via_api(client)
    upload_page = client.get(f"/jobs/{job_id}").text
    assert 'aria-label="from"' not in upload_page and 'aria-label="to"' not in upload_page
    assert 'aria-label="Only a part: from"' in upload_page
    assert _element(upload_page, r'<progress id="upload-bar"[^>]*>').count("aria-label=") == 1

    running, upload = create_job_via_api(client)
    post_upload(client, upload, clip_mp4)
    client.post(f"/api/jobs/{running}/start", json={"source_name": clip_mp4.name})
    page = client.get(f"/jobs/{running}").text
    assert _element(page, r'<progress id="job-bar"[^>]*>').count("aria-label=") == 1
    assert 'aria-live="polite"' in _element(page, r'<span id="job-percent"[^>]*>')
    # Where the page's script says that its updates have stopped (portal.js statusPage).
    assert re.search(r'<p class="alert" id="updates" role="alert" hidden>', page)

    jobs.transition(running, JobStatus.COMPLETED)
    again = _element(client.get(f"/jobs/{running}").text, r'<form [^>]*id="again-form".*?</form>')
    assert 'aria-label="Only a part: from"' in again and 'aria-label="Only a part: to"' in again


def test_a_part_of_a_part_links_the_job_holding_the_whole_video(
    client, jobs, storage, long_clip
) -> None:
    whole = _finished(client, jobs, long_clip)
    part = client.post(f"/api/jobs/{whole}/again", json={"start": 2, "end": 8}).json()["job_id"]
    jobs.transition(part, JobStatus.COMPLETED)

    # From the part, with the job of the whole video still there: that job is linked.
    inner = client.post(f"/api/jobs/{part}/again", json={"start": 3, "end": 5}).json()["job_id"]
    said = _element(client.get(f"/jobs/{inner}").text, r'<p class="meta" id="part-of">.*?</p>')
    assert f'<a href="/jobs/{whole}">the whole video</a>' in said

    # With it deleted, the part's copy is the whole video, and the link says it is a part's.
    assert client.delete(f"/api/jobs/{whole}").status_code == 204
    other = client.post(f"/api/jobs/{part}/again", json={"start": 3, "end": 5}).json()["job_id"]
    assert jobs.get(other).part_of == part and jobs.get(other).part == Part(start=3, end=5)
    said = _said(client.get(f"/jobs/{other}").text, "part-of")
    assert said == "The part from 0:03 to 0:05 of the video that the job of its part from " + (
        "0:02 to 0:08 holds whole."
    )
    assert f'href="/jobs/{part}"' in client.get(f"/jobs/{other}").text


def test_a_job_whose_file_is_no_video_leads_to_a_new_upload_with_its_settings(
    client, jobs, not_a_video
) -> None:
    job_id, _ = create_job_via_api(client, layout="half-sbs", divergence=3.25, max_height=240)
    upload_in_parts(client, job_id, not_a_video)
    client.post(f"/api/jobs/{job_id}/start", json={"source_name": not_a_video.name})
    assert jobs.get(job_id).status is JobStatus.FAILED

    page = client.get(f"/jobs/{job_id}").text
    form = _element(
        page, r'<form method="post" action="/jobs" class="inline" id="new-upload">.*?</form>'
    )
    assert "Upload another video with these settings" in form
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))
    made = client.post("/jobs", data=fields, follow_redirects=False)

    assert made.status_code == 303, made.text
    new = jobs.get(made.headers["location"].removeprefix("/jobs/"))
    assert new.status is JobStatus.CREATED and new.layout.value == "half-sbs"
    assert new.params == StereoParams(divergence=3.25, max_height=240)
    assert 'id="upload-form"' in client.get(f"/jobs/{new.job_id}").text


@pytest.fixture
def long_clip(tmp_path: Path) -> Path:
    from tests.media import make_clip

    return make_clip(tmp_path / "holiday.mp4", seconds=12)
