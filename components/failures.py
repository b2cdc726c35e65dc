"""A step's reason for failing, on its job before the step raises.

KFP tells the exit handler only that a task failed ("Task exit-handler-1 failed."), and that is
all the job's page, ``convert`` and ``jobs show`` could say. The stages record the reasons they
foresee themselves (a video refused, frames lost); this records the rest: a full disk, a
storage fault, an ffmpeg failure nobody foresaw.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from stereo_spot.disk_space import is_out_of_space, scratch_ran_out
from stereo_spot.errors import StereoSpotError, TransitionConflict
from stereo_spot.jobs import JobStore

log = logging.getLogger(__name__)


@contextlib.contextmanager
def reason_recorded(jobs: JobStore, job_id: str, doing: str) -> Iterator[None]:
    """Record why the block failed on job ``job_id``, then let the error go on (to KFP's retry
    or the exit handler, which fails the job with the recorded reason). ``doing`` names the
    step as a user would: "Splitting the video"."""
    try:
        yield
    except Exception as error:
        _record(jobs, job_id, reason_for(doing, error), error)
        raise


def reason_for(doing: str, error: Exception) -> str:
    if is_out_of_space(error):
        return scratch_ran_out(doing)
    if isinstance(error, StereoSpotError):
        return str(error)  # already one sentence a user can act on
    if isinstance(error, OSError) and error.strerror:
        where = f" ({error.filename})" if error.filename else ""
        return f"{doing} failed: {error.strerror}{where}."
    return f"{doing} failed: {type(error).__name__}: {str(error)[:300]}".rstrip(". ") + "."


def _record(jobs: JobStore, job_id: str, reason: str, error: Exception) -> None:
    if isinstance(error, TransitionConflict):
        return  # cancelled or failed meanwhile: its own reason stands
    try:
        if jobs.get(job_id).status.is_final:
            return  # failed by the step with its reason, or cancelled
        jobs.update(job_id, error=reason)
    except Exception:
        log.warning("job %s: why it failed could not be recorded", job_id, exc_info=True)
