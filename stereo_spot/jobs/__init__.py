"""The job-store port: job records and their forward-only status machine.

Adapters: :mod:`stereo_spot.jobs.sqlite` (embedded default) and :mod:`stereo_spot.jobs.dynamo`
(cluster). Every adapter enforces :func:`stereo_spot.domain.can_transition` atomically: a late or
duplicate update raises :class:`~stereo_spot.errors.TransitionConflict` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from stereo_spot import keys
from stereo_spot.domain import CANCELLED, Job, JobStatus
from stereo_spot.errors import InvalidKey, JobBusy, JobNotFound, NothingToCancel
from stereo_spot.storage import ObjectStorage


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    next_cursor: str | None


@dataclass(frozen=True)
class RunnerLease:
    """A job store's one local runner: the portal that resumes and runs its jobs on its own
    machine. Two such portals over one store would each resume the other's jobs (docs/AWS.md),
    so a starting one holds this lease while it runs, renewing it; ``token`` is unique to one
    start, the rest says who holds it to whoever is refused."""

    token: str
    host: str
    pid: int
    data_dir: str
    renewed_at: float  # seconds since the epoch, by the holder's clock


@runtime_checkable
class JobStore(Protocol):
    def create(self, job: Job) -> Job:
        """Store a new job; raises TransitionConflict if the id exists."""

    def get(self, job_id: str) -> Job:
        """Raises JobNotFound."""

    def transition(self, job_id: str, status: JobStatus, **fields: Any) -> Job:
        """Move the job to ``status`` (and set ``fields``) if the status machine allows it."""

    def update(self, job_id: str, **fields: Any) -> Job:
        """Set non-status fields (total_segments, run_id, source...) on a non-final job."""

    def mark_segment_done(self, job_id: str, segment_index: int, damaged_frames: int = 0) -> Job:
        """Record one converted segment, and the pictures in it that could not be decoded
        (added to ``Job.damaged_frames``); counting the same index twice has no effect."""

    def list_completed(self, limit: int = 20, cursor: str | None = None) -> JobPage:
        """Completed jobs, newest ``completed_at`` first, ``limit`` at a time. A cursor of
        another listing, or one made up, raises InvalidKey."""

    def list_by_status(
        self, statuses: Collection[JobStatus], limit: int = 20, cursor: str | None = None
    ) -> JobPage:
        """Jobs in any of ``statuses``, newest ``created_at`` first (ties: higher id first),
        ``limit`` at a time. A cursor of another listing raises InvalidKey."""

    def list_all(self, limit: int = 50) -> list[Job]:
        """Every job, newest ``created_at`` first (for operators)."""

    def delete(self, job_id: str) -> None:
        """Forget the job (its media are deleted separately)."""

    def hold_runner_lease(self, lease: RunnerLease, stale_after: float) -> RunnerLease:
        """Take or renew the store's one runner lease for ``lease.token``, in one atomic step:
        granted when nobody holds it, when ``lease.token`` does, or when its holder renewed it
        more than ``stale_after`` seconds before ``lease.renewed_at`` (it was killed). Returns
        the lease held now: ``lease`` when granted, else the other holder's. The lease is no
        job: no listing shows it. A store that only one portal can open with a runner (SQLite,
        in the data folder that portal claims) grants it always."""

    def release_runner_lease(self, token: str) -> None:
        """Give the runner lease up if ``token`` holds it; nothing otherwise."""


# list_all is newest first and bounded; this is how many past jobs a restart, or a search by the
# start of an id, looks through.
RESUME_SCAN_LIMIT = 10_000


def left_queued(jobs: JobStore) -> list[Job]:
    """The jobs still queued, oldest first: what a starting run launcher takes up again (a
    previous one stopped before running them). A job a ``convert`` on this machine made (it has
    an output file) is that command's: ``jobs retry`` resumes it, no launcher does."""
    return [
        job
        for job in reversed(jobs.list_all(limit=RESUME_SCAN_LIMIT))
        if job.status is JobStatus.QUEUED and not job.output_path
    ]


# The fewest leading characters of an id that name a job (as git takes a commit's): fewer would
# match by chance among a few thousand jobs.
SHORTEST_ID_PREFIX = 4


