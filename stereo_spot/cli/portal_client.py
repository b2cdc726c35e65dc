"""A client of the portal's JSON API (docs/PORTAL.md) for ``stereo-spot submit``: jobs made,
videos uploaded in parts straight to the storage the portal signs for, results downloaded."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from stereo_spot.atomic_files import replaced_whole
from stereo_spot.errors import InputRejected, InvalidOption, StereoSpotError
from stereo_spot.storage.multipart import PartPlan

PARTS_IN_FLIGHT = 4
# Tries of one part before the upload gives up, waiting 1, 2, 4, 8 s between them.
PART_ATTEMPTS = 5
SIGNED_AT_ONCE = 100  # the most part URLs the portal signs in one request


class PortalError(StereoSpotError):
    """The portal refused a request, or could not be reached: its reason, in its words;
    ``status``, the HTTP status it answered with (None: no answer, or not the portal's)."""

    def __init__(self, sentence: str, status: int | None = None) -> None:
        super().__init__(sentence)
        self.status = status


class PortalUnusable(PortalError):
    """The portal cannot be reached, asks to sign in, or is not a portal: every other video
    would fail alike."""


@dataclass(frozen=True)
class PortalAddress:
    """A portal's address as typed, taken apart: ``url`` without the user name and password
    (the only form ever printed), and those as basic auth."""

    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)  # kept out of tracebacks


def portal_address(text: str) -> PortalAddress:
    """``submit``'s first argument: an http(s) address, any case, whose ``user:password@``, if
    any, signs in with basic auth."""
    try:
        parts = urlsplit(text)
    except ValueError as error:  # a bracketed IPv6 host left open, say
        raise InvalidOption(f"{text.rpartition('@')[2]}: not a web address ({error}).") from None
    host = parts.netloc.rpartition("@")[2]
    # The password is never echoed, not even in a refusal.
    shown = text.replace(parts.netloc, host, 1) if host != parts.netloc else text
    if "://" not in text or parts.scheme.lower() not in ("http", "https") or not host:
        rest = shown.split("://", 1)[-1] or "stereo.example.org"
        raise InvalidOption(
            f"{shown}: the portal's address starts with https:// or http:// "
            f"(for example https://{rest})."
        )
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number, or out of range
    except ValueError:
        raise InvalidOption(
            f"{shown}: the port after the host must be a number up to 65535."
        ) from None
    url = urlunsplit((parts.scheme.lower(), host, parts.path, parts.query, "")).rstrip("/")
    if parts.username is None:
        return PortalAddress(url)
    return PortalAddress(url, unquote(parts.username), unquote(parts.password or ""))


