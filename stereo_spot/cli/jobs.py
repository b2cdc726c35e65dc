"""``stereo-spot jobs list|show|retry|cancel|delete``: look after jobs on the configured backend."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from stereo_spot.cli.stereo_options import (
    DATA_DIR_DEFAULT,
    existing_data_folder,
    how_many,
    segment_seconds,
)
from stereo_spot.domain import Job, JobStatus
from stereo_spot.errors import JobBusy, StereoSpotError
from stereo_spot.jobs import (
    SHORTEST_ID_PREFIX,
    STOPPING_SECONDS,
    cancel,
    delete,
    drop_files_of_failed,
    find,
    status_said,
)
from stereo_spot.keys import final_key
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from, storage_from

JOB_ID_HELP = (
    f"the job's id, or its first few characters (at least {SHORTEST_ID_PREFIX}) if no other "
    "job's id starts so"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    jobs = subparsers.add_parser(
        "jobs",
        help="list, show, retry, cancel or delete jobs",
        description="The jobs kept in the data folder (convert's and the portal's): list them, "
        "show one, resume one that was interrupted, cancel one, or delete one with its media.",
    )
    verbs = jobs.add_subparsers(dest="jobs_command", required=True, metavar="VERB")
    list_ = verbs.add_parser(
        "list",
        help="recent jobs, newest first",
        description="Recent jobs, newest first: id, status, segments done, layout and video.",
    )
    list_.add_argument("--limit", type=how_many, default=20, help="at most this many (20)")
    list_.set_defaults(func=run_list)
    show = verbs.add_parser(
        "show", help="one job as JSON", description="Print one job's whole record as JSON."
    )
    show.add_argument("job_id", help=JOB_ID_HELP)
    show.set_defaults(func=run_show)
    retry = verbs.add_parser(
        "retry",
        help="resume an interrupted job, reusing the segments already converted",
        description="Resume a job that was interrupted (Ctrl-C, a reboot, a killed process), "
        "reusing the segments already converted, and write its result; a completed job's "
        "result is written again (-o).",
    )
    retry.add_argument("job_id", help=JOB_ID_HELP)
    retry.add_argument(
        "--segment-seconds",
        type=segment_seconds,
        default=None,
        help="segment length in seconds, for a job not split yet (default: what its convert "
        "was given, else STEREO_SPOT_SEGMENT_SECONDS, 10)",
    )
    retry.add_argument(
        "-o",
        "--output",
        help=(
            "write the 3D video to this file, or into this folder (ending in /) under its own "
            "name (default: where the convert that started it was to)"
        ),
    )
    retry.set_defaults(func=run_retry)
    cancel = verbs.add_parser(
        "cancel",
        help="stop a job that has not finished (on a cluster its Kubeflow run is terminated)",
        description="Stop a job that has not finished: its run stops (on a cluster its "
        "Kubeflow run is terminated), its segments are deleted, its video kept.",
    )
    cancel.add_argument("job_id", help=JOB_ID_HELP)
    cancel.set_defaults(func=run_cancel)
    delete = verbs.add_parser(
        "delete",
        help="forget a job that is not running and delete its media, run and log",
        description="Forget a job that is not running and delete its media, run and log.",
    )
    delete.add_argument("job_id", help=JOB_ID_HELP)
    delete.set_defaults(func=run_delete)
    for verb in (list_, show, retry, cancel, delete):
        verb.add_argument(
            "--data-dir",
            type=existing_data_folder,
            help=f"where the jobs are kept, as given to convert ({DATA_DIR_DEFAULT})",
        )


def _settings(args: argparse.Namespace) -> Settings:
    """The configured settings, with ``--data-dir`` if given (jobs that ``convert --data-dir``
    made are kept there)."""
    settings = Settings()
    if getattr(args, "data_dir", None):
        settings = settings.model_copy(update={"data_dir": args.data_dir.resolve()})
    return settings


def run_list(args: argparse.Namespace) -> int:
    from pipelines.local_runner import stopped_part_way

    settings = _settings(args)
    listed = job_store_from(settings).list_all(limit=args.limit)
    if not listed:
        # Which store was read: jobs kept under another --data-dir are not in it.
        where = settings.data_dir if settings.backend == "local" else settings.jobs_table
        print(f"No jobs in {where}.", file=sys.stderr)
    any_stopped = False
    failed: list[Job] = []
    for job in listed:
        status = status_said(job)  # "cancelled", not a "failed" that reads as a fault
        if stopped_part_way(settings, job):
            status, any_stopped = "stopped", True
        elif status == "failed":
            failed.append(job)
        done = f"{job.completed_segments}/{job.total_segments}"
        print(
            f"{job.job_id}  {status:<12} {done:>9}  {job.layout.value:<9} {job.source_name}"
            f"{_which_part(job)}"
        )
    if any_stopped:
        print(
            "stopped: its run ended part-way (the command or portal running it was stopped); "
            "resume it with: stereo-spot jobs retry JOB",
            file=sys.stderr,
        )
    _say_why_they_failed(failed)
    return 0


# How much of a failed job's reason ``jobs list`` shows: a line of a terminal keeps room for it.
REASON_SHOWN = 60


def _say_why_they_failed(failed: list[Job]) -> None:
    """Beneath the list (on stderr: the rows stay as scripts read them), the first words of why
    each failed job failed, and how to read all of it."""
    if not failed:
        return
    for job in failed:
        reason = _first_words(job.error or "no reason was recorded")
        # Its id's first 8 characters: enough for `jobs show` to tell it from the rest.
        print(f"failed {job.job_id[:8]}: {reason}", file=sys.stderr)
    print("why a job failed, in full: stereo-spot jobs show JOB", file=sys.stderr)


def _first_words(reason: str) -> str:
    """The reason's first line, cut at a word to about ``REASON_SHOWN`` characters."""
    line = (reason.strip().splitlines() or [""])[0]
    if len(line) <= REASON_SHOWN:
        return line
    return line[:REASON_SHOWN].rsplit(" ", 1)[0] + " ..."


