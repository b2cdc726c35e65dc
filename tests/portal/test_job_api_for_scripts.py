"""What a script driving the JSON API can rely on: a stopped job resumes, a cancelled job says
so, a start does not change a started job, a part ends where the video does, "convert again"
keeps the settings it is not given, numbers are numbers, and refusals name the field and say
what is true. Over the real portal, storage and job store; the launcher's worker is not started,
so a job handed to it waits there (tests/portal/conftest.py)."""

from __future__ import annotations

import re

import pytest

from portal.services import download_name
from stereo_spot.domain import Job, JobStatus, Part
from stereo_spot.jobs import cancel
from stereo_spot.keys import source_key
from stereo_spot.media.probe import probe_source
from tests.portal.conftest import create_job_via_api, csrf_token, post_upload
from tests.processes import run_lock_held


def _uploaded(client, clip, **settings) -> str:
    job_id, upload = create_job_via_api(client, source_name="clip.mp4", **settings)
    assert post_upload(client, upload, clip).status_code in (200, 201, 204)
    return job_id


def _started(client, clip, body: dict | None = None, **settings) -> dict:
    job_id = _uploaded(client, clip, **settings)
    started = client.post(f"/api/jobs/{job_id}/start", json=body)
    assert started.status_code == 202, started.text
    return started.json()


def _stopped_convert(jobs, storage, settings, clip, engine: str = "classical") -> Job:
    """A job a `stereo-spot convert` made and was killed while converting (kill -9): its
    record says processing, its run lock is left and held by nobody."""
    job = jobs.create(
        Job(source_name="film.mp4", output_path="/home/me/film_3d.mp4", engine=engine)
    )
    storage.put_file(clip, source_key(job.job_id))
    info = probe_source(clip, settings)
    jobs.transition(job.job_id, JobStatus.UPLOADED, source=info)
    for status in (JobStatus.QUEUED, JobStatus.CHUNKING, JobStatus.PROCESSING):
        jobs.transition(job.job_id, status)
    with run_lock_held(settings.runs_dir, job.job_id):
        pass  # its runner held the lock, and was killed
    return jobs.get(job.job_id)


def test_a_job_stopped_part_way_is_resumed_by_its_start(
    client, jobs, storage, settings, launcher, clip_mp4
) -> None:
    job = _stopped_convert(jobs, storage, settings, clip_mp4)
    assert client.get(f"/api/jobs/{job.job_id}").json()["stopped"] is True

    resumed = client.post(f"/api/jobs/{job.job_id}/start")

    assert resumed.status_code == 202, resumed.text
    assert job.job_id in launcher.run_ids(), "handed to the runner, which reuses its segments"
    assert resumed.json()["run_id"] == launcher.run_ids()[job.job_id]
    assert resumed.json()["stopped"] is False, "its run waits in this portal's queue"
    again = client.post(f"/api/jobs/{job.job_id}/start")
    assert again.status_code == 202 and again.json()["run_id"] == resumed.json()["run_id"]
    assert len(launcher.run_ids()) == 1, "submitted once"


def test_a_stopped_job_of_another_engine_is_refused_saying_how_to_resume(
    client, jobs, storage, settings, launcher, clip_mp4
) -> None:
    job = _stopped_convert(jobs, storage, settings, clip_mp4, engine="depth-anything")

    refused = client.post(f"/api/jobs/{job.job_id}/start")

    assert refused.status_code == 409
    assert f"resume it with `stereo-spot jobs retry {job.job_id}`" in refused.json()["detail"]
    assert launcher.run_ids() == {}
    page = client.get(f"/jobs/{job.job_id}").text
    assert 'id="resume-form"' not in page and f"stereo-spot jobs retry {job.job_id}" in page


def test_convert_again_of_a_stopped_job_makes_a_new_conversion(
    client, jobs, storage, settings, launcher, clip_mp4
) -> None:
    job = _stopped_convert(jobs, storage, settings, clip_mp4)

    again = client.post(f"/api/jobs/{job.job_id}/again", json={})

    assert again.status_code == 202, again.text
    made = again.json()
    assert made["job_id"] != job.job_id and made["status"] == "queued"
    assert jobs.get(job.job_id).status is JobStatus.PROCESSING, "the stopped job is left as is"


