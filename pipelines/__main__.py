"""``python -m pipelines JOB_ID``: run one job's pipeline locally (the runner's child process)."""

import argparse
import logging
import os
import signal
import sys
from functools import partial

from pipelines.local_runner import mark_run_stopped, note_interrupted, run_job, run_log_path
from stereo_spot.errors import RunInProgress, StereoSpotError
from stereo_spot.parent_watch import when_parent_ends
from stereo_spot.settings import Settings


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines")
    parser.add_argument("job_id")
    parser.add_argument("--segment-seconds", type=float, default=None)
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="end the run, with its tasks, once process PID (which started this one) has ended",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    _end_at_once_when_stopped()
    settings = Settings()
    if args.parent_pid is not None:
        # Killed, `up`, `convert` or `jobs retry` could not stop the run: it ends itself.
        when_parent_ends(
            args.parent_pid, partial(_end_the_run, args.parent_pid, settings, args.job_id)
        )
    try:
        run_job(settings, args.job_id, args.segment_seconds)
    except RunInProgress as error:
        print(f"job {args.job_id} not run: {error}", file=sys.stderr)
        return RunInProgress.exit_code
    except StereoSpotError as error:
        print(f"job {args.job_id} failed: {error}", file=sys.stderr)
        return 1
    return 0


def _end_at_once_when_stopped() -> None:
    """On SIGTERM or SIGINT (how the portal and ``convert`` stop a run: its whole process
    group), end now, by that signal, whatever the tasks are doing.

    The kernel's default action does that; a Python handler cannot. It runs in the main thread
    only, once that thread next holds the interpreter, while kfp.local runs the loop's tasks
    from worker threads: one of them saw its task die of the same signal and logged a retry
    before the handler ran (seen in CI). Ending by the signal leaves what a kill leaves, and says
    the same to whoever waits for the process (``convert`` keeps a job whose runner was stopped
    by a signal resumable): the run lock goes with the process, the next run clears the scratch
    folder, and the segments converted so far are kept. Whoever stopped the run says so in its
    log (:func:`pipelines.local_runner.stop_job_process`)."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)


def _end_the_run(parent: int, settings: Settings, job_id: str) -> None:
    """Say in the run's log why it stops, then SIGKILL its process group: the runner and every
    task, ffmpeg included. SIGKILL, not SIGTERM as ``stop_job_process`` sends from outside: the
    runner, in the group, cannot signal it again for stragglers once it has gone, and the
    kernel makes a group's SIGKILL reach a child forked at that moment too (a fork with a
    signal pending for the group is undone). The run lock goes with the runner; the segments
    converted so far are kept for the job's next run."""
    print(f"The process that started this run ({parent}) has ended.", file=sys.stderr, flush=True)
    note_interrupted(run_log_path(settings, job_id))
    mark_run_stopped(settings, job_id)  # it may not have taken its lock yet
    if os.getpgrp() == os.getpid():  # a group of its own, as start_job_process makes it
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
