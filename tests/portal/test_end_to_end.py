"""The whole embedded flow through the portal: create → signed upload → start → run → play.

Real model server subprocess, real local runner (kfp.local in a child process), real storage and
job store. Slow: tens of seconds on 2 cores.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from components.chunk import chunk_source
from pipelines.local_runner import INTERRUPTED, mark_run_stopped, run_log_path
from stereo_spot.domain import Job, JobStatus
from stereo_spot.jobs import cancel
from stereo_spot.keys import final_key, job_prefixes, segment_prefixes, source_key
from tests.media import make_clip, probe, video_stream
from tests.portal.conftest import create_job_via_form, csrf_token, post_upload, upload_in_parts
from tests.processes import gone_within, processes_mentioning, stereo_spot_command

pytestmark = pytest.mark.slow


def _wait_for_final(client, job_id: str, timeout: float = 240) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if not seen or seen[-1] != job["status"]:
            seen.append(job["status"])
        if job["status"] in ("completed", "failed"):
            return seen
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s; statuses seen: {seen}")


def test_upload_start_convert_and_play(running_client, jobs, storage, clip_mp4: Path, tmp_path):
    client = running_client
    job_id = create_job_via_form(client, layout="half-sbs", divergence="2", engine="classical")
    upload_in_parts(client, job_id, clip_mp4)

    started = client.post(
        f"/jobs/{job_id}/start",
        data={"source_name": "clip.mp4"},
        headers={"X-CSRF-Token": csrf_token(client), "Accept": "application/json"},
    )
    assert started.status_code == 202
    run_id = started.json()["run_id"]
    statuses = _wait_for_final(client, job_id)

    job = jobs.get(job_id)
    assert job.status is JobStatus.COMPLETED, job.error
    assert statuses[0] in ("queued", "chunking", "processing", "reassembling", "completed")
    assert job.total_segments >= 2 and job.completed_segments == job.total_segments
    # The job's page says what the source holds, every sound track included.
    assert "fps, h264 + aac</p>" in client.get(f"/jobs/{job_id}").text
    # Starting it again changes nothing and runs nothing.
    again = client.post(f"/api/jobs/{job_id}/start").json()
    assert again["status"] == "completed" and again["run_id"] == run_id

    play = client.get(f"/jobs/{job_id}/play")
    assert play.status_code == 200
    video_url = re.search(r'<video id="player"[^>]* src="([^"]+)"', play.text).group(1)
    ranged = client.get(video_url.replace("&amp;", "&"), headers={"Range": "bytes=0-1023"})
    assert ranged.status_code == 206 and len(ranged.content) == 1024

    result = storage.get_file(final_key(job_id), tmp_path / "out.mp4")
    stream = video_stream(probe(result))
    assert (stream["width"], stream["height"]) == (192, 108)  # half-SBS keeps the frame size
    assert job_id in client.get("/jobs").text


def test_non_video_upload_ends_failed_with_reason(running_client, jobs, not_a_video) -> None:
    client = running_client
    created = client.post("/api/jobs", json={"layout": "anaglyph"}).json()
    job_id = created["job"]["job_id"]
    post_upload(client, created["upload"], not_a_video)

    client.post(f"/api/jobs/{job_id}/start")

    job = client.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "failed" and job["error"]
    assert "The conversion failed" in client.get(f"/jobs/{job_id}").text


def test_a_running_conversion_is_cancelled_and_its_processes_stop(
    running_client, settings, jobs, storage, tmp_path
) -> None:
    client = running_client
    launcher = client.app.state.launcher
    # The runner and each kfp.local task carry the job id on their command lines.
    job_id = _converting(client, jobs, tmp_path)

    cancelled = client.post(f"/api/jobs/{job_id}/cancel")

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "failed"
    assert launcher.wait_idle(timeout=30), "the run was stopped"

    assert gone_within(job_id, 15)
    job = jobs.get(job_id)
    assert job.status is JobStatus.FAILED and job.error == "Cancelled before it finished."
    assert job.completed_segments < job.total_segments == 20
    assert not storage.exists(final_key(job_id))
    assert "<strong>Cancelled.</strong>" in client.get(f"/jobs/{job_id}").text

    run_folder, run_log = settings.runs_dir / job_id, run_log_path(settings, job_id)
    # Its run folder (scratch, outputs) went as the run stopped: nothing resumes it; the log
    # stays, to tell what happened.
    assert not run_folder.exists() and run_log.is_file()
    # The stop's note is the last word: not the tasks' tracebacks, nor kfp.local retrying them.
    said = run_log.read_text()
    assert said.rstrip().endswith(INTERRUPTED)
    assert "Traceback" not in said and "Retrying" not in said
    # Nothing resumes a cancelled job: its segments went once its run had stopped, and the video
    # stays, to convert it again.
    assert _left_behind(storage, segment_prefixes(job_id)) == []
    assert storage.exists(source_key(job_id))

    assert client.delete(f"/api/jobs/{job_id}").status_code == 204
    for prefix in job_prefixes(job_id):
        assert not storage.list_prefix(prefix), prefix
    assert not run_folder.exists() and not run_log.exists(), "its run's files went with it"


def _left_behind(storage, prefixes) -> list[str]:
    """The objects under ``prefixes``: none once a job's segments or the job are gone (the model
    server stores no segment whose source went while it converted)."""
    return [key for prefix in prefixes for key in storage.list_prefix(prefix)]


def _converting(client, jobs, tmp_path: Path) -> str:
    """A job of twenty 1 s segments that the portal's runner is converting, one done."""
    clip = make_clip(tmp_path / "long.mp4", seconds=20)
    created = client.post("/api/jobs", json={"layout": "sbs"}).json()
    job_id = created["job"]["job_id"]
    post_upload(client, created["upload"], clip)
    client.post(f"/api/jobs/{job_id}/start")
    deadline = time.monotonic() + 120
    while jobs.get(job_id).completed_segments < 1:
        assert time.monotonic() < deadline, jobs.get(job_id)
        time.sleep(0.1)
    assert processes_mentioning(job_id), "the runner is at work"
    return job_id


