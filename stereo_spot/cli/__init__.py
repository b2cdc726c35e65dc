"""The ``stereo-spot`` command line (DESIGN.md, Command line contract).

Each verb group lives in its own module with a ``register(subparsers)`` function; this module
only assembles them. The CLI is a composition root: it may import the deployables (lazily, inside
each command) to run them on one machine.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from stereo_spot.disk_space import cannot_be_written
from stereo_spot.errors import InvalidOption, StereoSpotError

# Modules that contribute verbs; each has register(subparsers).
_VERB_MODULES = (
    "stereo_spot.cli.convert",
    "stereo_spot.cli.submit",
    "stereo_spot.cli.images",
    "stereo_spot.cli.jobs",
    "stereo_spot.cli.serve",
    "stereo_spot.cli.web",
    "stereo_spot.cli.aws",
    "stereo_spot.cli.models",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stereo-spot",
        description="Turn 2D video into stereoscopic 3D.",
        epilog="Jobs, media and logs are kept in the data folder: STEREO_SPOT_DATA_DIR, else "
        "~/.stereo-spot (--data-dir for one command). Each command's options and defaults: "
        "stereo-spot COMMAND --help.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _VERB_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Let SIGTERM (a service manager's stop, ``timeout``, ``kill``, a CI job cancelled) stop a
    command the way Ctrl-C does, through its clean-up. With the default handler the process died
    on the spot: ``convert`` left its model server and its runner behind, the runner's convert
    steps polling for a server that would never come back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except KeyboardInterrupt:
        # Also a Ctrl-C in the first half second, while the verbs' modules are imported: this
        # module imports nothing but the standard library and the errors, so that is caught too.
        print("stereo-spot: interrupted.", file=sys.stderr)
        return 130


def _run(argv: list[str] | None) -> int:
    from pydantic import ValidationError

    from stereo_spot.settings import invalid_settings_sentence

    args = build_parser().parse_args(argv)
    try:
        with _sigterm_as_interrupt():
            return int(args.func(args) or 0)
    except InvalidOption as error:
        print(f"stereo-spot: {error}", file=sys.stderr)
        return 2
    except StereoSpotError as error:
        print(f"stereo-spot: {error}", file=sys.stderr)
        return 1
    except ValidationError as error:
        # A STEREO_SPOT_* variable that does not parse: say which, not a traceback.
        sentence = invalid_settings_sentence(error)
        if sentence is None:
            raise
        print(f"stereo-spot: {sentence}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`stereo-spot jobs list | head -1`): nothing more to say to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:
        # What the system refused (a data folder that is a file, a disk that is full): the
        # sentence it gave and the path, not a traceback.
        said = _unwritable_data_folder_said(error, args)
        if said is None:
            where = f": {error.filename}" if error.filename else ""
            said = f"{error.strerror or error}{where}"
        print(f"stereo-spot: {said}", file=sys.stderr)
        return 1


# What the system says of a folder that may not be written.
_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


def _unwritable_data_folder_said(error: OSError, args: argparse.Namespace) -> str | None:
    """The sentence for a data folder that cannot be written (a read-only disk, another user's
    folder), where the system named only the file it refused ("Read-only file system:
    .../logs"); None for another error."""
    if error.errno not in _NOT_WRITABLE or not error.filename:
        return None
    data_dir = _data_folder(args)
    refused = Path(os.fsdecode(error.filename)).resolve()
    if data_dir is None or not (refused == data_dir or data_dir in refused.parents):
        return None
    return cannot_be_written(data_dir, error.strerror or str(error))


def _data_folder(args: argparse.Namespace) -> Path | None:
    """The data folder the command used: its ``--data-dir``, else the configured one."""
    data_dir = getattr(args, "data_dir", None)
    if data_dir is None:
        from stereo_spot.settings import Settings

        try:
            data_dir = Settings().data_dir
        except Exception:  # settings that do not parse are said elsewhere
            return None
    return Path(data_dir).resolve()


if __name__ == "__main__":
    sys.exit(main())
