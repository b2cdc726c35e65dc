"""``python -m inference_service --port 8080 [--host 127.0.0.1]``: the model server process."""

import argparse
import ctypes
import logging
import os
import signal
import sys

from inference_service.server import LOOPBACK, serve
from stereo_spot.settings import Settings

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m inference_service")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--host", default=LOOPBACK, help="the address to listen on")
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started this one ends, however it ends",
    )
    args, _unknown = parser.parse_known_args()
    if args.exit_with_parent and sys.platform.startswith("linux"):  # prctl is Linux's own
        _exit_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    serve(Settings(), port=args.port, host=args.host)


def _exit_with_parent() -> None:
    """Have the kernel send SIGTERM when the parent dies: a ``convert`` killed with SIGKILL
    (or by the OOM killer) cannot stop its server, which then stayed up on its own."""
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the kernel was asked
        sys.exit(0)


if __name__ == "__main__":
    main()
