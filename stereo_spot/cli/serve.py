"""``stereo-spot serve-model`` and ``stereo-spot compile-pipeline``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from stereo_spot.cli.stereo_options import port_number
from stereo_spot.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve-model",
        help="run the KServe model server (V1 protocol) with the configured engine",
        description="Run the KServe model server (V1 protocol, POST /v1/models/NAME:predict) "
        "with the engine STEREO_SPOT_ENGINE names (default classical) and its weights "
        "(STEREO_SPOT_WEIGHTS).",
    )
    serve.add_argument(
        "--port",
        type=port_number,
        default=8080,
        help="port to listen on, 0 for any free one (default %(default)s)",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help=(
            "the address to listen on (default 127.0.0.1: it converts any object in its storage "
            "for whoever asks; a cluster's pod listens on 0.0.0.0)"
        ),
    )
    serve.set_defaults(func=run_serve_model)

    compile_ = subparsers.add_parser(
        "compile-pipeline",
        help="compile the KFP pipeline to a YAML package for a cluster",
        description="Compile the Kubeflow Pipelines (v2) pipeline to a YAML package, to upload "
        "to a cluster's Kubeflow Pipelines or run with the kfp SDK.",
    )
    compile_.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("stereo_pipeline.yaml"),
        help="the YAML file to write (default %(default)s)",
    )
    compile_.add_argument(
        "--image",
        help="container image for the components (default: STEREO_SPOT_COMPONENTS_IMAGE, else "
        "stereo-spot-components:0.1.0, the name the local overlay loads)",
    )
    compile_.set_defaults(func=run_compile_pipeline)


def run_serve_model(args: argparse.Namespace) -> int:
    from inference_service.server import serve

    serve(Settings(), port=args.port, host=args.host)
    return 0


def run_compile_pipeline(args: argparse.Namespace) -> int:
    if args.image:
        # Read when the component modules are imported, so it must be set before that.
        os.environ["STEREO_SPOT_COMPONENT_IMAGE"] = args.image
    from kfp import compiler

    from pipelines.stereo_pipeline import stereo_pipeline

    compiler.Compiler().compile(stereo_pipeline, str(args.output))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
