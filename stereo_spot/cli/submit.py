"""``stereo-spot submit``: videos to a Stereo-Spot portal (a cluster's, or another machine's
``stereo-spot up``) through its JSON API (docs/PORTAL.md): each uploaded in parts straight to
the portal's storage, started, and with ``--wait`` followed to its end and its 3D video
downloaded. A studio's way to the cluster from a workstation, one command for a folder."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from stereo_spot.cli.outputs import refuse_unwritable_folder
from stereo_spot.cli.stereo_options import (
    add_encoding_options,
    add_part_options,
    add_stereo_options,
    part_from,
    stereo_params_from,
)
from stereo_spot.domain import ENGINE_NAMES
from stereo_spot.errors import InputRejected, StereoSpotError
from stereo_spot.settings import Settings

if TYPE_CHECKING:
    from stereo_spot.cli.portal_client import PortalClient

POLL_SECONDS = 2.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "submit",
        help="convert videos on a Stereo-Spot portal (a cluster's)",
        description="Upload videos to a Stereo-Spot portal and convert them there: each goes "
        "up in parts straight to the portal's storage (any size it accepts; a part that fails "
        "is sent again), then its job starts. With --wait, follow each to its end and download "
        "the 3D video.",
    )
    parser.add_argument("portal", help="the portal's address, e.g. https://stereo.example.org")
    parser.add_argument("inputs", nargs="+", type=Path, metavar="input", help="videos to convert")
    parser.add_argument(
        "--token",
        default=os.environ.get("STEREO_SPOT_AUTH_TOKEN"),
        help="the portal's bearer token, where it asks for one (default: STEREO_SPOT_AUTH_TOKEN)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="follow each job to its end and download its 3D video",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        help="with --wait: the folder to write the 3D videos into, made if need be "
        "(default: next to each input)",
    )
    add_stereo_options(parser)
    parser.add_argument("--engine", choices=ENGINE_NAMES, default="classical")
    add_encoding_options(parser)
    add_part_options(parser)
    parser.set_defaults(func=run_submit)


def run_submit(args: argparse.Namespace) -> int:
    if not args.portal.startswith(("http://", "https://")):
        raise InputRejected(
            f"{args.portal}: the portal's address starts with https:// or http:// "
            f"(for example https://{args.portal})."
        )
    missing = [str(path) for path in args.inputs if not path.is_file()]
    if missing:
        raise InputRejected(f"Not a file: {', '.join(missing)}.")
    if args.output is not None and not args.wait:
        raise InputRejected(
            f"-o {args.output}: only --wait downloads the 3D videos; add --wait, or leave -o out "
            "and download them from their pages."
        )
    if args.output is not None:
        refuse_unwritable_folder(args.output)  # made when the first result is written
    settings = {
        "layout": args.layout,
        "engine": args.engine,
        **stereo_params_from(args).model_dump(mode="json"),
    }
    part = part_from(args)
    start = {
        "preview": args.preview,
        "start": part.start if part else None,
        "end": part.end if part else None,
    }
    # httpx: only this verb pays for its import.
    from stereo_spot.cli.portal_client import PortalClient, PortalUnusable, UploadLedger

    ledger = UploadLedger(Settings().data_dir / "submissions")
    failed: list[str] = []
    with PortalClient(args.portal, args.token) as portal:
        for number, video in enumerate(args.inputs, start=1):
            if len(args.inputs) > 1:
                print(f"[{number}/{len(args.inputs)}] {video}", file=sys.stderr)
            try:
                job = portal.submit(video, settings, start, ledger)
                print(f"{video.name}: job {job['job_id']}, {portal.page_of(job)}")
                if args.wait:
                    _wait_and_download(portal, job, args.output or video.parent)
            except PortalUnusable:
                raise  # the next videos would only say it again; run again to resume
            except StereoSpotError as error:
                print(f"{video.name}: {error}", file=sys.stderr)
                failed.append(video.name)
    if failed:
        print(f"Not converted: {', '.join(failed)}.", file=sys.stderr)
        return 1
    return 0


def _wait_and_download(portal: PortalClient, job: dict, folder: Path) -> None:
    from tqdm import tqdm

    with tqdm(total=1, unit="segment", file=sys.stderr, leave=False) as bar:
        while job["status"] not in ("completed", "failed"):
            bar.total = max(job["total_segments"], 1)
            bar.n = job["completed_segments"]
            bar.set_description(job["status"])
            time.sleep(POLL_SECONDS)
            job = portal.job(job["job_id"])
    if job["status"] == "failed":
        raise StereoSpotError(f"The conversion failed: {job['error']}")
    playback = portal.playback(job["job_id"])
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / playback["download_name"]
    if target.exists():
        print(f"note: {target} exists; it will be replaced.", file=sys.stderr)
    portal.download(playback["download_url"], target)
    print(f"wrote {target}")
