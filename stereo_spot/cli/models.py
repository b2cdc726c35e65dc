"""``stereo-spot models check|tiny``: is a weights folder usable, and a tiny one for smoke tests.

``check`` runs the same checks the model server runs in ``load()`` (docs/MODELS.md has the
layouts) and prints one sentence per problem saying what to fix; it exits 1 when there is any.
``tiny`` writes a random-weight model of the real architecture and layout with
``save_pretrained``: it loads and runs through the real code paths, and paints noise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from stereo_spot.domain import LEARNED_ENGINES
from stereo_spot.errors import EngineError, InputRejected

# Written into every folder ``models tiny`` writes, saying what its weights are: a folder that
# holds it is one of its outputs, which a later ``models tiny`` replaces whole.
TINY_MARK = "TINY-RANDOM-WEIGHTS.txt"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="check a learned engine's weights folder, or write a tiny test model",
        description="Weights folders of the learned engines (see docs/MODELS.md).",
    )
    verbs = parser.add_subparsers(dest="models_command", required=True, metavar="VERB")

    check = verbs.add_parser(
        "check", help="say what is missing or wrong in a weights folder (exit 1 if anything)"
    )
    check.add_argument(
        "folder",
        help="the weights folder, or a file:// or s3:// URI as STEREO_SPOT_WEIGHTS takes (s3:// "
        "weights are downloaded into the cache, as the model server would)",
    )
    check.add_argument("--engine", choices=LEARNED_ENGINES, required=True)
    check.add_argument(
        "--load",
        action="store_true",
        help="also load every model on the CPU (catches what only loading shows; slow for big models)",
    )
    check.set_defaults(func=run_check)

    tiny = verbs.add_parser("tiny", help="write a tiny random-weight model (smoke tests only)")
    tiny.add_argument(
        "folder",
        type=Path,
        help="where to write it: a new or empty folder, or one an earlier `models tiny` wrote "
        "(replaced whole)",
    )
    tiny.add_argument("--engine", choices=LEARNED_ENGINES, required=True)
    tiny.add_argument(
        "--depthcrafter",
        action="store_true",
        help="stereocrafter: video depth from a DepthCrafter UNet instead of Depth Anything",
    )
    tiny.set_defaults(func=run_tiny)


def weight_problems(folder: Path, engine: str, load: bool = False) -> list[str]:
    """One sentence per problem with ``folder`` as weights of ``engine``; empty when usable."""
    from inference_service.engines.weights import require_ml

    require_ml(engine)
    if not folder.is_dir():
        return [f"{folder} does not exist or is not a folder."]
    if engine == "depth-anything":
        from inference_service.engines.depth_anything import (
            depth_anything_problems,
            load_depth_anything,
        )

        problems = depth_anything_problems(folder)
        if not problems:
            # Tensor names and shapes of transformers models are only known through its loader
            # (it renames checkpoint keys), and Depth Anything is small enough to load here.
            try:
                load_depth_anything(folder)
            except EngineError as error:
                problems.append(str(error))
        return problems
    from inference_service.engines.stereocrafter import stereocrafter_problems

    problems = stereocrafter_problems(folder)
    if not problems and load:
        from inference_service.engines.stereocrafter import StereoCrafterEngine
        from inference_service.engines.weights import LearnedEngineOptions

        try:
            StereoCrafterEngine(
                folder, LearnedEngineOptions(device="cpu", allow_cpu_diffusion=True)
            )
        except EngineError as error:
            problems.append(str(error))
    return problems


def run_check(args: argparse.Namespace) -> int:
    from inference_service.engines.weights import LearnedEngineOptions, resolve_weights

    folder = Path(args.folder)
    if "://" in args.folder:
        # As the model server reads STEREO_SPOT_WEIGHTS: "file:///x" was taken for the folder
        # "file:/x", which does not exist.
        try:
            cache = LearnedEngineOptions.from_environment().cache_dir
            folder = resolve_weights(args.folder, args.engine, cache)
        except EngineError as error:
            print(error)
            return 1
    problems = weight_problems(folder, args.engine, load=args.load)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"{args.folder}: usable as {args.engine} weights.")
    return 0


def run_tiny(args: argparse.Namespace) -> int:
    from inference_service.engines.weights import require_ml

    require_ml(args.engine)
    if args.engine == "depth-anything":
        from inference_service.engines.depth_anything import write_tiny_depth_anything

        write = write_tiny_depth_anything
    else:
        from inference_service.engines.stereocrafter import write_tiny_stereocrafter

        def write(folder: Path) -> Path:
            return write_tiny_stereocrafter(folder, depthcrafter=args.depthcrafter)

    replaced = write_whole(args.folder, write, f"random weights of a tiny {args.engine} model")
    said = " (replacing the tiny model that was there)" if replaced else ""
    print(f"wrote a tiny random-weight {args.engine} model to {args.folder}{said}", file=sys.stderr)
    return 0


def write_whole(folder: Path, write: Callable[[Path], object], what: str) -> bool:
    """Have ``write`` fill a new folder beside ``folder`` and put it in its place, so that the
    folder holds nothing of what was there (over an earlier tiny model of another engine, its
    files stayed and mixed with the new ones) and nothing half written when ``write`` fails.
    A folder with files ``models tiny`` did not write is refused, not deleted: it may be real
    weights. Returns whether an earlier tiny model was replaced."""
    if folder.is_file():
        raise InputRejected(f"{folder} is a file; name a folder to write the tiny model into.")
    replaced = folder.is_dir() and any(folder.iterdir())
    if replaced and not (folder / TINY_MARK).is_file():
        raise InputRejected(
            f"{folder} already holds files that `stereo-spot models tiny` did not write; name a "
            "new or empty folder (nothing was written)."
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Beside it, on the same file system, so that putting it in place is a rename.
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.tiny-"))
    try:
        write(staging)
        (staging / TINY_MARK).write_text(
            f"{what}, written by `stereo-spot models tiny` for tests and demos: they load and "
            "run through the real code, and paint noise.\n"
        )
        # mkdtemp makes the folder private (0700); a model is as readable as any folder made here.
        mask = os.umask(0o022)
        os.umask(mask)
        staging.chmod(0o777 & ~mask)
        if folder.exists():
            old = staging.with_name(f"{staging.name}-old")
            folder.rename(old)
            staging.rename(folder)
            shutil.rmtree(old)
        else:
            staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return replaced
