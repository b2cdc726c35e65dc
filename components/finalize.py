"""Exit handler — mark the job failed with the failing step's reason if the run did not succeed."""

from __future__ import annotations

import contextlib

from stereo_spot.domain import JobStatus
from stereo_spot.errors import TransitionConflict
from stereo_spot.jobs import JobStore


def finalize_job(job_id: str, pipeline_state: str, pipeline_message: str, jobs: JobStore) -> str:
    """Returns the job's final status.

    KFP's final status carries only a generic message, so each step records its own reason in
    the job store before it raises; this prefers that reason.
    """
    job = jobs.get(job_id)
    if job.status.is_final:
        return job.status.value
    if pipeline_state == "SUCCEEDED":
        # Every step succeeded but the job is not completed: should not happen; say so.
        reason = "The pipeline finished without publishing a result."
    else:
        reason = (
            job.error or f"The pipeline failed: {(pipeline_message or pipeline_state).rstrip('.')}."
        )
    # A step may have finished the job meanwhile; then its status stands.
    with contextlib.suppress(TransitionConflict):
        jobs.transition(job_id, JobStatus.FAILED, error=reason)
    return jobs.get(job_id).status.value