def test_the_page_of_a_stopped_job_resumes_it(
    client, jobs, storage, settings, launcher, clip_mp4
) -> None:
    job = _stopped_convert(jobs, storage, settings, clip_mp4)
    page = client.get(f"/jobs/{job.job_id}").text
    assert 'id="resume-form"' in page and f'action="/jobs/{job.job_id}/start"' in page
    assert "Convert again" not in page, "nothing offers to convert it anew while it can resume"

    resumed = client.post(
        f"/jobs/{job.job_id}/start",
        data={"csrf_token": csrf_token(client)},
        follow_redirects=False,
    )

    assert resumed.status_code == 303 and resumed.headers["location"] == f"/jobs/{job.job_id}"
    assert job.job_id in launcher.run_ids()
    page = client.get(f"/jobs/{job.job_id}").text
    assert 'id="resume-form"' not in page and 'id="job-bar"' in page, "converting again"


def test_the_api_tells_a_cancelled_job_from_a_failed_one(
    client, jobs, clip_mp4, not_a_video
) -> None:
    cancelled = _started(client, clip_mp4)["job_id"]
    cancel(jobs, cancelled)
    failed = _started(client, not_a_video)["job_id"]
    converting = _started(client, clip_mp4)["job_id"]

    said = {
        job_id: client.get(f"/api/jobs/{job_id}").json()
        for job_id in (cancelled, failed, converting)
    }

    assert said[cancelled]["status"] == said[failed]["status"] == "failed"
    assert [said[job_id]["cancelled"] for job_id in (cancelled, failed, converting)] == [
        True,
        False,
        False,
    ]
    listed = client.get("/api/jobs", params={"show": "unfinished"}).json()["jobs"]
    assert {job["job_id"]: job["cancelled"] for job in listed}[cancelled] is True
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]["JobOut"]
    assert "cancelled" in schema["required"] and "stopped" in schema["required"]
    assert schema["properties"]["cancelled"]["type"] == "boolean"


@pytest.mark.parametrize(
    "body",
    [{"preview": True}, {"start": 1, "end": 2}, {"preview": True, "start": 1, "end": 2}],
)
def test_a_start_asking_otherwise_of_a_started_job_is_refused(client, jobs, clip_mp4, body):
    job = _started(client, clip_mp4)

    refused = client.post(f"/api/jobs/{job['job_id']}/start", json=body)

    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert detail.startswith("This job already converts the whole video with its own settings")
    assert f"POST /api/jobs/{job['job_id']}/again" in detail
    assert jobs.get(job["job_id"]).part is None and len(jobs.list_all()) == 1


def test_a_start_asking_the_same_of_a_started_job_answers_with_it(client, jobs, clip_mp4):
    job = _started(client, clip_mp4, {"start": 1, "end": 2})

    for body in (None, {}, {"start": 1, "end": 2}, {"start": "0:01", "end": "0:02"}):
        repeat = client.post(f"/api/jobs/{job['job_id']}/start", json=body)
        assert repeat.status_code == 202, (body, repeat.text)
        assert repeat.json()["run_id"] == job["run_id"]

    other = client.post(f"/api/jobs/{job['job_id']}/start", json={"start": 0.5})
    assert other.status_code == 409
    assert "already converts the part from 0:01 to 0:02" in other.json()["detail"]


def test_a_part_past_the_videos_end_ends_with_the_video(client, jobs, clip_mp4):
    # The clip is 3 s long, as the CLI's `--end 100` of it converts and names it.
    job = _started(client, clip_mp4, layout="sbs")
    again = client.post(f"/api/jobs/{job['job_id']}/again", json={"start": 1, "end": 100})
    started = _started(client, clip_mp4, {"start": 1, "end": 100})

    for made in (again.json(), started):
        assert made["part"] == {"start": 1.0, "end": None}
        assert jobs.get(made["job_id"]).part == Part(start=1)
    assert download_name(jobs.get(again.json()["job_id"])) == "clip_0m01s-end_LR.mp4"
    # Asked again so, or to its end, it is the same conversion, not a second one.
    same = client.post(f"/api/jobs/{job['job_id']}/again", json={"start": 1})
    assert same.json()["job_id"] == again.json()["job_id"]


