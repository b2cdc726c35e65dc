"""A client of the portal's JSON API (docs/PORTAL.md) for ``stereo-spot submit``: jobs made,
videos uploaded in parts straight to the storage the portal signs for, results downloaded."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from stereo_spot.errors import StereoSpotError
from stereo_spot.storage.multipart import PartPlan

PARTS_IN_FLIGHT = 4
# Tries of one part before the upload gives up, waiting 1, 2, 4, 8 s between them.
PART_ATTEMPTS = 5
SIGNED_AT_ONCE = 100  # the most part URLs the portal signs in one request


class PortalError(StereoSpotError):
    """The portal refused a request, or could not be reached: its reason, in its words."""


class PortalUnusable(PortalError):
    """The portal cannot be reached, or asks to sign in: every other video would fail alike."""


class PortalClient:
    """The portal's JSON API, and the storage its signed URLs point at."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        api: httpx.Client | None = None,
        storage: httpx.Client | None = None,
    ) -> None:
        """``api`` and ``storage``: the HTTP clients to use instead of new ones (tests pass the
        portal app's own)."""
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._api = api or httpx.Client(base_url=self.base_url, headers=headers, timeout=60)
        # Signed storage URLs carry their own credential: S3 refuses a second one.
        self._storage = storage or httpx.Client(timeout=300)

    def __enter__(self) -> PortalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._api.close()
        self._storage.close()

    def page_of(self, job: dict) -> str:
        return self.base_url + job["links"]["page"]

    def submit(
        self, video: Path, settings: dict, start: dict, ledger: UploadLedger | None = None
    ) -> dict:
        """Create a job for ``video``, upload it in parts, start it; the job to watch (with a
        preview asked for, the preview's). An upload of the same file with the same settings
        that ``ledger`` remembers, broken off, is resumed: only the parts that did not arrive
        are sent."""
        name = video.name
        job_id, upload, received = self._resumed(video, settings, ledger)
        if upload is None:
            created = self._call("POST", "/api/jobs", json={**settings, "source_name": name})
            job_id = created["job"]["job_id"]
            size = video.stat().st_size
            upload = self._call("POST", f"/api/jobs/{job_id}/uploads", json={"size": size})
            if ledger is not None:
                ledger.remember(self.base_url, video, settings, job_id, upload)
        self.upload(upload, video, received)
        if ledger is not None:
            ledger.forget(self.base_url, video)
        return self._call("POST", f"/api/jobs/{job_id}/start", json={"source_name": name, **start})

    def _resumed(
        self, video: Path, settings: dict, ledger: UploadLedger | None
    ) -> tuple[str | None, dict | None, dict[int, str]]:
        """The job, upload and received parts (number: ETag) of an upload of ``video`` broken
        off, where the portal still has it; else nothing to resume."""
        earlier = ledger.recall(self.base_url, video, settings) if ledger else None
        if earlier is None:
            return None, None, {}
        job_id, upload = earlier["job_id"], earlier["upload"]
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
        with (
            tqdm(total=size, initial=done, unit="B", unit_scale=True, desc="uploading",
                 file=sys.stderr, leave=False) as bar,
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
        partial = target.with_name(f".{target.name}.partial")
        try:
            with self._storage.stream("GET", url) as answer, partial.open("wb") as out:
                if answer.status_code != 200:
                    raise PortalError(f"Downloading the 3D video failed ({answer.status_code}).")
                for chunk in answer.iter_bytes(1024 * 1024):
                    out.write(chunk)
            partial.replace(target)
        except httpx.HTTPError as error:
            raise PortalError(f"Downloading the 3D video failed: {error}") from None
        finally:
            partial.unlink(missing_ok=True)

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
                raise PortalError(_reason(answer, "The storage refused part of the upload"))
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
            raise PortalUnusable(
                "The portal asks to sign in: pass its token with --token (or set "
                "STEREO_SPOT_AUTH_TOKEN)."
            )
        if answer.status_code >= 400:
            raise PortalError(_reason(answer, f"The portal refused {method} {path}"))
        if expect == 204 or answer.status_code == 204:
            return None
        return answer.json()


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

    def remember(self, portal: str, video: Path, settings: dict, job_id: str, upload: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {"settings": settings, "job_id": job_id, "upload": upload}
        self._path(portal, video).write_text(json.dumps(record))

    def forget(self, portal: str, video: Path) -> None:
        self._path(portal, video).unlink(missing_ok=True)

    def _path(self, portal: str, video: Path) -> Path:
        """Named after the portal and the file as it is now (a changed file is another)."""
        stat = video.stat()
        identity = f"{portal}\n{video.resolve()}\n{stat.st_size}\n{stat.st_mtime_ns}"
        return self.folder / f"{hashlib.sha256(identity.encode()).hexdigest()[:32]}.json"
