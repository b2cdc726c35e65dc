"""SQLite job store for the embedded stack.

Several processes write to it at once (kfp.local runs each task in its own process), so every
write is a single ``BEGIN IMMEDIATE`` transaction and the file runs in WAL mode.

SQLite's own errors ("disk I/O error", "unable to open database file") are said here as what
they mean for the data folder: a disk that is full, or a folder that cannot be written. Every
user of the store (the CLI, the portal, the pipeline's steps) then gets the same sentence.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stereo_spot.disk_space import (
    DiskFull,
    cannot_be_written,
    free_bytes,
    is_out_of_space,
    left_in,
)
from stereo_spot.domain import Job, JobStatus, can_transition, utc_now
from stereo_spot.errors import JobNotFound, StoreUnavailable, TransitionConflict
from stereo_spot.jobs import JobPage, RunnerLease, cursors

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    completed_at TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_completed ON jobs (status, completed_at);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (status, created_at);
CREATE TABLE IF NOT EXISTS done_segments (
    job_id TEXT NOT NULL,
    segment_index INTEGER NOT NULL,
    PRIMARY KEY (job_id, segment_index)
);
"""

# Less room than this left on the store's disk, SQLite's bare "disk I/O error" is taken for the
# disk's doing: in WAL mode even a reader must grow the shared index, and where it cannot,
# that is all SQLite says.
_NEARLY_FULL = 4 * 2**20

# SQLite's words for a store in a folder it may not write (read-only, not its owner's).
_NOT_WRITABLE = ("unable to open database file", "attempt to write a readonly database")


class JobStoreFull(DiskFull, StoreUnavailable):
    """The job store's disk is full: SQLite can neither write nor, in WAL mode, read. Nothing
    can say how a job goes until there is room (the portal answers 503, the CLI exits 1)."""


class SqliteJobStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @property
    def folder(self) -> Path:
        return self.path.parent.resolve()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            try:
                yield db
            finally:
                db.close()
        except sqlite3.OperationalError as error:
            said = self._store_fault_said(error)
            if said is None:
                raise
            raise said from None

    def _store_fault_said(self, error: sqlite3.OperationalError) -> StoreUnavailable | None:
        """The error to raise for a fault of the store's folder rather than of the query: its
        disk full, or the folder not writable; None for any other error."""
        if any(words in str(error) for words in _NOT_WRITABLE):
            return StoreUnavailable(
                cannot_be_written(self.folder, "its job store cannot be made or written")
            )
        free = free_bytes(self.folder)
        nearly_full = free is not None and free < _NEARLY_FULL
        if is_out_of_space(error) or ("disk I/O error" in str(error) and nearly_full):
            return JobStoreFull(
                f"The job store in {self.folder} cannot be read or written: its disk is full"
                f"{left_in(self.folder)}. Free some space there, or convert with --data-dir on "
                "a larger disk."
            )
        return None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @staticmethod
    def _load(db: sqlite3.Connection, job_id: str) -> Job:
        row = db.execute("SELECT body FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"There is no job '{job_id}'.")
        return Job.model_validate_json(row[0])

    @staticmethod
    def _save(db: sqlite3.Connection, job: Job) -> None:
        db.execute(
            "UPDATE jobs SET status = ?, completed_at = ?, body = ? WHERE job_id = ?",
            (
                job.status.value,
                job.completed_at.isoformat() if job.completed_at else None,
                job.model_dump_json(),
                job.job_id,
            ),
        )

    def create(self, job: Job) -> Job:
        with self._write() as db:
            try:
                db.execute(
                    "INSERT INTO jobs (job_id, status, created_at, completed_at, body)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        job.job_id,
                        job.status.value,
                        job.created_at.isoformat(),
                        None,
                        job.model_dump_json(),
                    ),
                )
            except sqlite3.IntegrityError:
                raise TransitionConflict(f"A job with id '{job.job_id}' already exists.") from None
        return job

    def get(self, job_id: str) -> Job:
        with self._connect() as db:
            return self._load(db, job_id)

    def transition(self, job_id: str, status: JobStatus, **fields: Any) -> Job:
        status = JobStatus(status)
        with self._write() as db:
            job = self._load(db, job_id)
            if not can_transition(job.status, status):
                raise TransitionConflict(
                    f"Job {job_id} is {job.status.value}; it cannot move to {status.value}."
                )
            now = utc_now()
            changes = {"status": status, "updated_at": now, **fields}
            if status is JobStatus.COMPLETED:
                changes.setdefault("completed_at", now)
            job = job.model_copy(update=changes)
            job = Job.model_validate(job.model_dump())
            self._save(db, job)
            return job

    def update(self, job_id: str, **fields: Any) -> Job:
        with self._write() as db:
            job = self._load(db, job_id)
            if job.status.is_final:
                raise TransitionConflict(f"Job {job_id} is {job.status.value}; it is not changed.")
            job = Job.model_validate({**job.model_dump(), **fields, "updated_at": utc_now()})
            self._save(db, job)
            return job

    def mark_segment_done(self, job_id: str, segment_index: int, damaged_frames: int = 0) -> Job:
        with self._write() as db:
            job = self._load(db, job_id)
            if job.status.is_final:
                return job
            counted = db.execute(
                "INSERT OR IGNORE INTO done_segments (job_id, segment_index) VALUES (?, ?)",
                (job_id, segment_index),
            ).rowcount
            (done,) = db.execute(
                "SELECT COUNT(*) FROM done_segments WHERE job_id = ?", (job_id,)
            ).fetchone()
            damaged = job.damaged_frames + (damaged_frames if counted else 0)
            job = job.model_copy(
                update={
                    "completed_segments": done,
                    "damaged_frames": damaged,
                    "updated_at": utc_now(),
                }
            )
            self._save(db, job)
            return job

    def list_completed(self, limit: int = 20, cursor: str | None = None) -> JobPage:
        return self._newest_first("status = 'completed'", [], "completed_at", limit, cursor)

    def list_by_status(
        self, statuses: Collection[JobStatus], limit: int = 20, cursor: str | None = None
    ) -> JobPage:
        wanted = list(dict.fromkeys(JobStatus(status).value for status in statuses))
        if not wanted:  # "IN ()" is no SQL
            return JobPage(jobs=[], next_cursor=None)
        where = f"status IN ({', '.join('?' * len(wanted))})"
        return self._newest_first(where, wanted, "created_at", limit, cursor)

    def _newest_first(
        self, where: str, args: list[Any], order: str, limit: int, cursor: str | None
    ) -> JobPage:
        """A page of the jobs ``where`` selects, newest ``order`` (a timestamp column) first,
        ties by id; after the cursor's job, and with a cursor only when a job is left over."""
        if limit <= 0:
            return JobPage(jobs=[], next_cursor=None)
        fields = (order, "job_id")
        query = f"SELECT body, {order}, job_id FROM jobs WHERE {where}"
        if cursor:
            after = cursors.decode(cursor, fields)
            query += f" AND ({order} < ? OR ({order} = ? AND job_id < ?))"
            args = [*args, after[order], after[order], after["job_id"]]
        query += f" ORDER BY {order} DESC, job_id DESC LIMIT ?"
        with self._connect() as db:
            rows = db.execute(query, [*args, limit + 1]).fetchall()
        jobs = [Job.model_validate_json(body) for body, _, _ in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            _, last_order, last_id = rows[limit - 1]
            next_cursor = cursors.encode({order: last_order, "job_id": last_id})
        return JobPage(jobs=jobs, next_cursor=next_cursor)

    def list_all(self, limit: int = 50) -> list[Job]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT body FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [Job.model_validate_json(body) for (body,) in rows]

    def hold_runner_lease(self, lease: RunnerLease, stale_after: float) -> RunnerLease:
        # Granted always: only the portal that claims the store's data folder opens it with a
        # runner (stereo_spot.cli.data_folder_claim), and the kernel lets go of that claim when
        # its holder ends, however it ends; a lease kept here too would hold off the next
        # start for a minute after a killed one.
        return lease

    def release_runner_lease(self, token: str) -> None:
        pass  # nothing was kept

    def delete(self, job_id: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM done_segments WHERE job_id = ?", (job_id,))
            deleted = db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,)).rowcount
        if not deleted:
            raise JobNotFound(f"There is no job '{job_id}'.")