def test_a_part_recorded_unread_shows_as_converted_once_the_video_is_read(
    client, jobs, settings, clip_mp4
) -> None:
    # On S3 the portal queues a part unread; its run's chunk step then records the probe.
    job = jobs.create(Job(source_name="clip.mp4", part=Part(start=1, end=100)))
    jobs.transition(job.job_id, JobStatus.UPLOADED)
    jobs.transition(job.job_id, JobStatus.QUEUED, source=probe_source(clip_mp4, settings))

    shown = client.get(f"/api/jobs/{job.job_id}").json()

    assert shown["part"] == {"start": 1.0, "end": None}
    assert download_name(jobs.get(job.job_id)) == "clip_0m01s-end_redcyan.mp4"
    assert "from 0:01 to the end" in client.get(f"/jobs/{job.job_id}").text


def test_convert_again_keeps_the_settings_it_is_not_given(client, clip_mp4) -> None:
    sbs = _started(client, clip_mp4, layout="sbs", crf=23, max_height=720)["job_id"]
    h264 = _started(client, clip_mp4, layout="tab")["job_id"]

    deeper = client.post(f"/api/jobs/{sbs}/again", json={"divergence": 2}).json()
    hevc = client.post(f"/api/jobs/{h264}/again", json={"codec": "hevc"}).json()
    kept_crf = client.post(f"/api/jobs/{sbs}/again", json={"codec": "hevc"}).json()
    reset = client.post(f"/api/jobs/{sbs}/again", json={"crf": None, "max_height": None}).json()

    assert deeper["layout"] == "sbs" and deeper["params"]["divergence"] == 2.0
    assert (deeper["params"]["crf"], deeper["params"]["max_height"]) == (23, 720)
    assert (hevc["layout"], hevc["params"]["crf"]) == ("tab", 20), "HEVC's own default"
    assert kept_crf["params"]["crf"] == 23, "a quality the job was given stays"
    assert (reset["params"]["crf"], reset["params"]["max_height"]) == (18, None)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"divergence": True, "convergence": False, "crf": True}, ["divergence", "convergence", "crf"]),
        ({"max_height": "720"}, ["max_height"]),
        ({"divergence": "2.5"}, ["divergence"]),
        ({"crf": "20"}, ["crf"]),
    ],
)  # fmt: skip
def test_a_number_given_as_a_boolean_or_a_string_is_refused(client, jobs, body, fields):
    created = client.post("/api/jobs", json=body)

    assert created.status_code == 422, created.text
    assert [problem["loc"] for problem in created.json()["detail"]] == [
        ["body", field] for field in fields
    ]
    assert jobs.list_all() == [], "nothing was made of it"


def test_glasses_asked_for_a_layout_without_colours_are_refused(client, jobs) -> None:
    # Taken and ignored, a script's side by side came out where it looked for grey anaglyph
    # colours; the command line refuses the same (--anaglyph-mode with --layout sbs).
    created = client.post("/api/jobs", json={"layout": "sbs", "anaglyph_mode": "gray"})

    assert created.status_code == 422, created.text
    (problem,) = created.json()["detail"]
    assert problem["loc"] == ["body", "anaglyph_mode"]
    assert problem["msg"] == (
        "anaglyph_mode chooses the colours of the anaglyph layout; layout sbs has none: leave "
        "anaglyph_mode out, or ask for layout anaglyph"
    )
    assert jobs.list_all() == [], "nothing was made of it"


