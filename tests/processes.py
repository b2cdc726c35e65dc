"""Finding the processes a test started, by what their command lines name."""

from __future__ import annotations

import time

import psutil


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
