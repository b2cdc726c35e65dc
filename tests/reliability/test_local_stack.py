"""The embedded stack on one machine (``stereo-spot up``, ``convert``) when its processes die under
it: a killed ``up`` takes its runs with it and the next ``up`` resumes them, a model server that
dies is started again, a second ``up`` over the same folder is refused, and a killed server's
scratch folder is removed by the next start. Real processes, killed as a user or the OOM killer
would kill them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from pipelines.local_runner import INTERRUPTED, run_in_progress, stop_job_process
from stereo_spot.domain import Job, JobStatus
from stereo_spot.keys import final_key
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from, storage_from
from tests.media import make_clip, probe, video_stream
from tests.processes import (
    gone_within,
    processes_mentioning,
    start_stereo_spot_up,
    stereo_spot_command,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

JOB_LINE = re.compile(r": job (?P<id>[A-Za-z0-9_-]+), ")


@pytest.fixture(scope="module")
def nine_seconds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nine 1 s segments (``up``'s in these tests), small enough to convert in seconds."""
    return make_clip(tmp_path_factory.mktemp("stack") / "nine.mp4", seconds=9, size="96x64")


def _frames(path: Path) -> int:
    return int(video_stream(probe(path))["nb_read_packets"])


def _submit(url: str, video: Path, cwd: Path) -> str:
    """Upload ``video`` to the portal at ``url`` and start its job; its id."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEREO_SPOT_")}
    env["STEREO_SPOT_DATA_DIR"] = str(cwd / "submitter")
    done = subprocess.run(
        [*stereo_spot_command(), "submit", url, str(video)],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    match = JOB_LINE.search(done.stdout)
    assert match, done.stdout
    return match["id"]


def _job_once(data: Path, job_id: str, condition: Callable[[Job], bool], seconds: float) -> Job:
    jobs = job_store_from(Settings(backend="local", data_dir=data))
    deadline = time.monotonic() + seconds
    while not condition(job := jobs.get(job_id)):
        assert time.monotonic() < deadline, f"timed out; the job is {job}"
        time.sleep(0.1)
    return job


def _model_server_of(up: subprocess.Popen) -> psutil.Process:
    (server,) = [
        child
        for child in psutil.Process(up.pid).children()
        if "inference_service" in " ".join(child.cmdline())
    ]
    return server


def _stop(up: subprocess.Popen) -> None:
    up.send_signal(signal.SIGINT)
    try:
        up.wait(timeout=40)
    except subprocess.TimeoutExpired:
        up.kill()
        up.wait()


@pytest.mark.parametrize("how", ["main pid", "whole group"])
def test_a_killed_up_takes_its_run_with_it_and_the_next_up_resumes_the_job(
    tmp_path, nine_seconds, how
):
    """``kill -9`` of ``up`` (or of its whole group, as a terminal closed or the OOM killer
    may) left its runner converting for nobody for an hour, holding the job's run lock: the
    next ``up`` left the job to it, ``jobs retry`` was refused."""
    data = tmp_path / "d"
    up, url, _ = start_stereo_spot_up(data)
    try:
        job_id = _submit(url, nine_seconds, tmp_path)
        _job_once(data, job_id, lambda job: job.completed_segments >= 1, 120)
        server = _model_server_of(up)
        assert processes_mentioning(job_id), "the runner is at work"

        up.kill()
        if how == "whole group":
            # up's group (here the test's, so not killpg): up and its model server; the runner
            # leads a session of its own.
            server.kill()
        up.wait()

        assert gone_within(job_id, 5), "the runner and its tasks end with up"
        _, alive = psutil.wait_procs([server], timeout=10)
        assert not alive, "the model server ends with up"
        settings = Settings(backend="local", data_dir=data)
        assert run_in_progress(settings, job_id) is None, "jobs retry may run the job"
    finally:
        if up.poll() is None:
            up.kill()

    up, _, _ = start_stereo_spot_up(data)
    try:
        job = _job_once(data, job_id, lambda job: job.status.is_final, 120)
    finally:
        _stop(up)
    assert job.status is JobStatus.COMPLETED, job.error
    result = storage_from(settings).path_for(final_key(job_id))
    assert _frames(result) == _frames(nine_seconds)


def test_a_killed_convert_takes_its_run_with_it_and_jobs_retry_resumes(tmp_path, nine_seconds):
    """``kill -9`` of ``convert`` alone: its runner went on for nobody, and ``jobs retry`` was
    refused ("being converted by process N") for about an hour."""
    data = tmp_path / "d"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEREO_SPOT_")}
    env |= {"STEREO_SPOT_BACKEND": "local", "STEREO_SPOT_DATA_DIR": str(data)}
    output = tmp_path / "out.mp4"
    run = subprocess.Popen(
        [*stereo_spot_command(), "convert", str(nine_seconds), "-o", str(output),
         "--segment-seconds", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        jobs = job_store_from(Settings(backend="local", data_dir=data))
        deadline = time.monotonic() + 120
        while not (listed := jobs.list_all(limit=1)) or listed[0].completed_segments < 1:
            assert time.monotonic() < deadline and run.poll() is None, "the run never got going"
            time.sleep(0.05)
        job_id = listed[0].job_id
    finally:
        run.kill()
        run.wait()

    assert gone_within(job_id, 5), "the runner and its tasks end with convert"
    retry = subprocess.run(
        [*stereo_spot_command(), "jobs", "retry", job_id],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert retry.returncode == 0, retry.stderr
    assert _frames(output) == _frames(nine_seconds)


def test_a_model_server_killed_under_up_is_started_again_and_the_job_completes(
    tmp_path, nine_seconds
):
    """Before, nobody noticed: the run's steps retried each segment against the dead port for
    minutes, then the job failed."""
    data = tmp_path / "d"
    up, url, log = start_stereo_spot_up(data)
    try:
        job_id = _submit(url, nine_seconds, tmp_path)
        _job_once(data, job_id, lambda job: job.completed_segments >= 1, 120)
        server = _model_server_of(up)
        command = server.cmdline()
        port = int(command[command.index("--port") + 1])

        server.kill()

        job = _job_once(data, job_id, lambda job: job.status.is_final, 90)
        said = log.read_text()
        assert job.status is JobStatus.COMPLETED, f"{job.error}\n{said}"
        assert (
            f"The model server stopped (killed by SIGKILL, signal 9); starting it again on port "
            f"{port}." in said.splitlines()
        )
        assert _model_server_of(up).pid != server.pid
    finally:
        _stop(up)
    assert up.returncode == 0, log.read_text()
    result = storage_from(Settings(backend="local", data_dir=data)).path_for(final_key(job_id))
    assert _frames(result) == _frames(nine_seconds)


def test_a_model_server_that_keeps_dying_fails_the_jobs_with_why(tmp_path, nine_seconds):
    data = tmp_path / "d"
    up, url, log = start_stereo_spot_up(data)
    try:
        job_id = _submit(url, nine_seconds, tmp_path)
        _job_once(data, job_id, lambda job: job.completed_segments >= 1, 120)
        killed: set[int] = set()
        for _ in range(3):  # each one started again killed as it starts
            deadline = time.monotonic() + 30
            while (server := _server_not_in(up, killed)) is None:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            server.kill()
            killed.add(server.pid)

        job = _job_once(data, job_id, lambda job: job.status.is_final, 30)

        assert job.status is JobStatus.FAILED
        assert job.error == (
            "The model server stopped 3 times within 60 s, so it is no longer started again; "
            f"its log is {data / 'logs' / 'model-server.log'}. Fix that, then restart "
            "stereo-spot up."
        )
        assert gone_within(job_id, 15), "its run was stopped"
        assert (
            "The model server stopped (killed by SIGKILL, signal 9), 3 times within 60 s: it is "
            "not started again" in log.read_text()
        )
        assert _server_not_in(up, killed) is None
    finally:
        _stop(up)
    assert up.returncode == 0, log.read_text()


def _server_not_in(up: subprocess.Popen, pids: set[int]) -> psutil.Process | None:
    for child in psutil.Process(up.pid).children():
        try:
            if child.pid not in pids and "inference_service" in " ".join(child.cmdline()):
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def test_a_second_up_over_the_same_folder_is_refused_and_convert_still_runs_beside_it(
    tmp_path, clip_mp4
):
    """Two portals over one folder kept a queue each: a job queued on one never ran once it
    stopped. ``convert`` runs jobs of its own, beside the portal."""
    data = tmp_path / "d"
    up, url, log = start_stereo_spot_up(data)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STEREO_SPOT_")}
        second = subprocess.run(
            [*stereo_spot_command(), "up", "--port", "0", "--data-dir", str(data)],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        portal = subprocess.run(
            [*stereo_spot_command(), "portal", "--port", "0"],
            capture_output=True, text=True, timeout=60,
            env={**env, "STEREO_SPOT_BACKEND": "local", "STEREO_SPOT_DATA_DIR": str(data)},
        )  # fmt: skip
        converted = subprocess.run(
            [*stereo_spot_command(), "convert", str(clip_mp4), "--data-dir", str(data),
             "-o", str(tmp_path / "out.mp4")],
            capture_output=True, text=True, env=env, timeout=240,
        )  # fmt: skip
    finally:
        _stop(up)

    refusal = (
        f"stereo-spot: Another Stereo-Spot portal (process {up.pid} at {url}) serves the data "
        f"folder {data}; use that one, or stop it first (a second would keep a queue of its own)."
    )
    assert (second.returncode, second.stderr.strip()) == (1, refusal)
    assert "Starting the model server" not in second.stdout, "refused before anything started"
    assert (portal.returncode, portal.stderr.strip()) == (1, refusal)
    assert converted.returncode == 0, converted.stderr
    assert _frames(tmp_path / "out.mp4") == _frames(clip_mp4)
    assert up.returncode == 0, log.read_text()


STARTS_A_SERVER = """
import sys, time
from pathlib import Path
from inference_service.launcher import starting_model_server
from stereo_spot.settings import Settings
with starting_model_server(Settings(data_dir=Path(sys.argv[1]), backend="local")) as server:
    server.wait()
    print("ready", flush=True)
    time.sleep(120)
