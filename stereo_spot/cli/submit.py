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

from stereo_spot.cli.outputs import plan_outputs, refuse_missing_inputs, say_if_replaced
from stereo_spot.cli.progress import run_progress
from stereo_spot.cli.stereo_options import (
    add_encoding_options,
    add_part_options,
    add_stereo_options,
    part_from,
    stereo_params_from,
)
from stereo_spot.domain import ENGINE_NAMES, Layout
from stereo_spot.errors import InvalidOption, StereoSpotError
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
    parser.add_argument(
        "portal",
        help="the portal's address, e.g. https://stereo.example.org; "
        "https://USER:PASSWORD@stereo.example.org signs in with its user name and password "
        "(or set STEREO_SPOT_BASIC_AUTH=USER:PASSWORD), never printed",
    )
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
    parser.add_argument(
        "--engine",
        choices=ENGINE_NAMES,
        help="default: the one the portal's model server runs (a portal serving a learned "
        "engine refused every video the classical default named)",
    )
    add_encoding_options(parser)
    add_part_options(parser)
    parser.set_defaults(func=run_submit)


def run_submit(args: argparse.Namespace) -> int:
    # httpx: only this verb pays for its import.
    from stereo_spot.cli.portal_client import (
        PortalClient,
        PortalUnusable,
        UploadLedger,
        basic_auth_from,
        portal_address,
    )

    address = portal_address(args.portal)
    if args.output is not None and not args.wait:
        raise InvalidOption(
            f"-o {args.output}: only --wait downloads the 3D videos; add --wait, or leave -o out "
            "and download them from their pages."
        )
    # A password in the address first, then a token, then STEREO_SPOT_BASIC_AUTH.
    basic = (address.user, address.password) if address.user is not None else None
    if basic is None and not args.token:
        basic = basic_auth_from(os.environ.get("STEREO_SPOT_BASIC_AUTH"))
    params = stereo_params_from(args)
    part = part_from(args)
    targets: dict[Path, Path] = {}
    if args.wait:
        # convert's planning, so that no result overwrites an input or another result; -o is
        # always a folder here.
        folder = None if args.output is None else f"{args.output}{os.sep}"
        plan = plan_outputs(
            args.inputs, folder, Layout(args.layout), args.preview, params.anaglyph_mode, part
        )
        targets = dict(plan)
    else:
        refuse_missing_inputs(args.inputs)
    settings = {"layout": args.layout, **params.model_dump(mode="json")}
    if args.engine:
        settings["engine"] = args.engine
    start = {
        "preview": args.preview,
        "start": part.start if part else None,
        "end": part.end if part else None,
    }
    ledger = UploadLedger(Settings().data_dir / "submissions")
    failed: list[str] = []
    with PortalClient(address.url, args.token, basic=basic) as portal:
        portal.confirm_portal()
        for number, video in enumerate(args.inputs, start=1):
            if len(args.inputs) > 1:
                print(f"[{number}/{len(args.inputs)}] {video}", file=sys.stderr)
            try:
                job = portal.submit(video, settings, start, ledger)
                print(f"{video.name}: job {job['job_id']}, {portal.page_of(job)}")
                _refuse_failed(job)  # the portal reads a video as it starts it, and may fail it
                if args.wait:
                    _wait_and_download(portal, job, targets[video])
            except PortalUnusable:
                raise  # the next videos would only say it again; run again to resume
            except StereoSpotError as error:
                print(f"{video.name}: {error}", file=sys.stderr)
                failed.append(video.name)
    if failed:
        print(f"Not converted: {', '.join(failed)}.", file=sys.stderr)
        return 1
    return 0


def _refuse_failed(job: dict) -> None:
    if job["status"] == "failed":
        raise StereoSpotError(f"The conversion failed: {job['error']}")


def _wait_and_download(portal: PortalClient, job: dict, target: Path) -> None:
    # As convert shows its runs: a bar on a terminal, a line a phase and a tenth in a log.
    progress = run_progress()
    try:
        # A stopped job's status says it converts, but nothing will move it (a portal older
        # than the field sends none).
        while job["status"] not in ("completed", "failed") and not job.get("stopped"):
            progress.show(
                job["status"],
                job["completed_segments"],
                job["total_segments"],
                converting=job["status"] == "processing",
            )
            time.sleep(POLL_SECONDS)
            job = portal.job(job["job_id"])
    finally:
        progress.close()
    _refuse_failed(job)
    if job["status"] != "completed":
        raise StereoSpotError(
            f"The conversion stopped part-way: the process converting job {job['job_id']} on "
            "the portal's machine ended before it finished. Resume it there with: "
            f"stereo-spot jobs retry {job['job_id']}"
        )
    playback = portal.playback(job["job_id"])
    target.parent.mkdir(parents=True, exist_ok=True)
    say_if_replaced(target)
    portal.download(playback["download_url"], target)
    print(f"wrote {target}")