def _which_part(job: Job) -> str:
    """What ``jobs list`` says beside the video's name of the part a job converts: `` (from
    0:30 to 1:00)``, or for a preview taken from a part `` (preview of the part from 0:30 to
    1:00)``, as the portal's job page names it."""
    if job.part is not None:
        return f" ({job.part.label})"
    if job.preview_within is not None:
        return f" (preview of the part {job.preview_within.label})"
    return ""


def _job(settings: Settings, id_or_prefix: str) -> Job:
    """The job named on the command line: by its id, or the first few characters of it."""
    return find(job_store_from(settings), id_or_prefix)


def run_show(args: argparse.Namespace) -> int:
    job = _job(_settings(args), args.job_id)
    print(json.dumps(job.model_dump(mode="json"), indent=2))
    return 0


def run_retry(args: argparse.Namespace) -> int:
    from pipelines.local_runner import run_in_progress
    from stereo_spot.cli.follow_run import converted_elsewhere, model_server, run_with_progress
    from stereo_spot.cli.outputs import default_output, fetch_result, plan_output, say_written

    settings = _settings(args)
    job = _job(settings, args.job_id)
    if job.status is JobStatus.FAILED:
        raise StereoSpotError(
            f"Job {job.job_id} failed ({job.error}); failed jobs are final, convert the video again."
        )
    if job.run_on_a_cluster and job.status is not JobStatus.COMPLETED:
        # Resumed here, it would be converted twice at once: the cluster's run holds no lock
        # this machine can see, and its exit handler fails the job however it ends.
        raise StereoSpotError(
            f"Job {job.job_id} is {job.status.value} in Kubeflow run {job.run_id}: jobs retry "
            "resumes only runs of this machine. Follow that run in the Kubeflow UI; if it has "
            "ended without a result, convert the video again from the portal."
        )
    if args.output:
        # Checked before the run is resumed, as convert checks its -o before converting. A
        # preview's name says so already (holiday_preview.mp4, as the portal and convert name
        # them): marked again, it was holiday_preview_preview_redcyan.mp4.
        named = default_output(
            Path(job.source_name or "video.mp4"), job.layout,
            anaglyph_mode=job.params.anaglyph_mode, part=job.part,
        )  # fmt: skip
        output = plan_output(args.output, named)
    else:
        output = Path(job.output_path) if job.output_path else None
    if job.status is JobStatus.COMPLETED:
        print(f"job {job.job_id} is already completed.", file=sys.stderr)
    else:
        running = run_in_progress(settings, job.job_id)
        if running is not None:
            raise StereoSpotError(converted_elsewhere(job.job_id, running))
        # The engine the job was made for, not this shell's STEREO_SPOT_ENGINE: a server of
        # another engine refuses every segment, and the job failed for good.
        settings = settings.model_copy(update={"engine": job.engine})
        # Split as its convert was asked to, unless told otherwise.
        seconds = args.segment_seconds or job.segment_seconds
        with model_server(settings) as (settings, server):
            run_with_progress(settings, job.job_id, seconds, server)
        print(f"job {job.job_id} completed.", file=sys.stderr)
    if output is not None and (args.output or not output.exists()):
        # As the run left it (a part's run records the part it cut).
        job = job_store_from(settings).get(job.job_id)
        fetch_result(storage_from(settings), job, output)
        say_written(output, job)
    elif output is None:
        kept = storage_from(settings).uri_for(final_key(job.job_id))
        print(
            f"The 3D video is kept at {kept}; write it to a file with: "
            f"stereo-spot jobs retry {job.job_id} -o FILE",
            file=sys.stderr,
        )
    return 0