"""


def _scratch_of(server: psutil.Process) -> Path:
    """The TMPDIR a model server was started with."""
    return Path(server.environ()["TMPDIR"])


def _start_a_server(data: Path) -> tuple[subprocess.Popen, psutil.Process]:
    """A process that starts a model server over ``data`` as ``convert`` does, and the server."""
    parent = subprocess.Popen(
        [sys.executable, "-c", STARTS_A_SERVER, str(data)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout.readline().strip() == "ready"
    (server,) = psutil.Process(parent.pid).children()
    return parent, server


def test_a_killed_servers_scratch_folder_is_removed_by_the_next_start(tmp_path):
    """Each ``up`` or ``convert`` killed left its server's TemporaryDirectory in /tmp for good
    (60 and more seen, up to 11 MB each)."""
    data = tmp_path / "d"
    killed, killed_server = _start_a_server(data)
    stale = _scratch_of(killed_server)
    (stale / "stereo-segment-left").mkdir()  # a segment's work, cut short
    running, running_server = _start_a_server(data)
    live = _scratch_of(running_server)
    killed.kill()
    killed.wait()
    _, alive = psutil.wait_procs([killed_server], timeout=20)
    assert not alive, "its server ends with it"
    assert stale.is_dir(), "nothing removes its folder as it dies"

    third, third_server = _start_a_server(data)
    try:
        assert not stale.exists(), "the next start removed the killed server's folder"
        assert live.is_dir(), "but not a live server's"
        assert _scratch_of(third_server).is_dir()
    finally:
        for parent in (third, running):
            parent.kill()
            parent.wait()
        psutil.wait_procs([third_server, running_server], timeout=20)


FINISHES_AS_IT_IS_STOPPED = """
import signal, sys, time
print("Pipeline \\x1b[95m'stereo-spot'\\x1b[0m finished with status \\x1b[92mSUCCESS\\x1b[0m",
      flush=True)
