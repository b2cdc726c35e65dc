"""The ``stereo-spot`` command line (DESIGN.md, Command line contract).

Each verb group lives in its own module with a ``register(subparsers)`` function; this module
only assembles them. The CLI is a composition root: it may import the deployables (lazily, inside
each command) to run them on one machine.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pydantic import ValidationError

from stereo_spot.errors import StereoSpotError
from stereo_spot.settings import invalid_settings_sentence

# Modules that contribute verbs; each has register(subparsers).
_VERB_MODULES = (
    "stereo_spot.cli.convert",
    "stereo_spot.cli.images",
    "stereo_spot.cli.jobs",
    "stereo_spot.cli.serve",
    "stereo_spot.cli.web",
    "stereo_spot.cli.aws",
    "stereo_spot.cli.models",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stereo-spot", description="Turn 2D video into stereoscopic 3D."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _VERB_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
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
    except KeyboardInterrupt:
        print("stereo-spot: interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