def test_a_job_cancelled_elsewhere_is_deleted_once_the_portals_run_has_stopped(
    running_client, settings, jobs, storage, tmp_path
) -> None:
    # Cancelled by another portal or `jobs cancel` (a write to the job store), then deleted here
    # at once: the delete answered 204 while this portal's runner went on, wrote a segment no
    # job owned and held the one-at-a-time queue for minutes.
    client = running_client
    job_id = _converting(client, jobs, tmp_path)

    cancel(jobs, job_id)
    deleted = client.delete(f"/api/jobs/{job_id}")

    assert deleted.status_code == 204, deleted.text
    assert not processes_mentioning(job_id), "its run had stopped before it was deleted"
    assert client.app.state.launcher.wait_idle(timeout=5), "the queue is free"
    time.sleep(1)  # a run still going would write its next segment by now
    assert _left_behind(storage, job_prefixes(job_id)) == []
    assert not (settings.runs_dir / job_id).exists()


def test_a_job_cancelled_and_deleted_with_the_cli_stops_the_portals_run(
    running_client, settings, jobs, storage, tmp_path
) -> None:
    # `jobs delete` right after `jobs cancel` said the job was being converted and to cancel it:
    # the portal's run went on until its steps next wrote to the job.
    client = running_client
    job_id = _converting(client, jobs, tmp_path)

    def cli(verb: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*stereo_spot_command(), "jobs", verb, "--data-dir", str(settings.data_dir), job_id],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    cancelled = cli("cancel")
    deleted = cli("delete")

    assert cancelled.returncode == 0 and cancelled.stderr.strip() == f"job {job_id} cancelled."
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stderr.strip().startswith(f"deleted job {job_id} (")
    assert client.app.state.launcher.wait_idle(timeout=5), "the portal stopped its run"
    assert gone_within(job_id, 5)
    assert jobs.list_all(limit=10) == []
    assert _left_behind(storage, job_prefixes(job_id)) == []


def test_a_preview_of_an_uploaded_video_converts_five_seconds_of_it(
    running_client, jobs, storage, tmp_path
) -> None:
    client = running_client
    clip = make_clip(tmp_path / "holiday.mp4", seconds=12)
    created = client.post("/api/jobs", json={"layout": "anaglyph"}).json()
    job_id = created["job"]["job_id"]
    post_upload(client, created["upload"], clip)
    client.post(f"/api/jobs/{job_id}/start", json={"source_name": "holiday.mp4"})
    client.post(f"/api/jobs/{job_id}/cancel")  # the whole video can wait for the right settings

    preview = client.post(
        f"/api/jobs/{job_id}/again", json={"layout": "half-sbs", "preview": True}
    ).json()
    _wait_for_final(client, preview["job_id"])

    job = jobs.get(preview["job_id"])
    assert job.status is JobStatus.COMPLETED, job.error
    result = storage.get_file(final_key(job.job_id), tmp_path / "preview.mp4")
    stream = video_stream(probe(result))
    assert (stream["width"], stream["height"]) == (192, 108)
    assert 108 <= int(stream["nb_read_packets"]) <= 144, "about 5 s at 24 fps"
    play = client.get(f"/jobs/{job.job_id}/play")
    assert 'download="holiday_preview_3dh_LR.mp4"' in play.text, "named as the CLI names it"