def test_the_form_sends_its_glasses_whatever_the_layout(client, jobs) -> None:
    # Without the page's script (which disables the select) they come with any layout: taken,
    # and dropped as the API would refuse them.
    made = client.post(
        "/jobs",
        data={"csrf_token": csrf_token(client), "layout": "tab", "anaglyph_mode": "gray"},
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    (job,) = jobs.list_all()
    assert (job.layout.value, job.params.anaglyph_mode) == ("tab", "dubois")


def test_convert_again_and_start_refuse_a_boolean_for_a_number(client, jobs, clip_mp4):
    job_id = _uploaded(client, clip_mp4)

    start = client.post(f"/api/jobs/{job_id}/start", json={"start": True})
    again = client.post(f"/api/jobs/{job_id}/again", json={"crf": False, "end": True})

    assert [p["loc"] for p in start.json()["detail"]] == [["body", "start"]]
    assert sorted(p["loc"][-1] for p in again.json()["detail"]) == ["crf", "end"]
    assert jobs.get(job_id).status is JobStatus.CREATED


def test_the_forms_still_send_numbers_as_text(client, jobs, clip_mp4) -> None:
    token = csrf_token(client)
    made = client.post(
        "/jobs",
        data={"csrf_token": token, "layout": "sbs", "divergence": "2.5", "crf": "20",
              "max_height": "720"},
        follow_redirects=False,
    )  # fmt: skip
    assert made.status_code == 303, made.text
    job = jobs.list_all()[0]
    assert (job.params.divergence, job.params.crf, job.params.max_height) == (2.5, 20, 720)


def test_an_engine_this_portal_does_not_run_is_refused_naming_the_field(client, jobs, clip_mp4):
    created = client.post("/api/jobs", json={"engine": "stereocrafter"})
    job_id = _started(client, clip_mp4)["job_id"]
    again = client.post(f"/api/jobs/{job_id}/again", json={"engine": "depth-anything"})

    for refused, engine in ((created, "stereocrafter"), (again, "depth-anything")):
        assert refused.status_code == 422
        [problem] = refused.json()["detail"]
        assert problem["loc"] == ["body", "engine"] and problem["input"] == engine
        assert problem["msg"].startswith("This portal's model server runs the 'classical' engine")


def test_a_part_past_the_end_of_a_held_video_is_refused_naming_start(client, jobs, clip_mp4):
    job_id = _uploaded(client, clip_mp4)
    assert client.post(f"/api/jobs/{job_id}/start", json={"preview": True}).status_code == 202
    assert jobs.get(job_id).held

    refused = client.post(f"/api/jobs/{job_id}/start", json={"start": 100})
    again = client.post(f"/api/jobs/{job_id}/again", json={"start": 100})

    for answer in (refused, again):
        assert answer.status_code == 422, answer.text
        [problem] = answer.json()["detail"]
        assert problem["loc"] == ["body", "start"] and problem["input"] == 100
        assert problem["msg"].startswith("The part asked for starts at 1:40,")
    assert jobs.get(job_id).held, "the video stays held for other times"


def test_refusals_say_what_is_true_and_what_to_do(client, jobs, storage, clip_mp4, not_a_video):
    not_video = _started(client, not_a_video)
    queued = _started(client, clip_mp4)["job_id"]
    cancelled = _started(client, clip_mp4)["job_id"]
    cancel(jobs, cancelled)
    assert storage.exists(source_key(not_video["job_id"]))

    again = client.post(f"/api/jobs/{not_video['job_id']}/again", json={})
    play_failed = client.get(f"/api/jobs/{not_video['job_id']}/play")
    play_cancelled = client.get(f"/api/jobs/{cancelled}/play")
    play_queued = client.get(f"/api/jobs/{queued}/play")
    delete_queued = client.delete(f"/api/jobs/{queued}")

    reason = not_video["error"].rstrip(".")
    assert again.status_code == 409 and again.json()["detail"] == (
        f"This job's upload could not be converted ({reason}), so there is nothing to convert "
        "again; upload a video in a new job."
    )
    assert play_failed.json()["detail"] == (
        "This job failed, so it has no result to play; its page says why."
    )
    assert play_cancelled.json()["detail"] == (
        "This job was cancelled before it finished, so it has no result to play."
    )
    assert play_queued.json()["detail"] == (
        "This job is queued; there is nothing to play until it has completed."
    )
    assert delete_queued.status_code == 409 and delete_queued.json()["detail"] == (
        "This job is waiting for its turn to be converted; cancel it first (it then never "
        "starts), then delete it."
    )
    assert not re.search(r"nothing to play yet", play_failed.text + play_cancelled.text)
