"""Stopping a local run leaves none of its processes behind, not even a task started in the very
moment the stop signal went out (a cancelled job's task went on converting a segment), nor a
runner started in the very moment the command was interrupted."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from pipelines.local_runner import INTERRUPTED, run_log_path, start_job_process, stop_job_process
from stereo_spot.cli import _sigterm_as_interrupt
from stereo_spot.settings import Settings

# A runner that, as the stop reaches it, starts one more task in its process group (kfp.local
# launching the next segment's step in that moment), then ends as the real runner does.
RUNNER = textwrap.dedent(
    """
    import signal, subprocess, sys, time

    def stopped(signum, frame):
        task = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print(task.pid, flush=True)
        time.sleep(0.2)
        sys.exit(143)

    signal.signal(signal.SIGTERM, stopped)
    print("ready", flush=True)
    time.sleep(60)
    """
)


def _runner() -> subprocess.Popen:
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert runner.stdout.readline().strip() == "ready"
    return runner


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_task_started_as_the_run_stops_is_stopped_too(tmp_path):
    runner, log = _runner(), tmp_path / "run.log"
    stop_job_process(runner, log)
    late = int(runner.stdout.readline())
    assert runner.returncode == 143
    assert not _running(late), "the task started after the signal went out is gone"
    assert log.read_text().strip().endswith(INTERRUPTED)


def test_what_is_left_of_a_run_that_ended_by_itself_is_stopped(tmp_path):
    runner = _runner()
    runner.send_signal(signal.SIGTERM)  # the runner alone, as when it ends by itself
    late = int(runner.stdout.readline())
    runner.wait(timeout=10)
    time.sleep(0.3)
    assert _running(late), "the premise: its last task outlives it"
    stop_job_process(runner, tmp_path / "run.log")
    assert not _running(late)
    assert not (tmp_path / "run.log").exists(), "a run that ended by itself was not interrupted"


def test_a_runner_started_as_the_command_is_interrupted_is_stopped_first(tmp_path, monkeypatch):
    # SIGTERM landing after the runner's process exists but before its caller holds it (the
    # rest of Popen, closing the log): the interrupt went up through the caller, which had
    # nothing to stop, and a batch `convert` ended with its next video's run still converting.
    started: list[subprocess.Popen] = []

    class InterruptedAsItStarts(subprocess.Popen):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(subprocess, "Popen", InterruptedAsItStarts)
    settings = Settings(backend="local", data_dir=tmp_path)

    with _sigterm_as_interrupt(), pytest.raises(KeyboardInterrupt):
        start_job_process(settings, "job-1")

    (runner,) = started
    assert runner.poll() is not None, "the runner had ended before the interrupt went on"
    assert run_log_path(settings, "job-1").read_text().strip().endswith(INTERRUPTED)
