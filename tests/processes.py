"""Finding the processes a test started, by what their command lines name; a process holding a
job's run lock as its runner would."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

_HOLD_THE_LOCK = """
import sys, time
from pathlib import Path
from pipelines.local_runner import _hold_run_lock
lock = _hold_run_lock(Path(sys.argv[1]), sys.argv[2])
print("held", flush=True)
time.sleep(120)
"""


@contextlib.contextmanager
def run_lock_held(runs_dir: Path, job_id: str) -> Iterator[subprocess.Popen]:
    """A child process holding ``job_id``'s run lock with the runner's own code, as a running
    ``python -m pipelines JOB`` holds it; killed (SIGKILL, like the OOM killer) on leaving."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_THE_LOCK, str(runs_dir / job_id), job_id],
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


def gone_within(text: str, seconds: float) -> bool:
    """Whether every process mentioning ``text`` has ended within ``seconds``."""
    deadline = time.monotonic() + seconds
    while processes_mentioning(text) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not processes_mentioning(text)
