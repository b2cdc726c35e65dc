"""``python -m inference_service --port 8080 [--host 127.0.0.1]``: the model server process."""

import argparse
import logging
import os
import signal
import sys
from functools import partial

from inference_service.server import LOOPBACK, serve
from stereo_spot.parent_watch import when_parent_ends
from stereo_spot.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m inference_service")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--host", default=LOOPBACK, help="the address to listen on")
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="stop, with every process this one started, once process PID (which started this "
        "one) has ended, however it ended",
    )
    args, _unknown = parser.parse_known_args()
    if args.parent_pid is not None:
        # Killed, `convert`, `up` or `jobs retry` could not stop its server: it ends itself.
        when_parent_ends(args.parent_pid, partial(_end_with_parent, args.parent_pid))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    serve(Settings(), port=args.port, host=args.host)


def _end_with_parent(parent: int) -> None:
    """Say so in the server's log, then SIGKILL its process group: the server and the ffmpeg
    processes of a segment it was converting, for a run that has ended with the parent. Not a
    graceful stop: uvicorn's waits for the requests in flight, segments that nobody will
    fetch, and a server still starting took the SIGTERM for a shutdown of a server not yet
    running, then served. Its temporary files go at the next server's start
    (``inference_service/scratch.py``)."""
    print(
        f"The process that started this server ({parent}) has ended.", file=sys.stderr, flush=True
    )
    if os.getpgrp() == os.getpid():  # a group of its own, as start_server_process makes it
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main()
