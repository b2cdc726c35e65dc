"""SQLite job store for the embedded stack.

Several processes write to it at once (kfp.local runs each task in its own process), so every
write is a single ``BEGIN IMMEDIATE`` transaction and the file runs in WAL mode.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stereo_spot.domain import Job, JobStatus, can_transition, utc_now
from stereo_spot.errors import JobNotFound, TransitionConflict
from stereo_spot.jobs import JobPage, cursors

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


class SqliteJobStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            yield db
        finally:
            db.close()

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
        query = "SELECT body, completed_at, job_id FROM jobs WHERE status = 'completed'"
        args: list[Any] = []
        if cursor:
            after = cursors.decode(cursor, _COMPLETED_CURSOR)
            query += " AND (completed_at < ? OR (completed_at = ? AND job_id < ?))"
            args += [after["completed_at"], after["completed_at"], after["job_id"]]
        query += " ORDER BY completed_at DESC, job_id DESC LIMIT ?"
        return self._page(query, [*args, limit + 1], limit, _COMPLETED_CURSOR)

    def list_by_status(
        self, statuses: Collection[JobStatus], limit: int = 20, cursor: str | None = None
    ) -> JobPage:
        wanted = list(dict.fromkeys(JobStatus(status).value for status in statuses))
        if limit <= 0 or not wanted:
            return JobPage(jobs=[], next_cursor=None)
        query = (
            "SELECT body, created_at, job_id FROM jobs"
            f" WHERE status IN ({', '.join('?' * len(wanted))})"
        )
        args: list[Any] = list(wanted)
        if cursor:
            after = cursors.decode(cursor, _CREATED_CURSOR)
            query += " AND (created_at < ? OR (created_at = ? AND job_id < ?))"
            args += [after["created_at"], after["created_at"], after["job_id"]]
        query += " ORDER BY created_at DESC, job_id DESC LIMIT ?"
        return self._page(query, [*args, limit + 1], limit, _CREATED_CURSOR)

    def _page(
        self, query: str, args: list[Any], limit: int, cursor_fields: tuple[str, str]
    ) -> JobPage:
        """Run a listing's query (rows of body, then the cursor's two fields, ``limit + 1`` of
        them): the page, and a cursor only when a row is left over."""
        with self._connect() as db:
            rows = db.execute(query, args).fetchall()
        jobs = [Job.model_validate_json(body) for body, _, _ in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            _, order, job_id = rows[limit - 1]
            next_cursor = cursors.encode(dict(zip(cursor_fields, (order, job_id), strict=True)))
        return JobPage(jobs=jobs, next_cursor=next_cursor)

    def list_all(self, limit: int = 50) -> list[Job]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT body FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [Job.model_validate_json(body) for (body,) in rows]

    def delete(self, job_id: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM done_segments WHERE job_id = ?", (job_id,))
            deleted = db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,)).rowcount
        if not deleted:
            raise JobNotFound(f"There is no job '{job_id}'.")


# What a page's cursor holds: the last job's place in the listing's order.
_COMPLETED_CURSOR = ("completed_at", "job_id")
_CREATED_CURSOR = ("created_at", "job_id")
