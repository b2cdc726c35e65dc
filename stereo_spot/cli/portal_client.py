"""A client of the portal's JSON API (docs/PORTAL.md) for ``stereo-spot submit``: jobs made,
videos uploaded in parts straight to the storage the portal signs for, results downloaded."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import httpx

from stereo_spot.atomic_files import replaced_whole
from stereo_spot.errors import InputRejected, InvalidOption, StereoSpotError
from stereo_spot.storage.multipart import PartPlan

PARTS_IN_FLIGHT = 4
# Tries of one part before the upload gives up, waiting 1, 2, 4, 8 s between them.
PART_ATTEMPTS = 5
SIGNED_AT_ONCE = 100  # the most part URLs the portal signs in one request
# How long a call that can safely be sent twice (a GET, the start, signing) is tried again while
# the portal cannot be reached or a proxy in front of it answers 502/503/504: a portal restarting
# (a rollout, a node drained) takes about a minute; longer, the run stops, and the same command
# run again picks up where it stopped.
RETRY_SECONDS = 120.0
RETRIED_STATUSES = (502, 503, 504)


class PortalError(StereoSpotError):
    """The portal refused a request, or could not be reached: its reason, in its words;
    ``status``, the HTTP status it answered with (None: no answer, or not the portal's)."""

    def __init__(self, sentence: str, status: int | None = None) -> None:
        super().__init__(sentence)
        self.status = status
        self.fields: list[str] = []  # a 422's refused values, by name in the request's body


class PortalUnusable(PortalError):
    """The portal cannot be reached, asks to sign in, or is not a portal: every other video
    would fail alike."""


class SettingsRefused(PortalError):
    """The portal refused a setting every video of the run shares (an engine its model server
    does not run): every other video would be refused alike."""


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
        # "http:/host" (a slash short) is an http address mistyped, not a host named "http:".
        typo = re.match(r"(?i)(https?):/*([^/].*)", shown)
        if typo:
            example = f"{typo[1].lower()}://{typo[2]}"
        else:
            example = f"https://{shown.split('://', 1)[-1] or 'stereo.example.org'}"
        raise InvalidOption(
            f"{shown}: the portal's address starts with https:// or http:// "
            f"(for example {example})."
        )
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number, or out of range
    except ValueError:
        raise InvalidOption(
            f"{shown}: the port after the host must be a number up to 65535."
        ) from None
    # The API's address (.../api/jobs, copied from the docs or a script) is the portal's.
    path = re.sub(r"/api(/.*)?$", "", parts.path)
    url = urlunsplit((parts.scheme.lower(), host, path, parts.query, "")).rstrip("/")
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
        if token and not basic:
            _refuse_unsendable_token(token)
        # What was sent, to tell "sign in" from "what you gave was refused" on a 401.
        self._signs_in_with = "password" if basic else "token" if token else None
        # Never printed: taken out of any message built from an error's own text.
        self._secrets = [secret for secret in (token, *(basic or ())) if secret]
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
            # Not tried again: a mistyped address or a portal that is down is said at once.
            listing = self._call("GET", "/api/jobs", params={"limit": 1}, retry=False)
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
            job = self._call(
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
            created = self._call("POST", "/api/jobs", json={**settings, "source_name": video.name})
        except PortalError as error:
            if error.status == 422 and set(error.fields) & set(settings):
                raise SettingsRefused(str(error), 422) from None
            raise
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
            held = self._call(
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
            print(f"{video}: uploading {len(missing)} parts", file=sys.stderr)
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
            self._call(
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
        retry: bool | None = None,
    ) -> Any:
        """The portal's answer to one API call, its JSON; ``retry`` (default: GETs only) sends
        it again, for up to :data:`RETRY_SECONDS`, while the portal cannot be reached or a proxy
        answers for it that it is away; a call that makes something (a job) is never sent twice.
        """
        retry = method == "GET" if retry is None else retry
        deadline = None
        pause = 1.0
        while True:
            failure: httpx.HTTPError | None = None
            try:
                answer = self._api.request(method, path, json=json, params=params)
                away = answer.status_code in RETRIED_STATUSES and not _portal_said(answer)
                why = f"answered {answer.status_code}"
            except (httpx.LocalProtocolError, httpx.UnsupportedProtocol) as error:
                failure, away = error, False  # ours, not the network's: the same again
            except httpx.TransportError as error:
                failure, away, why = error, True, "could not be reached"
            except httpx.HTTPError as error:
                failure, away = error, False
            if not (retry and away):
                break
            now = time.monotonic()
            if deadline is None:
                deadline = now + RETRY_SECONDS
                print(
                    f"The portal {why} ({method} {path}); trying again for up to "
                    f"{RETRY_SECONDS:g} s",
                    file=sys.stderr,
                )
            if now + pause > deadline:
                break
            time.sleep(pause)
            pause = min(pause * 2, 15.0)
        if failure is not None:
            raise PortalUnusable(self._unreachable_sentence(failure)) from None
        if answer.status_code in RETRIED_STATUSES and not _portal_said(answer):
            tried = f" for {RETRY_SECONDS:g} s" if deadline is not None else ""
            raise PortalUnusable(
                f"The portal at {self.base_url} answered {answer.status_code} to {method} "
                f"{path}{tried} (a proxy in front of it, while it is away).",
                answer.status_code,
            )
        if 300 <= answer.status_code < 400:
            raise PortalUnusable(self._redirect_sentence(answer, path), answer.status_code)
        if answer.status_code == 401:
            raise PortalUnusable(self._sign_in_sentence(answer), 401)
        if answer.status_code >= 400:
            error = PortalError(
                _reason(answer, f"The portal refused {method} {path}"), answer.status_code
            )
            error.fields = _refused_fields(answer)
            raise error
        if expect == 204 or answer.status_code == 204:
            return None
        try:
            return answer.json()
        except ValueError:  # another service's page: confirm_portal says so
            raise PortalError(f"The answer to {method} {path} was not the portal's.") from None

    def _unreachable_sentence(self, error: httpx.HTTPError) -> str:
        """Why the portal could not be reached, in the network's words (never a secret they
        might quote), and the scheme to try where the other one is what answered."""
        said = str(error)
        for secret in self._secrets:
            said = said.replace(secret, "…").replace(repr(secret)[1:-1], "…")
        said = re.sub(r"(?i)(Bearer|Basic) \S+", r"\1 …", said)
        parts = urlsplit(self.base_url)
        hint = ""
        if parts.scheme == "https" and re.search(r"WRONG_VERSION_NUMBER|record layer", said):
            other = urlunsplit(("http", parts.netloc, parts.path, "", ""))
            hint = f"; it answers plain HTTP there: give {other}"
        elif parts.scheme == "http" and isinstance(
            error, (httpx.RemoteProtocolError, httpx.ReadError)
        ):
            other = urlunsplit(("https", parts.netloc, parts.path, "", ""))
            hint = f"; if it serves HTTPS there, give {other}"
        return f"Could not reach the portal at {self.base_url}: {said}{hint}"

    def _redirect_sentence(self, answer: httpx.Response, path: str) -> str:
        """An address that sends elsewhere (http to https at an ingress, a moved host): the one
        to give, the portal's own, not the API's."""
        location = answer.headers.get("location", "")
        if not location:
            return f"{self.base_url} redirects ({answer.status_code}) without saying where."
        target = urlsplit(urljoin(str(answer.request.url), location))
        base = target.path
        if base.endswith(path):
            base = base[: -len(path)]
        host = target.netloc.rpartition("@")[2]
        there = urlunsplit((target.scheme, host, base, "", "")).rstrip("/")
        return f"{self.base_url} redirects to {there}; give that address."

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


def _detail(answer: httpx.Response) -> object:
    try:
        body = answer.json()
    except ValueError:
        return None
    return body.get("detail") if isinstance(body, dict) else None


def _portal_said(answer: httpx.Response) -> bool:
    """Whether an answer is the portal's own sentence (a 503 naming a bucket that does not
    exist, say, which the same call again will not change), not a proxy's page."""
    return _detail(answer) is not None


def _reason(answer: httpx.Response, fallback: str) -> str:
    """The portal's sentence (``detail``), the values it refused, each named with why
    (FastAPI's list of ``{"loc", "msg"}``), or what went wrong in general."""
    detail = _detail(answer)
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        said = []
        for item in detail:
            if isinstance(item, dict) and isinstance(item.get("msg"), str):
                field = ".".join(map(str, _field_of(item)))
                message = item["msg"].strip()
                message += "" if message.endswith((".", "!", "?")) else "."
                said.append(f"{field}: {message}" if field else message)
        if said:
            return f"The portal refused {' '.join(said)}"
    return f"{fallback} ({answer.status_code})."


def _field_of(item: dict) -> list:
    """A refused value's name in the body (``["body", "engine"]``: engine)."""
    loc = item.get("loc")
    if not isinstance(loc, list):
        return []
    return [part for part in loc if part not in ("body", "query", "path")]


def _refused_fields(answer: httpx.Response) -> list[str]:
    detail = _detail(answer)
    if not isinstance(detail, list):
        return []
    return [
        str(_field_of(item)[0]) for item in detail if isinstance(item, dict) and _field_of(item)
    ]


def _upload_complete(error: PortalError) -> bool:
    """The portal's 409 for an upload completed already (the answer to ``complete`` lost)."""
    return error.status == 409 and str(error).startswith("This upload is complete")


def _refuse_unsendable_token(token: str) -> None:
    """A token an HTTP header cannot carry (a newline from ``echo $TOKEN > file``, a letter
    outside ASCII) is refused before any request: httpx would quote it in its error, or fail
    with a traceback. The token itself is never said."""
    if all(" " <= character <= "~" or character == "\t" for character in token):
        return
    hint = (
        "a newline at its end?"
        if token.rstrip("\r\n") != token
        else "a letter outside ASCII, or a line break?"
    )
    raise InvalidOption(
        f"The token (--token or STEREO_SPOT_AUTH_TOKEN) holds a character an HTTP header cannot "
        f"carry ({hint}); give the token alone."
    )


class UploadLedger:
    """Uploads this machine began, one small JSON file each, kept until the job's result is
    downloaded (or its failure told), so that a ``submit`` run again after Ctrl-C, a dropped
    connection or a reboot resumes the upload, or follows the job it started. A record without
    ``started`` (all of them before jobs were kept once started) is an upload to resume."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def refuse_unwritable(self) -> None:
        """Stop before a job is made whose upload could not be remembered."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = self.folder / f".written-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as error:
            raise StereoSpotError(
                f"Cannot write the record of uploads in {self.folder} "
                f"({error.strerror or error}): make it writable, or set STEREO_SPOT_DATA_DIR to a "
                "folder that is."
            ) from None

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
        started: dict | None = None,
    ) -> None:
        """Note an upload begun; ``uploaded``: completed, its job still to start; ``started``:
        the job to follow (``job_id``) and the ``start`` asked (the part, the preview)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {"settings": settings, "job_id": job_id, "upload": upload, "uploaded": uploaded}
        if started is not None:
            record["started"] = started
        self._path(portal, video).write_text(json.dumps(record))

    def forget(self, portal: str, video: Path) -> None:
        with contextlib.suppress(FileNotFoundError):  # the video gone: its record is unfindable
            self._path(portal, video).unlink(missing_ok=True)

    def _path(self, portal: str, video: Path) -> Path:
        """Named after the portal and the file as it is now (a changed file is another)."""
        stat = video.stat()
        identity = f"{portal}\n{video.resolve()}\n{stat.st_size}\n{stat.st_mtime_ns}"
        return self.folder / f"{hashlib.sha256(identity.encode()).hexdigest()[:32]}.json"
