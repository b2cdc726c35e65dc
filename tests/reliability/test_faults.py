"""Faults during a run: the model server dies, the runner dies, storage refuses a write, a job is
started twice. Each ends with one complete result or a cleanly failed job — nothing lost, nothing
half-written, nothing done twice.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest

from inference_service.launcher import free_port, wait_until_ready
from pipelines.local_runner import stopped_part_way
from stereo_spot.domain import JobStatus
from stereo_spot.keys import segment_prefixes, source_key
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from, storage_from
from tests.media import make_clip, probe, video_stream
from tests.processes import (
    SHOWS_WHERE_IT_HANGS,
    gone_within,
    output_once_ended,
    processes_mentioning,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SEGMENT_SECONDS = "0.25"


class Stack:
    """A data dir and a model server on a fixed port that a test may kill and bring back."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: subprocess.Popen | None = None
        self.jobs = job_store_from(Settings(backend="local", data_dir=data_dir))

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "STEREO_SPOT_BACKEND": "local",
            "STEREO_SPOT_DATA_DIR": str(self.data_dir),
            "STEREO_SPOT_MODEL_URL": self.url,
            # A killed server fails the convert attempt at once, so KFP's retry is what these
            # tests exercise (by default a step waits for a server that is not listening yet).
            "STEREO_SPOT_MODEL_WAIT_SECONDS": "0",
            **SHOWS_WHERE_IT_HANGS,
        }

    def start_server(self) -> None:
        env = {k: v for k, v in self.env.items() if k != "STEREO_SPOT_MODEL_URL"}
        log = open(self.data_dir / "model-server.log", "ab")  # noqa: SIM115 (outlives this call)
        self.server = subprocess.Popen(
            [sys.executable, "-m", "inference_service", "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_until_ready(self.url, "stereo", self.server, 120)

    def kill_server(self) -> None:
        assert self.server is not None
        self.server.send_signal(signal.SIGKILL)
        self.server.wait()

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            self.server.wait(15)

    def jobs_command(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """``stereo-spot jobs ARGS`` over this stack's data folder, run to its end."""
        return subprocess.run(
            ["stereo-spot", "jobs", *args],
            env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def convert(self, source: Path, output: Path, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [
                "stereo-spot",
                "convert",
                str(source),
                "-o",
                str(output),
                "--segment-seconds",
                SEGMENT_SECONDS,
                *args,
            ],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def only_job(self):
        (job,) = self.jobs.list_all(limit=10)
        return job

    def wait_for(self, condition, timeout: float = 120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = self.jobs.list_all(limit=10)
            if jobs and condition(jobs[0]):
                return jobs[0]
            time.sleep(0.1)
        raise AssertionError(f"timed out; job is {jobs[0] if jobs else None}")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path / "data")
    stack.data_dir.mkdir(exist_ok=True)
    stack.start_server()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s, keyframe every 6 frames: eight 0.25 s segments."""
    return make_clip(
        tmp_path_factory.mktemp("faults") / "clip.mp4",
        seconds=2,
        size="96x64",
        video_args=("-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "6"),
    )


def _decoded(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _frames(path: Path) -> int:
    return int(video_stream(probe(path))["nb_read_packets"])


def _segment_files(stack: Stack, job_id: str) -> dict[str, tuple[int, int]]:
    folder = stack.data_dir / "media" / "jobs" / job_id / "segments"
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("*.mp4")}


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and all it started, as a crash or the OOM killer would."""
    parent = psutil.Process(pid)
    for process in [*parent.children(recursive=True), parent]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def test_model_server_killed_mid_run_is_retried_and_the_job_completes(stack, clip, tmp_path):
    """The convert step finds the server down, asks again after its backoff (10 s), and
    succeeds against the server brought back on the same port."""
    output = tmp_path / "out.mp4"
    run = stack.convert(clip, output)
    stack.wait_for(lambda job: job.completed_segments >= 1)
    stack.kill_server()
    time.sleep(1)
    stack.start_server()
    _, stderr = output_once_ended(run, 240)
    assert run.returncode == 0, stderr
    job = stack.only_job()
    assert job.status is JobStatus.COMPLETED and job.error is None
    assert _frames(output) == _frames(clip)
    run_log = (stack.data_dir / "logs" / f"run-{job.job_id}.log").read_text()
    assert re.search(
        r"segment \d+: The model server at \S+ could not be reached \(\w+\); asking again in 10 s",
        run_log,
    )


def _listed_status(stack, job_id: str) -> tuple[str, str]:
    """The status ``stereo-spot jobs list`` shows for the job, and what it says beside."""
    listed = stack.jobs_command("list")
    (line,) = [line for line in listed.stdout.splitlines() if line.startswith(job_id)]
    return line.split()[1], listed.stderr


def test_runner_killed_mid_run_resumes_with_finished_segments_and_same_result(
    stack, clip, tmp_path
):
    # The reference: the same video converted without interruption.
    reference = tmp_path / "reference.mp4"
    uninterrupted = stack.convert(clip, reference)
    assert uninterrupted.wait(240) == 0, uninterrupted.stderr.read()
    stack.jobs.delete(stack.only_job().job_id)

    output = tmp_path / "out.mp4"
    run = stack.convert(clip, output)
    job = stack.wait_for(lambda job: job.completed_segments >= 3)
    assert _listed_status(stack, job.job_id) == ("processing", "")
    _kill_tree(run.pid)
    run.wait()
    time.sleep(2)  # a request already sent still finishes on the server: let it land
    job = stack.jobs.get(job.job_id)
    assert job.status is JobStatus.PROCESSING, "a killed runner leaves the job resumable"
    status, said = _listed_status(stack, job.job_id)
    assert status == "stopped", "listed as stopped, not as still processing"
    assert "resume it with: stereo-spot jobs retry JOB" in said
    finished = _segment_files(stack, job.job_id)
    assert 3 <= len(finished) < job.total_segments
    assert not output.exists()

    retry = stack.jobs_command("retry", job.job_id, timeout=240)
    assert retry.returncode == 0, retry.stderr
    job = stack.jobs.get(job.job_id)
    assert job.status is JobStatus.COMPLETED
    run_log = (stack.data_dir / "logs" / f"run-{job.job_id}.log").read_text()
    taken = {
        int(n) for n in re.findall(rf"job {job.job_id} segment (\d+): already converted", run_log)
    }
    assert taken == {int(Path(name).stem) for name in finished}, "none converted again"
    assert not _segment_files(stack, job.job_id), "the segments went once the result was stored"

    # The retry writes the file the killed convert was asked for.
    assert f"wrote {output.resolve()}" in retry.stderr
    # Nothing lost or doubled: it is the very video a clean run gives, picture for picture (the
    # engine is deterministic, and so is the encoder, kept off x264's AVX-512 code, which was
    # not).
    assert np.array_equal(_decoded(output), _decoded(reference))


def test_killed_convert_command_says_how_to_resume(stack, clip, tmp_path):
    """Killing only the runner child: the command reports it and keeps the job resumable."""
    run = stack.convert(clip, tmp_path / "out.mp4")
    job = stack.wait_for(lambda job: job.completed_segments >= 1)
    (child,) = [
        p for p in psutil.Process(run.pid).children() if "pipelines" in " ".join(p.cmdline())
    ]
    _kill_tree(child.pid)
    _, stderr = output_once_ended(run, 60)
    assert run.returncode != 0
    assert f"stereo-spot jobs retry {job.job_id}" in stderr.strip().splitlines()[-1]
    assert stack.jobs.get(job.job_id).status is not JobStatus.FAILED

    # Stopped, not running: it can be deleted without being cancelled first.
    assert _listed_status(stack, job.job_id)[0] == "stopped"
    deleted = stack.jobs_command("delete", job.job_id)
    assert deleted.returncode == 0, deleted.stderr
    assert stack.jobs.list_all() == []
    assert not list((stack.data_dir / "media").rglob(f"*{job.job_id}*"))


def test_a_job_cancelled_from_another_terminal_stops_the_convert_command(stack, tmp_path):
    source = make_clip(tmp_path / "long.mp4", seconds=8, rate=24)  # 32 segments
    output = tmp_path / "out.mp4"
    run = stack.convert(source, output)
    job = stack.wait_for(lambda job: job.completed_segments >= 1)

    cancelled = stack.jobs_command("cancel", job.job_id)

    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stderr.strip() == f"job {job.job_id} cancelled."
    _, stderr = output_once_ended(run, 60)
    assert run.returncode == 1
    assert stderr.strip().splitlines()[-1] == "stereo-spot: Cancelled before it finished."
    # Its progress said "failed 5/15 segments, about 0:10 left" as it ended.
    assert not [line for line in stderr.splitlines() if line.startswith("failed")]
    job = stack.jobs.get(job.job_id)
    assert job.status is JobStatus.FAILED and job.completed_segments < job.total_segments
    assert not output.exists() and not list(tmp_path.glob(".out.mp4.*"))
    assert not processes_mentioning(job.job_id), "the runner and its steps are gone"
    again = stack.jobs_command("cancel", job.job_id)
    assert again.returncode == 1
    assert again.stderr.strip() == (
        "stereo-spot: This job has already been cancelled; there is nothing to cancel."
    )


def test_storage_refusing_the_final_write_fails_the_job_cleanly(stack, clip, tmp_path):
    """The final key cannot be written (a directory squats on it): the job fails with the
    storage's reason, and no final.mp4 file — whole or partial — exists."""
    output = tmp_path / "out.mp4"
    run = stack.convert(clip, output)
    job = stack.wait_for(lambda job: job.total_segments > 0)
    final = stack.data_dir / "media" / "jobs" / job.job_id / "final.mp4"
    final.mkdir(parents=True)
    _, stderr = output_once_ended(run, 240)
    assert run.returncode != 0
    job = stack.jobs.get(job.job_id)
    assert job.status is JobStatus.FAILED
    assert job.error == "The result could not be stored (Is a directory)."
    assert stderr.strip().splitlines()[-1] == f"stereo-spot: {job.error}"
    # Nothing was written in its place: the folder that squatted on it is as it was, empty
    # (dropping the failed job's segments tidies only the folders under their prefixes).
    assert final.is_dir() and not any(final.iterdir()), "no final.mp4 file"
    assert not list(final.parent.glob(".upload-*")), "no half-written object"
    assert not output.exists() and not list(tmp_path.glob(".out.mp4.*"))
    # A failed job is final: its segments (as large as the video) went with the run's end; the
    # video stays, to convert it again.
    storage = storage_from(Settings(backend="local", data_dir=stack.data_dir))
    assert not any(storage.list_prefix(prefix) for prefix in segment_prefixes(job.job_id))
    assert storage.exists(source_key(job.job_id))


def test_starting_a_job_twice_runs_it_once(stack, clip, tmp_path):
    """Two starts racing, and one more after the run: one run, one result, one record."""
    from fastapi.testclient import TestClient

    from portal.app import create_app
    from portal.launcher import LocalRunLauncher
    from stereo_spot.cli.web import ChildProcessRuns
    from tests.portal.conftest import create_job_via_api, post_upload

    settings = Settings(backend="local", data_dir=stack.data_dir, model_url=stack.url)
    runs = ChildProcessRuns(settings, stack.jobs)
    launcher = LocalRunLauncher(stack.jobs, runs).start()
    try:
        with TestClient(create_app(settings, jobs=stack.jobs, launcher=launcher)) as client:
            job_id, upload = create_job_via_api(client)
            assert post_upload(client, upload, clip).status_code == 204
            answers = []
            starts = [
                threading.Thread(
                    target=lambda: answers.append(client.post(f"/api/jobs/{job_id}/start"))
                )
                for _ in range(2)
            ]
            for thread in starts:
                thread.start()
            for thread in starts:
                thread.join()
            assert [a.status_code for a in answers] == [202, 202]
            assert len({a.json()["run_id"] for a in answers}) == 1
            assert launcher.wait_idle(240)
            again = client.post(f"/api/jobs/{job_id}/start")
            assert again.status_code == 202 and again.json()["status"] == "completed"
            assert launcher.wait_idle(5)
    finally:
        launcher.stop()
        runs.terminate()
    assert [j.job_id for j in stack.jobs.list_all(limit=10)] == [job_id]
    assert stack.jobs.get(job_id).status is JobStatus.COMPLETED
    run_log = (stack.data_dir / "logs" / f"run-{job_id}.log").read_text()
    assert len(re.findall(r"Executing task \S*chunk-op", run_log)) == 1, "one run"
    media = stack.data_dir / "media"
    assert [p.name for p in (media / "jobs" / job_id).glob("final*")] == ["final.mp4"]


def test_a_job_id_that_looks_like_an_option_still_runs(stack, clip, tmp_path):
    """Job ids are URL-safe base64: one in 64 used to start with '-', which argparse read as an
    option, so the runner child exited at once and the job failed (seen in the load test)."""
    from pipelines.local_runner import start_job_process
    from stereo_spot.cli.convert import submit_job
    from stereo_spot.domain import Job, Layout, StereoParams, new_job_id
    from stereo_spot.wiring import storage_from

    assert not any(new_job_id().startswith("-") for _ in range(2000))
    settings = Settings(backend="local", data_dir=stack.data_dir, model_url=stack.url)
    storage = storage_from(settings)
    original_create = stack.jobs.create
    stack.jobs.create = lambda job: original_create(
        Job.model_validate({**job.model_dump(), "job_id": "-" + job.job_id[1:]})
    )
    job = submit_job(clip, Layout.SBS, StereoParams(), "classical", storage, stack.jobs, settings)
    assert job.job_id.startswith("-")
    process, log_path = start_job_process(settings, job.job_id, 10)
    assert process.wait(240) == 0, log_path.read_text()[-2000:]
    assert stack.jobs.get(job.job_id).status is JobStatus.COMPLETED


def test_a_model_server_that_crashes_mid_run_stops_the_command_with_its_reason(clip, tmp_path):
    """``convert``'s own server dying (a segfault in a native library, the OOM killer) ends the
    command with that reason and the way to resume; before, its convert steps waited for the
    dead server and retried, and the command failed seven minutes later saying only that the
    server could not be reached."""
    data_dir = tmp_path / "data"
    env = {
        **{k: v for k, v in os.environ.items() if k != "STEREO_SPOT_MODEL_URL"},
        "STEREO_SPOT_BACKEND": "local",
        "STEREO_SPOT_DATA_DIR": str(data_dir),
        **SHOWS_WHERE_IT_HANGS,
    }
    run = subprocess.Popen(
        [
            *("stereo-spot", "convert", str(clip), "-o", str(tmp_path / "out.mp4")),
            *("--segment-seconds", SEGMENT_SECONDS),
        ],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    jobs = job_store_from(Settings(backend="local", data_dir=data_dir))
    deadline = time.monotonic() + 120
    while not (listed := jobs.list_all(limit=1)) or listed[0].completed_segments < 1:
        assert time.monotonic() < deadline and run.poll() is None, "the run never got going"
        time.sleep(0.05)
    children = psutil.Process(run.pid).children(recursive=True)
    (server,) = [p for p in children if "inference_service" in " ".join(p.cmdline())]

    server.send_signal(signal.SIGSEGV)
    _, stderr = output_once_ended(run, 120)

    assert run.returncode == 1, stderr
    job_id = listed[0].job_id
    assert stderr.strip().splitlines()[-1] == (
        "stereo-spot: The model server stopped (killed by SIGSEGV, signal 11); "
        f"its log is {data_dir / 'logs' / 'model-server.log'}. Fix that, then resume the job: "
        f"stereo-spot jobs retry {job_id}"
    )
    assert gone_within(job_id, 20), "the run stopped with it"
    assert not jobs.get(job_id).status.is_final, "and the job can be resumed"
    # The log shows where the server was (faulthandler), for whoever looks into the crash.
    log = (data_dir / "logs" / "model-server.log").read_text()
    assert "Fatal Python error: Segmentation fault" in log and "most recent call first" in log


def test_interrupting_a_batch_stops_the_run_started_for_the_next_video(clip, tmp_path):
    """The next video's run starts while the one before it is joined: stopped then, or once that
    run is the one followed (which moment the signal lands in depends on the machine), the
    command stops it too, and its job stays resumable. tests/unit/test_convert_ahead.py pins
    the run started ahead down alone."""
    data_dir = tmp_path / "data"
    second = make_clip(tmp_path / "second.mp4", seconds=3)
    env = {
        **{k: v for k, v in os.environ.items() if k != "STEREO_SPOT_MODEL_URL"},
        "STEREO_SPOT_BACKEND": "local",
        "STEREO_SPOT_DATA_DIR": str(data_dir),
        **SHOWS_WHERE_IT_HANGS,
    }
    run = subprocess.Popen(
        ["stereo-spot", "convert", str(clip), str(second), "-o", f"{tmp_path / 'out'}/"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    jobs = job_store_from(Settings(backend="local", data_dir=data_dir))
    deadline = time.monotonic() + 120
    while not (
        (listed := jobs.list_all()) and len(listed) == 2 and processes_mentioning(listed[0].job_id)
    ):
        assert time.monotonic() < deadline and run.poll() is None, "the second never started"
        time.sleep(0.05)
    second_job = listed[0]

    run.terminate()
    _, stderr = output_once_ended(run, 60)
    assert run.returncode == 130, stderr
    assert gone_within(second_job.job_id, 20), "the second video's run outlived the command"
    left = jobs.get(second_job.job_id)
    assert not left.status.is_final, "and its job can be resumed"
    settings = Settings(backend="local", data_dir=data_dir)
    assert stopped_part_way(settings, left), "listed as stopped, not queued for ever"
    assert left.output_path == str(tmp_path / "out" / "second_redcyan.mp4"), "retry writes it"
    assert not (tmp_path / "out" / "second_redcyan.mp4").exists()


def test_stopped_convert_command_stops_its_server_and_runner(clip, tmp_path):
    """SIGTERM (``timeout``, ``kill``, a cancelled CI job) stops ``convert`` as Ctrl-C does: its
    own model server and its runner go too, and the job stays resumable. With the default
    handler the command died alone, and its convert steps polled for a server that was gone."""
    data_dir = tmp_path / "data"
    env = {
        **{k: v for k, v in os.environ.items() if k != "STEREO_SPOT_MODEL_URL"},
        "STEREO_SPOT_BACKEND": "local",
        "STEREO_SPOT_DATA_DIR": str(data_dir),
        **SHOWS_WHERE_IT_HANGS,
    }
    run = subprocess.Popen(
        [
            *("stereo-spot", "convert", str(clip), "-o", str(tmp_path / "out.mp4")),
            *("--segment-seconds", SEGMENT_SECONDS),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    jobs = job_store_from(Settings(backend="local", data_dir=data_dir))
    deadline = time.monotonic() + 120
    while not (listed := jobs.list_all(limit=1)) or listed[0].status is not JobStatus.PROCESSING:
        assert time.monotonic() < deadline and run.poll() is None, "the run never got going"
        time.sleep(0.1)
    started = psutil.Process(run.pid).children(recursive=True)
    commands = []
    for process in started:
        # A short-lived child (an ffprobe) may have ended meanwhile: a zombie has no command line.
        with contextlib.suppress(psutil.NoSuchProcess):
            commands.append(" ".join(process.cmdline()))
    assert any("inference_service" in c for c in commands), commands
    assert any("pipelines" in c for c in commands), commands

    run.terminate()
    _, stderr = output_once_ended(run, 60)
    assert run.returncode == 130
    assert stderr.strip().splitlines()[-1] == "stereo-spot: interrupted."
    _, alive = psutil.wait_procs(started, timeout=20)
    assert not alive, [" ".join(p.cmdline()) for p in alive]
    job = jobs.get(listed[0].job_id)
    assert not job.status.is_final, "an interrupted job can be resumed"
    assert not (tmp_path / "out.mp4").exists()


STARTS_A_SERVER = """
import sys, time
from pathlib import Path
from inference_service.launcher import starting_model_server
from stereo_spot.settings import Settings
with starting_model_server(Settings(data_dir=Path(sys.argv[1]), backend="local")):
    print("started", flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize(
    "moment", ["Registering model", "Starting uvicorn", "Uvicorn running on"],
    ids=["loading", "starting to listen", "listening"],
)  # fmt: skip
def test_a_model_server_stops_when_the_command_that_started_it_is_killed(tmp_path, moment):
    # SIGKILL (or the OOM killer) gives `convert` no chance to stop its server, which then
    # stayed up on its own. The kernel's SIGTERM on the parent's death, which came next, landed
    # between kserve's signal handler and uvicorn's once the server was still starting, was
    # taken for a shutdown of a server not yet running, and the server served on its own for
    # good (a reviewer found three of three): it now watches for its parent's end itself.
    data_dir = tmp_path / "data"
    parent = subprocess.Popen(
        [sys.executable, "-c", STARTS_A_SERVER, str(data_dir)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout.readline().strip() == "started"
    (server,) = psutil.Process(parent.pid).children()
    log = data_dir / "logs" / "model-server.log"
    deadline = time.monotonic() + 60
    while moment not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline and server.is_running(), "the server never got there"
        time.sleep(0.01)

    parent.kill()
    parent.wait()

    _, alive = psutil.wait_procs([server], timeout=20)
    for orphan in alive:
        orphan.kill()
    assert not alive, "the server outlived its parent"
    assert f"The process that started this server ({parent.pid}) has ended." in log.read_text()


def test_convert_stopped_before_its_run_began_leaves_a_stopped_job_that_can_be_deleted(
    stack, clip, tmp_path
):
    """Ctrl-C in a convert's first second or two, its runner still starting: the job was left
    queued with no trace of a run, and read as running forever (jobs list said queued, a delete
    was refused) though nothing would ever run it."""
    job = _convert_stopped_before_its_run_began(stack, clip, tmp_path / "out.mp4")

    status, said = _listed_status(stack, job.job_id)
    assert status == "stopped", "listed as stopped, not as waiting for a run that never comes"
    assert "resume it with: stereo-spot jobs retry JOB" in said
    deleted = stack.jobs_command("delete", job.job_id)
    assert deleted.returncode == 0, deleted.stderr
    assert stack.jobs.list_all() == []


def _convert_stopped_before_its_run_began(stack, clip, output: Path):
    """The job of a convert given Ctrl-C while its runner is still starting."""
    run = stack.convert(clip, output)
    while "converting" not in run.stderr.readline():  # the job is made, its runner starting
        assert run.poll() is None, run.stderr.read()
    job = stack.wait_for(lambda job: bool(job.output_path), timeout=30)
    run.send_signal(signal.SIGINT)
    _, stderr = output_once_ended(run, 60)
    assert run.returncode == 130, stderr
    assert f"stereo-spot jobs retry {job.job_id}" in stderr
    assert stack.jobs.get(job.job_id).status is JobStatus.QUEUED, "the run had not begun"
    return job


def test_retry_splits_at_the_segment_length_the_convert_was_given(stack, clip, tmp_path):
    # Resumed before it was split, it was split at the default (10 s: one segment) instead.
    job = _convert_stopped_before_its_run_began(stack, clip, tmp_path / "out.mp4")

    retry = stack.jobs_command("retry", job.job_id, timeout=240)

    assert retry.returncode == 0, retry.stderr
    assert stack.jobs.get(job.job_id).total_segments == 8, "2 s at --segment-seconds 0.25"
    assert f"wrote {(tmp_path / 'out.mp4').resolve()}" in retry.stderr
