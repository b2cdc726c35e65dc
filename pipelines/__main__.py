"""``python -m pipelines JOB_ID``: run one job's pipeline locally (the runner's child process)."""

import argparse
import logging
import signal
import sys

from pipelines.local_runner import run_job
from stereo_spot.errors import RunInProgress, StereoSpotError
from stereo_spot.settings import Settings


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines")
    parser.add_argument("job_id")
    parser.add_argument("--segment-seconds", type=float, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    _end_at_once_when_stopped()
    try:
        run_job(Settings(), args.job_id, args.segment_seconds)
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


if __name__ == "__main__":
    sys.exit(main())
