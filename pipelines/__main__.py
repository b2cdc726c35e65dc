"""``python -m pipelines JOB_ID``: run one job's pipeline locally (the runner's child process)."""

import argparse
import logging
import os
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
    _stop_at_once(args.job_id)
    try:
        run_job(Settings(), args.job_id, args.segment_seconds)
    except RunInProgress as error:
        print(f"job {args.job_id} not run: {error}", file=sys.stderr)
        return RunInProgress.exit_code
    except StereoSpotError as error:
        print(f"job {args.job_id} failed: {error}", file=sys.stderr)
        return 1
    return 0


def _stop_at_once(job_id: str) -> None:
    """On SIGTERM or SIGINT (how the portal and ``convert`` stop a run: its whole process
    group), say so in the run's log and end now, by that signal.

    The tasks get the signal too and fail, and kfp.local would retry them, waiting out the retry
    policy's backoff while the portal waits to kill the run. Ending by the signal leaves what a
    kill leaves, and says the same to whoever waits for the process (``convert`` keeps a job
    whose runner was stopped by a signal resumable): the run lock goes with the process, the next
    run clears the scratch folder, and the segments converted so far are kept."""

    def stop(signum: int, frame: object) -> None:
        print(f"job {job_id} interrupted; its converted segments are kept", file=sys.stderr)
        sys.stderr.flush()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)


if __name__ == "__main__":
    sys.exit(main())
