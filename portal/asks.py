"""Asks of an uploaded video answered once: the same conversion of the same video asked again
within minutes (a form sent twice, a double click, a script that retried) gets the job the
first ask made instead of converting it twice.

Remembered in this process for ten minutes, which is where a repeat comes from: a browser's
second click reaches the portal that took its first. The new job's id is claimed for the ask
before the job exists, so two asks at once make one job (the second ``create`` is refused and
finds the first's). Ids stay random and are never used again: a job made under a deleted job's
id would meet what that job left behind (a KFP run found by its name, steps still stopping).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from stereo_spot.domain import new_job_id

ASK_MEMORY_SECONDS = 600.0


@dataclass
class _Claim:
    job_id: str
    at: float
    made: bool = False


class RecentAsks:
    def __init__(
        self, seconds: float = ASK_MEMORY_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._seconds = seconds
        self._clock = clock
        self._claims: dict[str, _Claim] = {}
        self._lock = threading.Lock()

    def claim(self, ask: str) -> tuple[str, bool]:
        """The job id this ask takes, and whether an earlier ask made a job under it."""
        with self._lock:
            now = self._clock()
            for old in [
                key for key, claim in self._claims.items() if claim.at < now - self._seconds
            ]:
                del self._claims[old]
            claim = self._claims.setdefault(ask, _Claim(new_job_id(), now))
            return claim.job_id, claim.made

    def made(self, ask: str, job_id: str) -> None:
        """A job was made under the id claimed for ``ask``."""
        with self._lock:
            claim = self._claims.get(ask)
            if claim is not None and claim.job_id == job_id:
                claim.made = True

    def renew(self, ask: str) -> str:
        """A new id for ``ask``: the job made under the last one failed or was deleted, and
        asking again is a new try."""
        with self._lock:
            claim = self._claims[ask] = _Claim(new_job_id(), self._clock())
            return claim.job_id
