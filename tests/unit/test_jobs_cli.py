"""``stereo-spot jobs``: it finds the jobs ``convert --data-dir`` keeps, given the same folder,
and deletes what a finished job keeps."""

from __future__ import annotations

import json

from pipelines.local_runner import run_log_path
from stereo_spot.cli import main
from stereo_spot.domain import Job, JobStatus, Part, new_job_id
from stereo_spot.jobs import cancel
from stereo_spot.keys import (
    converted_segment_key,
    final_key,
    part_key,
    source_key,
    source_segment_key,
)
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from, storage_from
from tests.processes import run_lock_held


def test_jobs_kept_in_another_data_dir_are_found_with_data_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STEREO_SPOT_DATA_DIR", str(tmp_path / "usual"))
    elsewhere = tmp_path / "elsewhere"
    job = job_store_from(Settings(data_dir=elsewhere, backend="local")).create(
        Job(source_name="holiday.mp4")
    )

    assert main(["jobs", "show", job.job_id]) == 1
    assert f"There is no job '{job.job_id}'" in capsys.readouterr().err
    assert main(["jobs", "list"]) == 0
    listed = capsys.readouterr()
    assert listed.out == "", "nothing for a script to read"
    assert listed.err == f"No jobs in {tmp_path / 'usual'}.\n", "but the user sees where it looked"
    assert main(["jobs", "show", "--data-dir", str(elsewhere), job.job_id]) == 0
    assert json.loads(capsys.readouterr().out)["source_name"] == "holiday.mp4"
    assert main(["jobs", "list", "--data-dir", str(elsewhere)]) == 0
    assert "holiday.mp4" in capsys.readouterr().out


def test_delete_removes_a_finished_jobs_media_run_and_log_and_refuses_a_running_one(
    tmp_path, capsys, clip_mp4
):
    settings = Settings(data_dir=tmp_path, backend="local")
    jobs, storage = job_store_from(settings), storage_from(settings)
    done, running = jobs.create(Job()), jobs.create(Job())
    for job in (done, running):
        storage.put_file(clip_mp4, source_key(job.job_id))
        for status in (JobStatus.UPLOADED, JobStatus.QUEUED, JobStatus.CHUNKING):
            jobs.transition(job.job_id, status)
    storage.put_file(clip_mp4, final_key(done.job_id))
    jobs.transition(done.job_id, JobStatus.COMPLETED)
    (settings.runs_dir / done.job_id / "outputs").mkdir(parents=True)
    log = tmp_path / "logs" / f"run-{done.job_id}.log"
    log.parent.mkdir()
    log.write_text("a run's log")

    assert main(["jobs", "delete", "--data-dir", str(tmp_path), done.job_id]) == 0
    assert main(["jobs", "delete", "--data-dir", str(tmp_path), running.job_id]) == 1

    err = capsys.readouterr().err
    assert f"deleted job {done.job_id} (2 stored files)." in err
    assert (
        "This job is still running; cancel it first, or delete it once it has finished. "
        f"To cancel it: stereo-spot jobs cancel {running.job_id}"
    ) in err
    assert [job.job_id for job in jobs.list_all()] == [running.job_id]
    assert not storage.exists(final_key(done.job_id)) and not storage.exists(
        source_key(done.job_id)
    )
    assert storage.exists(source_key(running.job_id))
    assert not (settings.runs_dir / done.job_id).exists() and not log.exists()


def test_a_job_is_named_by_the_start_of_its_id_when_no_other_starts_so(tmp_path, capsys):
    jobs = job_store_from(Settings(data_dir=tmp_path, backend="local"))
    twins = [
        jobs.create(Job(job_id="abcd" + new_job_id()[4:], source_name=f"twin{n}.mp4"))
        for n in (1, 2)
    ]
    alone = jobs.create(Job(job_id="zq9" + new_job_id()[3:], source_name="alone.mp4"))

    def show(id_or_prefix: str) -> tuple[int, str, str]:
        code = main(["jobs", "show", "--data-dir", str(tmp_path), id_or_prefix])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = show(alone.job_id[:4])
    assert code == 0 and json.loads(out)["job_id"] == alone.job_id
    code, out, _ = show(twins[0].job_id[:6])
    assert code == 0 and json.loads(out)["source_name"] == "twin1.mp4"

    code, _, err = show("abcd")
    assert code == 1
    assert err.startswith("stereo-spot: 'abcd' starts the ids of 2 jobs (")
    assert all(twin.job_id in err for twin in twins) and err.rstrip().endswith("give more of it.")
    code, _, err = show(alone.job_id[:3])  # too short to name a job by
    assert code == 1 and err == (
        f"stereo-spot: There is no job '{alone.job_id[:3]}'; name a job by its id, or by at least "
        "4 of its first characters.\n"
    )

    assert main(["jobs", "cancel", "--data-dir", str(tmp_path), alone.job_id[:5]]) == 0
    assert main(["jobs", "delete", "--data-dir", str(tmp_path), alone.job_id[:5]]) == 0
    assert f"deleted job {alone.job_id}" in capsys.readouterr().err
    assert {job.job_id for job in jobs.list_all()} == {twin.job_id for twin in twins}


