"""Exit handler — mark the job failed with the failing step's reason if the run did not succeed,
and delete the segments of a job that ended failed."""

from __future__ import annotations

import contextlib
import logging

from stereo_spot.domain import Job, JobStatus
from stereo_spot.errors import TransitionConflict
from stereo_spot.jobs import JobStore, drop_files_of_failed
from stereo_spot.storage import ObjectStorage

log = logging.getLogger(__name__)


def finalize_job(
    job_id: str,
    pipeline_state: str,
    pipeline_message: str,
    jobs: JobStore,
    storage: ObjectStorage,
) -> str:
    """Returns the job's final status.

    KFP's final status carries only a generic message, so each step records its own reason in
    the job store before it raises; this prefers that reason.
    """
    job = jobs.get(job_id)
    if not job.status.is_final:
        if pipeline_state == "SUCCEEDED":
            # Every step succeeded but the job is not completed: should not happen; say so.
            reason = "The pipeline finished without publishing a result."
        else:
            reason = job.error or (
                f"The pipeline failed: {(pipeline_message or pipeline_state).rstrip('.')}."
            )
        # A step may have finished the job meanwhile; then its status stands.
        with contextlib.suppress(TransitionConflict):
            jobs.transition(job_id, JobStatus.FAILED, error=reason)
        job = jobs.get(job_id)
    if job.status is JobStatus.FAILED:
        _drop_files_of_failed(storage, job)
    return job.status.value


def _drop_files_of_failed(storage: ObjectStorage, job: Job) -> None:
    """A failed job is final (``jobs retry`` refuses it; converting it again splits its source
    anew), and its segments hold as much again as its video: nothing would read them."""
    try:
        drop_files_of_failed(storage, job)
    except Exception:  # the job's reason stands; its delete (or the bucket's rule) takes them
        log.warning("job %s: its segments were not deleted", job.job_id, exc_info=True)