def test_a_part_of_an_uploaded_video_is_cut_by_its_run(running_client, jobs, storage, tmp_path):
    client = running_client
    clip = make_clip(tmp_path / "holiday.mp4", seconds=12)  # 24 fps, a keyframe every 12 frames
    created = client.post("/api/jobs", json={"layout": "anaglyph"}).json()
    job_id = created["job"]["job_id"]
    post_upload(client, created["upload"], clip)
    client.post(f"/api/jobs/{job_id}/start", json={"source_name": "holiday.mp4"})
    client.post(f"/api/jobs/{job_id}/cancel")

    part = client.post(
        f"/api/jobs/{job_id}/again", json={"layout": "sbs", "start": "0:03.125", "end": "8"}
    ).json()
    _wait_for_final(client, part["job_id"])

    job = jobs.get(part["job_id"])
    assert job.status is JobStatus.COMPLETED, job.error
    result = storage.get_file(final_key(job.job_id), tmp_path / "part.mp4")
    info = probe(result)
    assert int(video_stream(info)["nb_read_packets"]) == 117, "frames 75 to 191"
    (sound,) = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert float(sound["duration"]) == pytest.approx(4.875, abs=0.05)
    play = client.get(f"/jobs/{job.job_id}/play")
    assert 'download="holiday_0m03.125s-0m08s_LR.mp4"' in play.text
    # The job still describes the video it is a part of; the part is what its run converted.
    assert job.source.duration == pytest.approx(12, abs=0.05) and job.part_source.frames == 117
    page = client.get(f"/jobs/{job.job_id}").text
    assert "Source: 192×108, 12.0 s" in page
    # Another part of that video is asked of it as of the whole, and checked against the whole:
    # past the part's end is fine, past the video's is refused before any job is made.
    later = client.post(f"/api/jobs/{job.job_id}/again", json={"start": 9, "preview": True})
    assert later.status_code == 202, later.text
    assert later.json()["preview_within"] == {"start": 9.0, "end": None}
    _wait_for_final(client, later.json()["job_id"])
    excerpt = storage.get_file(final_key(later.json()["job_id"]), tmp_path / "later.mp4")
    assert int(video_stream(probe(excerpt))["nb_read_packets"]) == 72, "the video's last 3 s"
    refused = client.post(f"/api/jobs/{job.job_id}/again", json={"start": 13})
    assert refused.status_code == 422 and "the video is only 12.0 s long" in refused.text


def test_a_convert_stopped_part_way_is_resumed_from_its_page_reusing_its_split(
    running_client, settings, jobs, storage, clip_mp4
) -> None:
    client = running_client
    # What a `stereo-spot convert` killed (kill -9) after its split leaves: the record says
    # processing, the split is stored, its run lock is left held by nobody.
    job = jobs.create(Job(source_name="clip.mp4", output_path="/home/me/clip_3d.mp4"))
    storage.put_file(clip_mp4, source_key(job.job_id))
    jobs.transition(job.job_id, JobStatus.UPLOADED)
    jobs.transition(job.job_id, JobStatus.QUEUED)
    chunk_source(
        job.job_id, storage.uri_for(source_key(job.job_id)), "anaglyph", 1.0, storage, jobs,
        settings,
    )  # fmt: skip
    split = jobs.get(job.job_id).total_segments
    assert split >= 2 and jobs.get(job.job_id).status is JobStatus.PROCESSING
    mark_run_stopped(settings, job.job_id)
    assert client.get(f"/api/jobs/{job.job_id}").json()["stopped"] is True

    resumed = client.post(
        f"/jobs/{job.job_id}/start", data={"csrf_token": csrf_token(client)},
        follow_redirects=False,
    )  # fmt: skip

    assert resumed.status_code == 303
    _wait_for_final(client, job.job_id)
    done = jobs.get(job.job_id)
    assert done.status is JobStatus.COMPLETED, done.error
    assert done.total_segments == done.completed_segments == split, "its own split, reused"
    assert "reusing" in run_log_path(settings, job.job_id).read_text()
    assert client.get(f"/api/jobs/{job.job_id}/play").status_code == 200