def test_a_preview_taken_from_a_part_is_listed_with_the_part(tmp_path, capsys):
    # The portal's "Preview first" with "Only a part": the whole video's job waits for its go,
    # and the preview's record says the part it was taken from. The list showed the part of
    # the one and nothing of the other.
    jobs = job_store_from(Settings(data_dir=tmp_path, backend="local"))
    part = Part(start=30, end=60)
    whole = jobs.create(Job(source_name="holiday.mp4", part=part))
    preview = jobs.create(
        Job(source_name="holiday.mp4", preview_of=whole.job_id, preview_within=part)
    )

    assert main(["jobs", "list", "--data-dir", str(tmp_path)]) == 0

    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert listed[whole.job_id].endswith("holiday.mp4 (from 0:30 to 1:00)")
    assert listed[preview.job_id].endswith("holiday.mp4 (preview of the part from 0:30 to 1:00)")


def test_retry_writes_a_finished_preview_under_its_own_name_once(tmp_path, capsys, clip_mp4):
    # A preview the portal made is named holiday_preview.mp4; its result was written to
    # holiday_preview_preview_redcyan.mp4.
    settings = Settings(data_dir=tmp_path / "data", backend="local")
    jobs, storage = job_store_from(settings), storage_from(settings)
    whole = jobs.create(Job(source_name="holiday.mp4"))
    preview = jobs.create(Job(source_name="holiday_preview.mp4", preview_of=whole.job_id))
    storage.put_file(clip_mp4, final_key(preview.job_id))
    for status in (
        JobStatus.UPLOADED, JobStatus.QUEUED, JobStatus.CHUNKING, JobStatus.PROCESSING,
        JobStatus.REASSEMBLING, JobStatus.COMPLETED,
    ):  # fmt: skip
        jobs.transition(preview.job_id, status)

    folder = tmp_path / "out"
    args = ["jobs", "retry", "--data-dir", str(settings.data_dir), preview.job_id, "-o"]
    assert main([*args, f"{folder}/"]) == 0

    assert [path.name for path in folder.iterdir()] == ["holiday_preview_redcyan.mp4"]


def _cancelled_while_converting(settings: Settings, clip) -> Job:
    """A job cancelled a moment ago, part-way through its run."""
    jobs, storage = job_store_from(settings), storage_from(settings)
    job = jobs.create(Job(source_name="holiday.mp4"))
    storage.put_file(clip, source_key(job.job_id))
    for status in (JobStatus.UPLOADED, JobStatus.QUEUED, JobStatus.CHUNKING, JobStatus.PROCESSING):
        jobs.transition(job.job_id, status)
    return cancel(jobs, job.job_id)


def test_delete_right_after_cancel_waits_for_the_run_to_stop(tmp_path, capsys, clip_mp4):
    # It said "Job J is being converted by process N. To cancel it: stereo-spot jobs cancel J"
    # of a job just cancelled, whose run was stopping.
    settings = Settings(data_dir=tmp_path, backend="local")
    job = _cancelled_while_converting(settings, clip_mp4)

    with run_lock_held(settings.runs_dir, job.job_id, seconds=2):  # its runner, stopping
        code = main(["jobs", "delete", "--data-dir", str(tmp_path), job.job_id])

    err = capsys.readouterr().err
    assert code == 0, err
    assert f"deleted job {job.job_id} (1 stored files)." in err
    assert job_store_from(settings).list_all() == []
    assert not (settings.runs_dir / job.job_id).exists()


def test_delete_of_a_cancelled_job_whose_run_goes_on_says_to_try_again(
    tmp_path, capsys, clip_mp4, monkeypatch
):
    monkeypatch.setattr("stereo_spot.cli.jobs.STOPPING_SECONDS", 1.0)
    settings = Settings(data_dir=tmp_path, backend="local")
    job = _cancelled_while_converting(settings, clip_mp4)

    with run_lock_held(settings.runs_dir, job.job_id) as runner:
        code = main(["jobs", "delete", "--data-dir", str(tmp_path), job.job_id])

    err = capsys.readouterr().err
    assert code == 1
    assert err.strip() == (
        f"stereo-spot: Job {job.job_id}'s conversion (process {runner.pid}) is still stopping; "
        "try again in a few seconds."
    )
    assert job_store_from(settings).get(job.job_id).cancelled, "nothing deleted"
    assert storage_from(settings).exists(source_key(job.job_id))