def find(jobs: JobStore, id_or_prefix: str) -> Job:
    """The job with this id, or the one job whose id starts with it (ids are 32 characters;
    people type the first few). Raises JobNotFound naming the candidates when several match."""
    try:
        # What is no job id is no job: the store's runner lease is kept under such a key.
        return jobs.get(keys.validate_job_id(id_or_prefix))
    except (JobNotFound, InvalidKey):
        if len(id_or_prefix) < SHORTEST_ID_PREFIX:
            raise JobNotFound(
                f"There is no job '{id_or_prefix}'; name a job by its id, or by at least "
                f"{SHORTEST_ID_PREFIX} of its first characters."
            ) from None
    matches = [
        job for job in jobs.list_all(limit=RESUME_SCAN_LIMIT) if job.job_id.startswith(id_or_prefix)
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise JobNotFound(f"There is no job '{id_or_prefix}'.")
    listed = ", ".join(job.job_id for job in matches[:5]) + (", ..." if len(matches) > 5 else "")
    raise JobNotFound(
        f"'{id_or_prefix}' starts the ids of {len(matches)} jobs ({listed}); give more of it."
    )


# Where a local run stopped part-way (its process ended with the portal) leaves its job.
LEFT_PART_WAY = (JobStatus.CHUNKING, JobStatus.PROCESSING, JobStatus.REASSEMBLING)


def left_part_way(jobs: JobStore) -> list[Job]:
    """The portal's jobs whose local run stopped part-way, oldest first: a restarted local
    launcher resumes them (the segments already converted are reused). A cluster's runs go
    on without the portal, so only the local launcher asks, and a job a Kubeflow run runs is
    not its to resume (a portal over a table a cluster's portals also use)."""
    return [
        job
        for job in reversed(jobs.list_all(limit=RESUME_SCAN_LIMIT))
        if job.status in LEFT_PART_WAY and not job.output_path and not job.run_on_a_cluster
    ]


def cancel(jobs: JobStore, job_id: str) -> Job:
    """Mark a job that has not finished as cancelled (failed, reason ``CANCELLED``).

    A run that has not started never will, and the steps of one that is running stop at their
    next write to the job; stopping the run's processes at once is the launcher's part.
    """
    job = jobs.get(job_id)
    if job.cancelled:
        # It ended failed, but pages say Cancelled: "already failed" would read as a fault.
        raise NothingToCancel("This job has already been cancelled; there is nothing to cancel.")
    if job.status.is_final:
        raise NothingToCancel(
            f"This job has already {job.status.value}; there is nothing to cancel."
        )
    return jobs.transition(job_id, JobStatus.FAILED, error=CANCELLED)


def status_said(job: Job) -> str:
    """The job's status as refusals say it: "cancelled" for a cancelled job, which its record
    keeps as failed (pages say Cancelled; "failed" would read as a fault)."""
    return "cancelled" if job.cancelled else job.status.value


def drop_segments(storage: ObjectStorage, job_id: str) -> int:
    """Delete the job's source and converted segments (as large as its video) once nothing will
    read them: it completed, or it ended failed or cancelled, which nothing resumes (a convert
    again splits its uploaded source anew; ``jobs retry`` refuses a failed job). The source and
    a part's cut stay: converting again reads them. Returns how many objects went."""
    return sum(storage.delete_prefix(prefix) for prefix in keys.segment_prefixes(job_id))


def drop_files_of_failed(storage: ObjectStorage, job: Job) -> int:
    """What a job that ended failed or cancelled keeps that nothing will read again: its
    segments (:func:`drop_segments`), and a preview's copy of the whole video its run was to cut
    the excerpt from (:attr:`Job.cut_preview`, on S3: as large as a studio's master). The video
    the user uploaded stays with its own job, to convert again. Returns how many objects went."""
    dropped = drop_segments(storage, job.job_id)
    if job.cut_preview:
        dropped += storage.delete_prefix(keys.source_key(job.job_id))
    return dropped


# How long a delete waits for the run of a job that ended failed or cancelled to stop: a run
# told to stop has its runner killed after 10 s and its tasks 2 s later
# (pipelines.local_runner.stop_job_process), and one cancelled from another process is told
# within a second or two.
STOPPING_SECONDS = 15.0


# The statuses of a job that is waiting for its run or running: it cannot be deleted then.
ACTIVE = frozenset(
    {JobStatus.QUEUED, JobStatus.CHUNKING, JobStatus.PROCESSING, JobStatus.REASSEMBLING}
)


def delete(jobs: JobStore, storage: ObjectStorage, job_id: str, run_ended: bool = False) -> int:
    """Forget the job and delete every object it has; returns how many objects went.

    A job that is running is refused: its tasks would write new objects after the delete.
    ``run_ended``: the caller knows its run ended part-way (killed, its machine stopped), so
    that, though its record still says it converts, nothing will write to it.
    """
    job = jobs.get(job_id)
    if job.status in ACTIVE and not run_ended:
        raise JobBusy(
            "This job is still running; cancel it first, or delete it once it has finished."
        )
    deleted = sum(storage.delete_prefix(prefix) for prefix in keys.job_prefixes(job_id))
    jobs.delete(job_id)
    return deleted