def basic_auth_from(value: str | None) -> tuple[str, str] | None:
    """``STEREO_SPOT_BASIC_AUTH`` as the portal reads it, ``user:password``."""
    if not value:
        return None
    user, colon, password = value.partition(":")
    if not colon:
        raise InvalidOption(
            "STEREO_SPOT_BASIC_AUTH is the portal's user name and password as user:password; "
            "set it so, or unset it."
        )
    return user, password


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
        # What was sent, to tell "sign in" from "what you gave was refused" on a 401.
        self._signs_in_with = "password" if basic else "token" if token else None
        headers = {"Authorization": f"Bearer {token}"} if token and not basic else {}
        self._api = api or httpx.Client(
            base_url=self.base_url, headers=headers, auth=basic, timeout=60
        )
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
            listing = self._call("GET", "/api/jobs", params={"limit": 1})
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
        refuses for good (an empty file, one over its limit) is deleted."""
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
            if ledger is not None:
                ledger.remember(self.base_url, video, settings, job_id, upload, uploaded=True)
        try:
            job = self._call(
                "POST", f"/api/jobs/{job_id}/start", json={"source_name": name, **start}
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
        # Only now: a start whose answer was lost is asked again by the next run, whose start
        # of a started job runs nothing new.
        if ledger is not None:
            ledger.forget(self.base_url, video)
        return job

    def _begin(self, video: Path, settings: dict) -> tuple[str, dict]:
        """A new job for ``video``, and its upload begun; the job deleted again where the portal
        refuses the upload (a size over its limit), so that no empty job is left."""
        created = self._call("POST", "/api/jobs", json={**settings, "source_name": video.name})
        job_id = created["job"]["job_id"]
        try:
            size = video.stat().st_size
            upload = self._call("POST", f"/api/jobs/{job_id}/uploads", json={"size": size})
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
            self._call("DELETE", f"/api/jobs/{job_id}", expect=204)

    def _resumed(
        self, video: Path, settings: dict, ledger: UploadLedger | None
    ) -> tuple[str | None, dict | None, dict[int, str] | None]:
        """The job, upload and received parts (number: ETag; None: all of them, the job waits
        to be started) of an upload of ``video`` broken off, where the portal still has it;
        else nothing to resume."""
        earlier = ledger.recall(self.base_url, video, settings) if ledger else None
        if earlier is None:
            return None, None, {}
        job_id, upload = earlier["job_id"], earlier["upload"]
        if earlier.get("uploaded"):
            try:
                self.job(job_id)
            except PortalUnusable:
                raise
            except PortalError:
                return None, None, {}  # the job is gone: start afresh
            print(f"{video.name}: starting job {job_id}, uploaded before", file=sys.stderr)
            return job_id, upload, None
        try:
            held = self._call(
                "GET", upload["links"]["received"], params={"upload_id": upload["upload_id"]}
            )
        except PortalError:
            return None, None, {}  # the job or its upload is gone: start afresh
        received = {
            part["number"]: part["etag"]
            for part in held["parts"]
            if part["size"] == _part_bytes(upload, part["number"])
        }
        print(
            f"{video.name}: resuming job {job_id}'s upload, {len(received)} of "
            f"{upload['part_count']} parts already there",
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
            print(f"{video.name}: uploading {len(missing)} parts", file=sys.stderr)
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
        self._call(
            "POST",
            upload["links"]["complete"],
            json={"upload_id": upload["upload_id"], "parts": parts},
            expect=204,
        )

    def job(self, job_id: str) -> dict:
        return self._call("GET", f"/api/jobs/{job_id}")

    def playback(self, job_id: str) -> dict:
        return self._call("GET", f"/api/jobs/{job_id}/play")

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
        signed = self._call(
            "POST",
            upload["links"]["sign"],
            json={"upload_id": upload["upload_id"], "numbers": numbers},
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
                    _reason(answer, "The storage refused part of the upload"), answer.status_code
                )
        raise PortalError(
            f"Part {number} of the upload failed {PART_ATTEMPTS} times; check the connection "
            "and submit the video again."
        )

    def _call(
        self,
        method: str,
        path: str,
        json: Any = None,
        expect: int | None = None,
        params: dict | None = None,
    ) -> Any:
        try:
            answer = self._api.request(method, path, json=json, params=params)
        except httpx.HTTPError as error:
            raise PortalUnusable(
                f"Could not reach the portal at {self.base_url}: {error}"
            ) from None
        if answer.status_code == 401:
            raise PortalUnusable(self._sign_in_sentence(answer), 401)
        if answer.status_code >= 400:
            raise PortalError(
                _reason(answer, f"The portal refused {method} {path}"), answer.status_code
            )
        if expect == 204 or answer.status_code == 204:
            return None
        try:
            return answer.json()
        except ValueError:  # another service's page: confirm_portal says so
            raise PortalError(f"The answer to {method} {path} was not the portal's.") from None

    def _sign_in_sentence(self, answer: httpx.Response) -> str:
        """Why the portal refused: nothing given, or what was given was wrong; and how it signs
        in (a portal with a password asks for basic auth, one with only a token for a bearer)."""
        asks_password = "basic" in answer.headers.get("www-authenticate", "").lower()
        parts = urlsplit(self.base_url)
        address = f"{parts.scheme}://USER:PASSWORD@{parts.netloc}"
        if self._signs_in_with == "password":
            if asks_password:
                return "The portal refused the user name and password given; check them."
            return (
                "The portal refused the user name and password given: it signs in with a "
                "token; pass it with --token (or set STEREO_SPOT_AUTH_TOKEN)."
            )
        if self._signs_in_with == "token":
            if asks_password:
                return (
                    "The portal refused the token given; check --token (or "
                    f"STEREO_SPOT_AUTH_TOKEN), or sign in with its user name and password "
                    f"({address})."
                )
            return "The portal refused the token given; check --token (or STEREO_SPOT_AUTH_TOKEN)."
        if asks_password:
            return (
                "The portal asks to sign in: give its user name and password in its address "
                f"({address}) or in STEREO_SPOT_BASIC_AUTH=USER:PASSWORD."
            )
        return (
            "The portal asks to sign in: pass its token with --token (or set "
            "STEREO_SPOT_AUTH_TOKEN)."
        )


def _part_bytes(upload: dict, number: int) -> int:
    plan = PartPlan(upload["size"], upload["part_size"], upload["part_count"])
    return plan.part_bytes(number)


def _reason(answer: httpx.Response, fallback: str) -> str:
    """The portal's sentence (``detail``), or what went wrong in general."""
    try:
        detail = answer.json().get("detail")
    except ValueError:
        detail = None
    if isinstance(detail, str):
        return detail
    return f"{fallback} ({answer.status_code})."


class UploadLedger:
    """Uploads this machine began and did not finish, one small JSON file each, so that a
    ``submit`` run again after Ctrl-C, a dropped connection or a reboot resumes them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def recall(self, portal: str, video: Path, settings: dict) -> dict | None:
        try:
            record = json.loads(self._path(portal, video).read_text())
        except (OSError, ValueError):
            return None
        return record if record.get("settings") == settings else None

    def remember(
        self,
        portal: str,
        video: Path,
        settings: dict,
        job_id: str,
        upload: dict,
        uploaded: bool = False,
    ) -> None:
        """Note an upload begun; ``uploaded``: completed, its job still to start."""
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {"settings": settings, "job_id": job_id, "upload": upload, "uploaded": uploaded}
        self._path(portal, video).write_text(json.dumps(record))

    def forget(self, portal: str, video: Path) -> None:
        self._path(portal, video).unlink(missing_ok=True)

    def _path(self, portal: str, video: Path) -> Path:
        """Named after the portal and the file as it is now (a changed file is another)."""
        stat = video.stat()
        identity = f"{portal}\n{video.resolve()}\n{stat.st_size}\n{stat.st_mtime_ns}"
        return self.folder / f"{hashlib.sha256(identity.encode()).hexdigest()[:32]}.json"
