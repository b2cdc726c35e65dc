"""``python -m pipelines JOB_ID``: run one job's pipeline locally (the runner's child process)."""

import argparse
import logging
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
    try:
        run_job(Settings(), args.job_id, args.segment_seconds)
    except RunInProgress as error:
        print(f"job {args.job_id} not run: {error}", file=sys.stderr)
        return RunInProgress.exit_code
    except StereoSpotError as error:
        print(f"job {args.job_id} failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