def run_cancel(args: argparse.Namespace) -> int:
    """Mark the job cancelled, then stop its run: a Kubeflow run is terminated; a local run (a
    ``convert`` or ``up`` elsewhere on this machine) notices and stops itself, within a second
    or two. Its segments are deleted once it has stopped (nothing resumes a cancelled job; its
    uploaded video stays, to convert it again)."""
    settings = _settings(args)
    jobs = job_store_from(settings)
    job = cancel(jobs, _job(settings, args.job_id).job_id)
    if settings.kfp_host:
        from pipelines.kfp_launcher import KfpRunLauncher

        KfpRunLauncher(settings, jobs).cancel(job.job_id)
    if _run_stopped_within(settings, job.job_id, STOPPING_SECONDS) is None:
        from pipelines.local_runner import drop_run_folder

        drop_files_of_failed(storage_from(settings), job)
        drop_run_folder(settings, job)
    print(f"job {job.job_id} cancelled.", file=sys.stderr)
    return 0


def _run_stopped_within(settings: Settings, job_id: str, seconds: float) -> str | None:
    """Wait up to ``seconds`` for the run of the job on this machine to end; who still runs it
    then ("process 1234"), or None once nobody does."""
    from pipelines.local_runner import run_in_progress

    deadline = time.monotonic() + seconds
    while (holder := run_in_progress(settings, job_id)) is not None:
        if time.monotonic() > deadline:
            return holder
        time.sleep(0.2)
    return None


def run_delete(args: argparse.Namespace) -> int:
    """Delete a finished, failed, cancelled or stopped job: its stored media, and on this
    machine its run folder and log (a finished job keeps its source and its result: two to
    three times the video)."""
    from pipelines.local_runner import (
        being_converted,
        forget_run,
        run_in_progress,
        stopped_part_way,
    )

    settings = _settings(args)
    job = _job(settings, args.job_id)
    job_id = job.job_id
    running = run_in_progress(settings, job_id)
    if running is not None and job.status.is_final:
        # Cancelled or failed a moment ago: whoever runs it (a convert, the portal) is stopping
        # it, which takes a second or two; the delete waits for that rather than refusing.
        running = _run_stopped_within(settings, job_id, STOPPING_SECONDS)
        if running is not None:
            raise JobBusy(
                f"Job {job_id}'s conversion ({running}) is still stopping; try again in a few "
                "seconds."
            )
    try:
        if running is not None:
            raise JobBusy(f"{being_converted(job_id, running)}.")
        # A run stopped part-way ("stopped" in jobs list) writes nothing more: nothing to cancel.
        stopped = stopped_part_way(settings, job)
        deleted = delete(job_store_from(settings), storage_from(settings), job_id, stopped)
    except JobBusy as busy:
        raise JobBusy(f"{busy} To cancel it: stereo-spot jobs cancel {job_id}") from None
    forget_run(settings, job_id)
    print(f"deleted job {job_id} ({deleted} stored files).", file=sys.stderr)
    return 0
