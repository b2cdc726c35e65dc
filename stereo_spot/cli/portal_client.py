"""A client of the portal's JSON API (docs/PORTAL.md) for ``stereo-spot submit``: jobs made,
videos uploaded in parts straight to the storage the portal signs for, results downloaded."""

from __future__ import annotations

import contextlib
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from stereo_spot.atomic_files import replaced_whole
from stereo_spot.cli.portal_api import (
    PortalApi,
    PortalError,
    PortalUnusable,
    SettingsRefused,
    refusal,
)
from stereo_spot.cli.upload_ledger import UploadLedger
from stereo_spot.errors import InputRejected, StereoSpotError
from stereo_spot.storage.multipart import PartPlan

PARTS_IN_FLIGHT = 4
# Tries of one part before the upload gives up, waiting 1, 2, 4, 8 s between them.
PART_ATTEMPTS = 5
SIGNED_AT_ONCE = 100  # the most part URLs the portal signs in one request


class PortalClient:
    """The portal's JSON API, and the storage its signed URLs point at."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        basic: tuple[str, str] | None = None,
        api: httpx.Client | None = None,
        storage: httpx.Client | None = None,
    ) -> None:
        """``base_url`` without credentials; ``token`` (bearer) or ``basic`` (user, password)
        to sign in with, ``basic`` first. ``api`` and ``storage``: the HTTP clients to use
        instead of new ones (tests pass the portal app's own)."""
        self.base_url = base_url.rstrip("/")
        self._api = PortalApi(self.base_url, token, basic=basic, client=api)
        # Signed storage URLs carry their own credential: S3 refuses a second one.
        self._storage = storage or httpx.Client(timeout=300)

    def __enter__(self) -> PortalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._api.close()
        self._storage.close()

    def page_of(self, job: dict) -> str:
        return self.base_url + job["links"]["page"]

    def confirm_portal(self) -> None:
        """Stop before anything is uploaded where the address cannot be used: unreachable,
        asking to sign in, or not a Stereo-Spot portal (another service, or a page's address)."""
        try:
            # Not tried again: a mistyped address or a portal that is down is said at once.
            listing = self._api.call("GET", "/api/jobs", params={"limit": 1}, retry=False)
        except PortalUnusable:
            raise
        except PortalError as error:
            if error.status is not None and error.status >= 500:
                raise PortalUnusable(str(error), error.status) from None
            listing = None
        if not (isinstance(listing, dict) and "jobs" in listing and "next_cursor" in listing):
            parts = urlsplit(self.base_url)
            root = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
            hint = f", {root} perhaps" if root != self.base_url else ""
            raise PortalUnusable(
                f"{self.base_url} is not a Stereo-Spot portal (it has no /api/jobs); give the "
                f"address the portal's pages start at{hint}."
            )

    def submit(
        self, video: Path, settings: dict, start: dict, ledger: UploadLedger | None = None
    ) -> dict:
        """Create a job for ``video``, upload it in parts, start it; the job to watch (with a
        preview asked for, the preview's). An upload of the same file with the same settings
        that ``ledger`` remembers, broken off, is resumed: only the parts that did not arrive
        are sent, and a job uploaded but not started is started. A job whose upload the portal
        refuses for good (an empty file, one over its limit) is deleted. ``ledger`` keeps the job
        started, for :meth:`started_before`, until :meth:`UploadLedger.forget` (its result
        downloaded, or its failure told)."""
        name = video.name
        if video.stat().st_size == 0:
            raise InputRejected("The file is empty (0 bytes).")  # as convert says it
        job_id, upload, received = self._resumed(video, settings, ledger)
        if upload is None:
            job_id, upload = self._begin(video, settings)
            if ledger is not None:
                ledger.remember(self.base_url, video, settings, job_id, upload)
        if received is not None:
            try:
                self.upload(upload, video, received)
            except PortalError as error:
                if error.status == 413:  # over the portal's limit: no later run can send it
                    if ledger is not None:
                        ledger.forget(self.base_url, video)
                    self._delete_quietly(job_id)
                raise
            except FileNotFoundError:
                # Moved or deleted while it was sent: nothing left to resume from.
                self._delete_quietly(job_id)
                raise InputRejected(
                    "The file went away while it was uploaded; its job was deleted."
                ) from None
            except OSError as error:
                raise InputRejected(
                    f"The file could not be read while it was uploaded ({error.strerror or error}"
                    "); run the command again once it can be, to resume the upload."
                ) from None
            if ledger is not None:
                ledger.remember(self.base_url, video, settings, job_id, upload, uploaded=True)
        try:
            # Sent again where its answer is lost: starting again returns the same run.
            job = self._api.call(
                "POST", f"/api/jobs/{job_id}/start", json={"source_name": name, **start}, retry=True
            )
        except PortalError as error:
            if (
                error.status == 409
                and ledger is not None
                and self.job(job_id)["status"] == "failed"
            ):
                # The first start failed it (a file that is no video) and its answer was lost:
                # no later run starts it either.
                ledger.forget(self.base_url, video)
            raise
        # Kept, started: the same command run again follows this job (the one to watch: with a
        # preview, the preview's) rather than converting the video again.
        if ledger is not None:
            ledger.remember(
                self.base_url, video, settings, job_id, upload, uploaded=True,
                started={"job_id": job["job_id"], "start": start},
            )  # fmt: skip
        return job

    def started_before(
        self, video: Path, settings: dict, start: dict, ledger: UploadLedger
    ) -> dict | None:
        """The job an earlier run started for ``video`` with these settings and this part,
        where the portal still has it and it has not failed; else None, to submit it anew. A job
        remembered that failed or was cancelled meanwhile is told (and forgotten): the next run
        converts the video anew."""
        earlier = ledger.recall(self.base_url, video, settings)
        started = (earlier or {}).get("started")
        if not started or started.get("start") != start:
            return None
        job_id = started["job_id"]
        try:
            job = self.job(job_id)
        except PortalUnusable:
            raise
        except PortalError as error:
            if error.status != 404:
                raise
            ledger.forget(self.base_url, video)
            print(
                f"{video}: job {job_id}, started before, is no longer on the portal; "
                "uploading the video again in a new job",
                file=sys.stderr,
            )
            return None
        if job["status"] == "failed":
            ledger.forget(self.base_url, video)
            ended = (
                "was cancelled"
                if job.get("cancelled")
                else f"failed ({str(job.get('error') or 'no reason given').rstrip('.')})"
            )
            raise StereoSpotError(
                f"Job {job_id}, started before, {ended}; run the command again to convert the "
                "video in a new job."
            )
        return job

    def _begin(self, video: Path, settings: dict) -> tuple[str, dict]:
        """A new job for ``video``, and its upload begun; the job deleted again where the portal
        refuses the upload (a size over its limit), so that no empty job is left."""
        try:
            # Not sent twice: a job made whose answer was lost would be a second job.
            created = self._api.call(
                "POST", "/api/jobs", json={**settings, "source_name": video.name}
            )
        except PortalError as error:
            if error.status == 422 and set(error.fields) & set(settings):
                raise SettingsRefused(str(error), 422) from None
            raise
        job_id = created["job"]["job_id"]
        try:
            size = video.stat().st_size
            upload = self._api.call("POST", f"/api/jobs/{job_id}/uploads", json={"size": size})
        except PortalUnusable:
            raise
        except PortalError:
            self._delete_quietly(job_id)
            raise
        return job_id, upload

    def _delete_quietly(self, job_id: str) -> None:
        """Delete a job this run made and cannot use; where the portal cannot, the reason the
        upload failed is still the one to tell."""
        with contextlib.suppress(PortalError):
            self._api.call("DELETE", f"/api/jobs/{job_id}", expect=204)

    def _resumed(
        self, video: Path, settings: dict, ledger: UploadLedger | None
    ) -> tuple[str | None, dict | None, dict[int, str] | None]:
        """The job, upload and received parts (number: ETag; None: all of them, the job waits
        to be started) of an upload of ``video`` broken off, where the portal still has it;
        else nothing to resume."""
        earlier = ledger.recall(self.base_url, video, settings) if ledger else None
        if earlier is None or earlier.get("started"):
            return None, None, {}  # a job started already is started_before's
        job_id, upload = earlier["job_id"], earlier["upload"]
        if earlier.get("uploaded"):
            try:
                self.job(job_id)
            except PortalUnusable:
                raise
            except PortalError:
                return None, None, {}  # the job is gone: start afresh
            print(f"{video}: starting job {job_id}, uploaded before", file=sys.stderr)
            return job_id, upload, None
        try:
            held = self._api.call(
                "GET", upload["links"]["received"], params={"upload_id": upload["upload_id"]}
            )
        except PortalUnusable:
            raise
        except PortalError as error:
            if _upload_complete(error):
                # Completed, the answer lost: the video is stored, the job waits to start.
                print(f"{video}: starting job {job_id}, uploaded before", file=sys.stderr)
                return job_id, upload, None
            return None, None, {}  # the job or its upload is gone: start afresh
        received = {
            part["number"]: part["etag"]
            for part in held["parts"]
            if part["size"] == _part_bytes(upload, part["number"])
        }
        print(
            f"{video}: resuming job {job_id}'s upload, {len(received)} of "
            f"{parts_said(upload['part_count'])} already there",
            file=sys.stderr,
        )
        return job_id, upload, received

    def upload(self, upload: dict, video: Path, received: dict[int, str]) -> None:
        """Send the parts of ``upload`` not ``received`` yet, then complete it."""
        from tqdm import tqdm

        size = video.stat().st_size
        missing = [n for n in range(1, upload["part_count"] + 1) if n not in received]
        done = sum(_part_bytes(upload, n) for n in received)
        # A bar on a terminal only: in a log its redraws are a line of carriage returns.
        on_a_terminal = sys.stderr.isatty()
        if not on_a_terminal:
            print(f"{video}: uploading {parts_said(len(missing))}", file=sys.stderr)
        with (
            tqdm(total=size, initial=done, unit="B", unit_scale=True, desc="uploading",
                 file=sys.stderr, leave=False, disable=not on_a_terminal) as bar,
            ThreadPoolExecutor(PARTS_IN_FLIGHT) as pool,
        ):  # fmt: skip

            def send(number: int, url: str) -> tuple[int, str]:
                etag = self._send_part(upload, video, number, url)
                bar.update(_part_bytes(upload, number))
                return number, etag

            etags = dict(received)
            for first in range(0, len(missing), SIGNED_AT_ONCE):
                batch = missing[first : first + SIGNED_AT_ONCE]
                signed = self._sign(upload, batch)
                etags.update(pool.map(send, batch, [signed[number] for number in batch]))
        parts = [{"number": n, "etag": etags[n]} for n in sorted(etags)]
        try:
            # Sent again where its answer is lost: the portal then says it is complete.
            self._api.call(
                "POST",
                upload["links"]["complete"],
                json={"upload_id": upload["upload_id"], "parts": parts},
                expect=204,
                retry=True,
            )
        except PortalError as error:
            if not _upload_complete(error):
                raise

    def job(self, job_id: str) -> dict:
        return self._api.call("GET", f"/api/jobs/{job_id}")

    def playback(self, job_id: str) -> dict:
        return self._api.call("GET", f"/api/jobs/{job_id}/play")

    def download(self, url: str, target: Path) -> None:
        """Stream ``url`` into ``target``, which appears only whole."""
        try:
            with (
                replaced_whole(
                    target, prefix=f".{target.name}.", suffix=".partial", private=False
                ) as partial,
                self._storage.stream("GET", url) as answer,
                partial.open("wb") as out,
            ):
                if answer.status_code != 200:
                    raise PortalError(f"Downloading the 3D video failed ({answer.status_code}).")
                for chunk in answer.iter_bytes(1024 * 1024):
                    out.write(chunk)
        except httpx.HTTPError as error:
            raise PortalError(f"Downloading the 3D video failed: {error}") from None

    def _sign(self, upload: dict, numbers: list[int]) -> dict[int, str]:
        signed = self._api.call(
            "POST",
            upload["links"]["sign"],
            json={"upload_id": upload["upload_id"], "numbers": numbers},
            retry=True,  # signing changes nothing
        )
        return {part["number"]: part["url"] for part in signed["parts"]}

    def _send_part(self, upload: dict, video: Path, number: int, url: str) -> str:
        """PUT one part, again (newly signed) after a pause when the connection or the storage
        fails it; the ETag its answer gives."""
        with video.open("rb") as file:
            file.seek((number - 1) * upload["part_size"])
            data = file.read(upload["part_size"])
        for attempt in range(PART_ATTEMPTS):
            if attempt:
                time.sleep(2 ** (attempt - 1))
                url = self._sign(upload, [number])[number]
            try:
                answer = self._storage.put(url, content=data)
            except httpx.TransportError:
                continue
            if answer.status_code == 200 and "etag" in answer.headers:
                return answer.headers["etag"]
            if answer.status_code in (404, 409, 413):
                raise PortalError(
                    refusal(answer, "The storage refused part of the upload"), answer.status_code
                )
        raise PortalError(
            f"Part {number} of the upload failed {PART_ATTEMPTS} times; check the connection "
            "and submit the video again."
        )


def _part_bytes(upload: dict, number: int) -> int:
    plan = PartPlan(upload["size"], upload["part_size"], upload["part_count"])
    return plan.part_bytes(number)


def _upload_complete(error: PortalError) -> bool:
    """The portal's 409 for an upload completed already (the answer to ``complete`` lost)."""
    return error.status == 409 and str(error).startswith("This upload is complete")


def parts_said(count: int) -> str:
    """``1 part``, ``3 parts``."""
    return f"{count} part" if count == 1 else f"{count} parts"
