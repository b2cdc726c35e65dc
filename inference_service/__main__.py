"""``python -m inference_service --port 8080 [--host 127.0.0.1]``: the model server process."""

import argparse
import ast
import importlib.util
import logging
import os
import signal
import sys
from functools import partial
from pathlib import Path

from inference_service.server import LOOPBACK, serve
from stereo_spot.parent_watch import when_parent_ends
from stereo_spot.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m inference_service",
        allow_abbrev=False,
        description="The KServe model server (V1 protocol, POST /v1/models/NAME:predict) with "
        "the engine STEREO_SPOT_ENGINE names (default classical). KServe's own options "
        "(--max_threads, ...) are taken too.",
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="the port to listen on (default %(default)s)"
    )
    parser.add_argument("--host", default=LOOPBACK, help="the address to listen on")
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="stop, with every process this one started, once process PID (which started this "
        "one) has ended, however it ended",
    )
    args, unknown = parser.parse_known_args()
    if unknown:
        _refuse_unknown(parser, unknown)
    if args.parent_pid is not None:
        # Killed, `convert`, `up` or `jobs retry` could not stop its server: it ends itself.
        when_parent_ends(args.parent_pid, partial(_end_with_parent, args.parent_pid))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    serve(Settings(), port=args.port, host=args.host)


def _refuse_unknown(parser: argparse.ArgumentParser, unknown: list[str]) -> None:
    """Exit 2 naming the arguments that neither this parser nor kserve's takes; a mistyped
    ``--prot 8081`` was ignored and the server listened on 8080. kserve parses the command line
    itself when imported (its ``--max_threads`` and the like still reach it that way), by
    abbreviation too (``--prot`` would be its ``--protocol``): its options are compared whole,
    read from its source, since importing it here would parse the command line first."""
    kserve_options = _kserve_options()
    if kserve_options is None:
        return  # kserve's options could not be read: leave what is left to kserve
    left, after_option = [], False
    for argument in unknown:
        if argument.startswith("-"):
            name, has_value, _ = argument.partition("=")
            after_option = name in kserve_options and not has_value
            if name not in kserve_options:
                left.append(argument)
        elif after_option:
            after_option = False  # the option's value
        else:
            left.append(argument)
    if left:
        parser.error(f"unrecognized arguments: {' '.join(left)}")


def _kserve_options() -> frozenset[str] | None:
    """The option strings kserve.model_server's parser declares (``parser.add_argument``);
    None where its source cannot be read (a kserve installed otherwise)."""
    # The package's folder, not find_spec("kserve.model_server"): that imports the package,
    # whose __init__ imports model_server, which parses the command line.
    spec = importlib.util.find_spec("kserve")
    if spec is None or not spec.submodule_search_locations:
        return None
    source = Path(next(iter(spec.submodule_search_locations))) / "model_server.py"
    try:
        tree = ast.parse(source.read_text())
    except (OSError, SyntaxError):
        return None
    return frozenset(
        argument.value
        for call in ast.walk(tree)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "add_argument"
        for argument in call.args
        if isinstance(argument, ast.Constant)
        and isinstance(argument.value, str)
        and argument.value.startswith("-")
    )


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
