"""``python -m pipelines JOB_ID``: run one job's pipeline locally (the runner's child process)."""

import argparse
import logging
import os
import signal
import sys
import threading
import time

from pipelines.local_runner import mark_run_stopped, note_interrupted, run_job, run_log_path
from stereo_spot.errors import RunInProgress, StereoSpotError
from stereo_spot.settings import Settings

# How often the runner looks whether the process that started it still runs: a run whose `up`
# or `convert` was killed ends within this (and its stopping, a few ms).
PARENT_POLL_SECONDS = 0.5


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
        _end_with_parent(args.parent_pid, settings, args.job_id)
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


def _end_with_parent(parent: int, settings: Settings, job_id: str) -> None:
    """End the run, with every task it started, once process ``parent`` (the ``up``,
    ``convert`` or ``jobs retry`` that started it and waits for it) has ended, however it ended.

    A runner leads a session of its own (so a terminal's Ctrl-C reaches only its parent), so a
    parent killed by SIGKILL or the OOM killer, which cannot stop it, left it converting for
    nobody: against a model server gone with its parent, each segment retried for ~10 minutes,
    the job's run lock held, so a restarted ``up`` left the job to it and ``jobs retry`` was
    refused, for about an hour.

    A thread that polls ``getppid()``, not the kernel's PR_SET_PDEATHSIG as the model server
    has: that signal comes when the parent *thread* that started the process ends, and ``up``
    starts runners from its launcher's worker thread, which a shutdown may leave behind (the
    launcher does not wait for it) while the process goes on stopping the run in order; a
    thread's end is no sign the process has gone, nor the process's main thread the only one
    that may start a runner. The kernel hands an orphan to init (or a subreaper) the moment its
    parent process has died, whichever thread started it, so ``getppid()`` changing is exact,
    and a pid reused by another process cannot pass for the parent."""
    if os.getppid() != parent:  # it ended before this process looked
        _end_the_run(parent, settings, job_id)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        _end_the_run(parent, settings, job_id)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


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