def test_cancel_deletes_the_segments_and_keeps_the_video_to_convert_again(tmp_path, clip_mp4):
    settings = Settings(data_dir=tmp_path, backend="local")
    jobs, storage = job_store_from(settings), storage_from(settings)
    job = jobs.create(Job(source_name="holiday.mp4", part=Part(start=1, end=2)))
    for status in (JobStatus.UPLOADED, JobStatus.QUEUED, JobStatus.CHUNKING, JobStatus.PROCESSING):
        jobs.transition(job.job_id, status)
    kept = (source_key(job.job_id), part_key(job.job_id))
    segments = (
        source_segment_key(job.job_id, 0, 2, job.layout),
        source_segment_key(job.job_id, 1, 2, job.layout),
        converted_segment_key(job.job_id, 0),
    )
    for key in (*kept, *segments):
        storage.put_file(clip_mp4, key)
    # What a run stopped by a signal leaves on this machine: its scratch, and its log.
    run_folder = settings.runs_dir / job.job_id
    (run_folder / "scratch" / "workspace").mkdir(parents=True)
    (run_folder / "scratch" / "source.mp4").write_bytes(clip_mp4.read_bytes())
    log = run_log_path(settings, job.job_id)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("The run was interrupted; the segments it converted are kept.\n")

    assert main(["jobs", "cancel", "--data-dir", str(tmp_path), job.job_id]) == 0

    assert jobs.get(job.job_id).cancelled
    assert [key for key in (*kept, *segments) if storage.exists(key)] == list(kept)
    assert not run_folder.exists(), "no run resumes a cancelled job"
    assert log.exists(), "the log tells what happened"


def test_a_queued_job_waiting_its_turn_is_not_stopped(tmp_path, capsys):
    # A portal's queued job (no output file) waits for the portal's queue, even where a run of
    # it was once stopped: it is listed queued, and a delete is refused.
    settings = Settings(data_dir=tmp_path, backend="local")
    jobs = job_store_from(settings)
    job = jobs.create(Job(source_name="waiting.mp4"))
    for status in (JobStatus.UPLOADED, JobStatus.QUEUED):
        jobs.transition(job.job_id, status)
    (settings.runs_dir / job.job_id).mkdir(parents=True)
    (settings.runs_dir / job.job_id / "run.lock").touch()

    assert main(["jobs", "list", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split()[1] == "queued"
    assert main(["jobs", "delete", "--data-dir", str(tmp_path), job.job_id]) == 1
    assert "This job is still running" in capsys.readouterr().err


def test_list_says_cancelled_and_why_a_job_failed(tmp_path, capsys):
    # A cancelled job was listed "failed", and a failed one with no word of why.
    jobs = job_store_from(Settings(data_dir=tmp_path, backend="local"))
    cancelled = jobs.create(Job(source_name="stopped.mp4"))
    cancel(jobs, cancelled.job_id)
    failed = jobs.create(Job(source_name="broken.mp4"))
    jobs.transition(
        failed.job_id,
        JobStatus.FAILED,
        error="The file is not a video we can read: it is damaged or in an unsupported format.",
    )

    assert main(["jobs", "list", "--data-dir", str(tmp_path)]) == 0
    listed = capsys.readouterr()
    lines = {line.split()[0]: line for line in listed.out.splitlines()}
    assert lines[cancelled.job_id].split()[1] == "cancelled"
    assert lines[failed.job_id].endswith("broken.mp4"), "the rows stay as scripts read them"
    assert (
        f"failed {failed.job_id[:8]}: The file is not a video we can read: it is damaged or in "
        "an ...\nwhy a job failed, in full: stereo-spot jobs show JOB\n"
    ) in listed.err


def test_retry_of_a_job_a_kubeflow_run_runs_is_refused_saying_where_it_runs(tmp_path, capsys):
    # Resumed here, the job would be converted twice at once: the cluster's run holds no lock
    # this machine can see.
    settings = Settings(data_dir=tmp_path, backend="local")
    jobs = job_store_from(settings)
    job = jobs.create(Job(source_name="film.mp4"))
    for status in (JobStatus.UPLOADED, JobStatus.QUEUED, JobStatus.PROCESSING):
        jobs.transition(job.job_id, status)
    run_id = "0b9c4ad4-3f0e-4c5e-9a53-2b8f1c7d6e10"
    jobs.update(job.job_id, run_id=run_id)

    assert main(["jobs", "retry", "--data-dir", str(tmp_path), job.job_id]) == 1

    assert capsys.readouterr().err == (
        f"stereo-spot: Job {job.job_id} is processing in Kubeflow run {run_id}: jobs retry "
        "resumes only runs of this machine. Follow that run in the Kubeflow UI; if it has ended "
        "without a result, convert the video again from the portal.\n"
    )
    assert jobs.get(job.job_id).status is JobStatus.PROCESSING, "left to its run"
    assert not settings.runs_dir.exists(), "nothing started here"
