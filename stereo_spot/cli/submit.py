"""``stereo-spot submit``: videos to a Stereo-Spot portal (a cluster's, or another machine's
``stereo-spot up``) through its JSON API (docs/PORTAL.md): each uploaded in parts straight to
the portal's storage, started, and with ``--wait`` followed to its end and its 3D video
downloaded. A studio's way to the cluster from a workstation, one command for a folder."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
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
    from stereo_spot.cli.upload_ledger import UploadLedger
    from stereo_spot.domain import Part

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
    from stereo_spot.cli.portal_api import (
        PortalUnusable,
        SettingsRefused,
        basic_auth_from,
        portal_address,
    )
    from stereo_spot.cli.portal_client import PortalClient
    from stereo_spot.cli.upload_ledger import UploadLedger

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
    if args.layout != Layout.ANAGLYPH.value:
        settings.pop("anaglyph_mode")  # the portal refuses glasses for a layout without colours
    if args.engine:
        settings["engine"] = args.engine
    start = {
        "preview": args.preview,
        "start": part.start if part else None,
        "end": part.end if part else None,
    }
    ledger = UploadLedger(Settings().data_dir / "submissions")
    # Before any job is made: one made and not remembered could not be resumed or followed.
    ledger.refuse_unwritable()
    failed: list[str] = []
    left_running = False
    # With --wait, every video is uploaded and started first, then they are followed together:
    # a cluster converts them side by side rather than one job at a time.
    following: list[tuple[Path, dict]] = []
    with PortalClient(address.url, args.token, basic=basic) as portal, _said_going_on(following):
        portal.confirm_portal()
        for number, video in enumerate(args.inputs, start=1):
            if len(args.inputs) > 1:
                print(f"[{number}/{len(args.inputs)}] {video}", file=sys.stderr)
            # Said as given: a/clip.mp4 and b/clip.mp4 are two videos.
            try:
                job = portal.started_before(video, settings, start, ledger)
                if job is None:
                    _refuse_part_past_the_end(video, part)
                    job = portal.submit(video, settings, start, ledger)
                elif args.wait:
                    print(
                        f"{video}: following job {job['job_id']}, started before", file=sys.stderr
                    )
                else:
                    print(
                        f"{video}: job {job['job_id']} was started before ({job['status']}); "
                        "not started again",
                        file=sys.stderr,
                    )
                if args.wait and job["status"] != "failed":
                    # Before its line: a Ctrl-C the moment the line is out says the job goes on.
                    following.append((video, job))
                print(f"{video}: job {job['job_id']}, {portal.page_of(job)}")
                _refuse_failed(job)  # the portal reads a video as it starts it, and may fail it
                if not args.wait:
                    left_running = True
            except PortalUnusable:
                raise  # the next videos would only say it again; run again to resume
            except SettingsRefused as error:
                print(f"{video}: {error}", file=sys.stderr)
                rest = args.inputs[number - 1 :]
                if len(rest) > 1:
                    print(
                        f"The portal refuses these settings for every video: the other "
                        f"{len(rest) - 1} are not sent.",
                        file=sys.stderr,
                    )
                failed.extend(map(str, rest))
                break
            except JobFailed as error:
                ledger.forget(portal.base_url, video)  # told: the next run converts it anew
                print(f"{video}: {error}", file=sys.stderr)
                failed.append(str(video))
            except StereoSpotError as error:
                print(f"{video}: {error}", file=sys.stderr)
                failed.append(str(video))
            except OSError as error:  # moved, deleted or unreadable since the run began
                print(f"{video}: could not be read ({error.strerror or error}).", file=sys.stderr)
                failed.append(str(video))
        started = list(following)
        following.clear()  # followed from here: the follower says what goes on
        if len(started) == 1:
            # One job: a bar on a terminal, as convert shows its run.
            ((video, job),) = started
            try:
                _follow(portal, job, targets[video], video)
                ledger.forget(portal.base_url, video)
            except PortalUnusable:
                raise
            except StereoSpotError as error:
                if isinstance(error, JobFailed):
                    ledger.forget(portal.base_url, video)
                print(f"{video}: {error}", file=sys.stderr)
                failed.append(str(video))
        elif started:
            failed += _follow_all(portal, started, targets, ledger)
    if left_running:
        print(
            "To download the results once converted, run the same command again with --wait: it "
            "follows the jobs started, converting nothing again.",
            file=sys.stderr,
        )
    if failed:
        print(f"Not converted: {', '.join(failed)}.", file=sys.stderr)
        return 1
    return 0


class JobFailed(StereoSpotError):
    """The portal failed the job (a file that is no video, a fault while converting)."""


def _refuse_part_past_the_end(video: Path, part: Part | None) -> None:
    """A part that starts past the video's end (--start 5 of a 2 s video) refused here, as
    convert refuses it, before the video is uploaded for a job that could only fail."""
    if part is not None:
        from stereo_spot.media.excerpt import read_for_part

        read_for_part(video, part, Settings())


def _say_it_goes_on(video: Path, job: dict) -> None:
    print(
        f"{video}: job {job['job_id']} goes on on the portal; run the same command again to "
        "follow it and download its result.",
        file=sys.stderr,
    )


@contextlib.contextmanager
def _said_going_on(started: list[tuple[Path, dict]]) -> Iterator[None]:
    """Ctrl-C while the videos are still being sent: say of each job already started (and not
    yet handed to a follower, which says it itself) that it goes on, and how to pick it up."""
    try:
        yield
    except KeyboardInterrupt:
        for video, job in started:
            _say_it_goes_on(video, job)
        raise


def _follow(portal: PortalClient, job: dict, target: Path, video: Path) -> None:
    """Wait for ``job`` and download its result; cut off (Ctrl-C, the portal away), say that
    the job goes on and how to pick it up."""
    from stereo_spot.cli.portal_api import PortalError

    try:
        _wait_and_download(portal, job, target)
    except (KeyboardInterrupt, PortalError) as error:
        if isinstance(error, KeyboardInterrupt) or error.status != 404:
            _say_it_goes_on(video, job)
        raise


def _follow_all(
    portal: PortalClient,
    following: list[tuple[Path, dict]],
    targets: dict[Path, Path],
    ledger: UploadLedger,
) -> list[str]:
    """Follow every job together, downloading each result as its job completes; a line for
    each job as its phase changes or a tenth more is converted. The videos not converted, as
    given; cut off (Ctrl-C, the portal away), say that the jobs go on and how to pick them up."""
    from stereo_spot.cli.portal_api import PortalError, PortalUnusable

    pending = {job["job_id"]: (video, job) for video, job in following}
    said: dict[str, tuple] = {}
    failed: list[str] = []
    try:
        while pending:
            for job_id, (video, job) in list(pending.items()):
                if job["status"] in ("completed", "failed") or job.get("stopped"):
                    del pending[job_id]
                    try:
                        _download_result(portal, job, targets[video])
                        ledger.forget(portal.base_url, video)
                    except PortalUnusable:
                        pending[job_id] = (video, job)  # still to download: said below
                        raise
                    except StereoSpotError as error:
                        if isinstance(error, JobFailed):
                            ledger.forget(portal.base_url, video)
                        print(f"{video}: {error}", file=sys.stderr)
                        if isinstance(error, PortalError):  # the download: the job is done
                            print(
                                f"{video}: run the same command again to download job "
                                f"{job_id}'s result.",
                                file=sys.stderr,
                            )
                        failed.append(str(video))
                    continue
                done, total = job["completed_segments"], job["total_segments"]
                now = (job["status"], done * 10 // total if total else 0)
                if said.get(job_id) != now:
                    said[job_id] = now
                    segments = f", {done}/{total} segments" if total else ""
                    print(f"{video}: {job['status']}{segments}", file=sys.stderr)
            if not pending:
                break
            time.sleep(POLL_SECONDS)
            for job_id, (video, _) in list(pending.items()):
                try:
                    pending[job_id] = (video, portal.job(job_id))
                except PortalUnusable:
                    raise
                except PortalError as error:  # deleted on the portal meanwhile
                    del pending[job_id]
                    print(f"{video}: {error}", file=sys.stderr)
                    failed.append(str(video))
    except (KeyboardInterrupt, PortalUnusable):
        for video, job in pending.values():
            _say_it_goes_on(video, job)
        raise
    return failed


def _refuse_failed(job: dict) -> None:
    if job["status"] == "failed":
        raise JobFailed(f"The conversion failed: {job['error']}")


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
    _download_result(portal, job, target)


def _download_result(portal: PortalClient, job: dict, target: Path) -> None:
    """``job``'s 3D video into ``target``, the job having ended; else why it has none."""
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
