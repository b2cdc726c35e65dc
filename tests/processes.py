"""Finding the processes a test started, by what their command lines name; a process holding a
job's run lock as its runner would."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from tests.aws_fixtures import free_port

_HOLD_THE_LOCK = """
import sys, time
from pathlib import Path
from pipelines.local_runner import _hold_run_lock
lock = _hold_run_lock(Path(sys.argv[1]), sys.argv[2])
print("held", flush=True)
time.sleep(float(sys.argv[3]))
"""


@contextlib.contextmanager
def run_lock_held(runs_dir: Path, job_id: str, seconds: float = 120) -> Iterator[subprocess.Popen]:
    """A child process holding ``job_id``'s run lock with the runner's own code, as a running
    ``python -m pipelines JOB`` holds it, for ``seconds`` (a runner stopping takes a few);
    killed (SIGKILL, like the OOM killer) on leaving if it still runs."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_THE_LOCK, str(runs_dir / job_id), job_id, str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def processes_mentioning(text: str) -> list[psutil.Process]:
    """Running processes whose command line contains ``text`` (a job id, a data folder)."""
    return [
        process
        for process in psutil.process_iter(["cmdline"])
        if text in " ".join(process.info["cmdline"] or [])
    ]


# In the environment of a command a test stops and waits for: should it hang instead of ending,
# SIGABRT makes it print where each of its threads was (see :func:`output_once_ended`).
SHOWS_WHERE_IT_HANGS = {"PYTHONFAULTHANDLER": "1"}


def output_once_ended(run: subprocess.Popen, seconds: float) -> tuple[str, str]:
    """``run.communicate(timeout=seconds)``: its output and errors once it has ended. A run
    still going then fails the test saying what it and the processes it started were doing
    (each thread's stack from faulthandler, the run started with :data:`SHOWS_WHERE_IT_HANGS`),
    or, where it had ended, which of them still held its output open; a bare timeout said
    neither, and a hang seen once in CI could not be told apart from a slow machine."""
    import pytest

    try:
        return run.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        pass
    ended = run.poll()
    started = []
    with contextlib.suppress(psutil.NoSuchProcess):
        started = psutil.Process(run.pid).children(recursive=True)
    running = []
    for process in started:
        with contextlib.suppress(psutil.NoSuchProcess):
            running.append(f"{process.pid} {process.status()}: {' '.join(process.cmdline())}")
    if ended is None:
        run.send_signal(signal.SIGABRT)
    try:
        run.wait(timeout=30)
    except subprocess.TimeoutExpired:
        run.kill()
    # Whatever it left holding its output would keep the read below from ending.
    for process in started:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    try:
        _, stderr = run.communicate(timeout=30)
    except subprocess.TimeoutExpired as timed_out:
        stderr = (timed_out.stderr or b"").decode(errors="replace")
    state = (
        f"had ended (code {ended}) but its output was held open"
        if ended is not None
        else "still ran; SIGABRT'd for its stacks"
    )
    processes = "\n".join(running) or "none"
    pytest.fail(
        f"{' '.join(map(str, run.args))} {state} after {seconds:g} s.\n"
        f"Its processes then:\n{processes}\nIts errors:\n{stderr}"
    )


def gone_within(text: str, seconds: float) -> bool:
    """Whether every process mentioning ``text`` has ended within ``seconds``."""
    deadline = time.monotonic() + seconds
    while processes_mentioning(text) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not processes_mentioning(text)


def stereo_spot_command() -> list[str]:
    """How to run this checkout's CLI: the venv's script, else the module."""
    script = Path(sys.executable).with_name("stereo-spot")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from stereo_spot.cli import main; sys.exit(main())"]


def start_stereo_spot_up(
    data_dir: Path, environment: dict[str, str] | None = None, port: int | None = None
) -> tuple[subprocess.Popen, str, Path]:
    """Start ``stereo-spot up`` over ``data_dir`` on ``port`` (default: a free one; segments of
    1 s, uploads in parts of 5 MiB, S3's smallest, up to 64 MiB; ``environment`` on top) and
    wait until it serves. Returns the process, its URL and the log of its output (appended to,
    so a second ``up`` over the same folder adds to it); stopping it is the caller's."""
    import pytest

    port = port or free_port()
    log_path = data_dir.with_name(f"{data_dir.name}-up.log")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEREO_SPOT_")}
    env["STEREO_SPOT_SEGMENT_SECONDS"] = "1"
    env["STEREO_SPOT_UPLOAD_PART_BYTES"] = str(5 * 1024**2)  # a 12 MB file is 3 parts
    env["STEREO_SPOT_MAX_UPLOAD_BYTES"] = str(64 * 1024**2)
    env.update(environment or {})
    started_at = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [*stereo_spot_command(), "up", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    deadline = time.monotonic() + 120
    while "Stereo-Spot is running at" not in log_path.read_text()[started_at:]:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"stereo-spot up did not start:\n{log_path.read_text()}")
        time.sleep(0.2)
    return process, f"http://127.0.0.1:{port}/", log_path


@contextlib.contextmanager
def stereo_spot_up(data_dir: Path, environment: dict[str, str] | None = None) -> Iterator[str]:
    """``stereo-spot up`` over ``data_dir`` as :func:`start_stereo_spot_up` starts it; yields its
    URL, and checks it stops cleanly on Ctrl-C."""
    import pytest

    process, url, log_path = start_stereo_spot_up(data_dir, environment)
    try:
        yield url
    finally:
        process.send_signal(signal.SIGINT)  # what Ctrl-C does
        try:
            code = process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"stereo-spot up did not stop on Ctrl-C:\n{log_path.read_text()}")
    assert code == 0, log_path.read_text()
    assert "Stereo-Spot stopped." in log_path.read_text()