if sys.argv[1] == "exits":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # ending by itself when the signal comes
    time.sleep(0.5)
    sys.exit(0)
time.sleep(30)  # winding down (its scratch being removed) when the signal ends it
"""


@pytest.mark.parametrize("ending", ["exits", "killed while winding down"])
def test_a_run_that_finished_as_it_was_stopped_is_not_said_to_be_interrupted(tmp_path, ending):
    """Ctrl-C to ``up`` as a run finished appended "The run was interrupted" after the
    pipeline's SUCCESS line in its log."""
    log_path = tmp_path / "run.log"
    with open(log_path, "ab") as log:
        runner = subprocess.Popen(
            [sys.executable, "-c", FINISHES_AS_IT_IS_STOPPED, ending],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 20
    while "SUCCESS" not in log_path.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.02)

    stop_job_process(runner, log_path)

    assert INTERRUPTED not in log_path.read_text()
    assert log_path.read_text().strip().endswith("SUCCESS\x1b[0m")


def test_a_run_stopped_part_way_is_still_said_to_be_interrupted(tmp_path):
    log_path = tmp_path / "run.log"
    with open(log_path, "ab") as log:
        runner = subprocess.Popen(
            [sys.executable, "-c", "import time; print('converting', flush=True); time.sleep(30)"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    while "converting" not in log_path.read_text():
        time.sleep(0.02)

    stop_job_process(runner, log_path)

    assert log_path.read_text().strip().endswith(INTERRUPTED)


def test_a_runner_that_does_not_end_on_sigterm_is_killed(tmp_path):
    """The command stopping a run returns whatever the runner does: one that has not ended on
    SIGTERM within the time given is killed, rather than waited for for ever."""
    log_path = tmp_path / "run.log"
    ignores_sigterm = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('converting', flush=True); time.sleep(60)"
    )
    with open(log_path, "ab") as log:
        runner = subprocess.Popen(
            [sys.executable, "-c", ignores_sigterm],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    while "converting" not in log_path.read_text():
        time.sleep(0.02)

    stop_job_process(runner, log_path, runner_seconds=1)

    assert runner.returncode == -signal.SIGKILL
    assert log_path.read_text().strip().endswith(INTERRUPTED)
