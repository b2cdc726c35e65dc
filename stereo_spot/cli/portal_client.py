"""A client of the portal's JSON API (docs/PORTAL.md) for ``stereo-spot submit``: jobs made,
videos uploaded in parts straight to the storage the portal signs for, results downloaded."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from stereo_spot.errors import StereoSpotError

PARTS_IN_FLIGHT = 4
# Tries of one part before the upload gives up, waiting 1, 2, 4, 8 s between them.
PART_ATTEMPTS = 5
SIGNED_AT_ONCE = 100  # the most part URLs the portal signs in one request


class PortalError(StereoSpotError):
    """The portal refused a request, or could not be reached: its reason, in its words."""


class PortalClient:
    """The portal's JSON API, and the storage its signed URLs point at."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._api = httpx.Client(base_url=self.base_url, headers=headers, timeout=60)
        # Signed storage URLs carry their own credential: S3 refuses a second one.
        self._storage = httpx.Client(timeout=300)

    def __enter__(self) -> PortalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._api.close()
        self._storage.close()

    def page_of(self, job: dict) -> str:
        return self.base_url + job["links"]["page"]

    def submit(self, video: Path, settings: dict, start: dict) -> dict:
        """Create a job for ``video``, upload it in parts, start it; the job to watch (with a
        preview asked for, the preview's)."""
        name = video.name
        created = self._call("POST", "/api/jobs", json={**settings, "source_name": name})
        job_id = created["job"]["job_id"]
        self.upload(job_id, video)
        return self._call("POST", f"/api/jobs/{job_id}/start", json={"source_name": name, **start})

    def upload(self, job_id: str, video: Path) -> None:
        from tqdm import tqdm

        size = video.stat().st_size
        upload = self._call("POST", f"/api/jobs/{job_id}/uploads", json={"size": size})
        numbers = range(1, upload["part_count"] + 1)
        with (
            tqdm(total=size, unit="B", unit_scale=True, desc="uploading", file=sys.stderr,
                 leave=False) as bar,
            ThreadPoolExecutor(PARTS_IN_FLIGHT) as pool,
        ):  # fmt: skip

            def send(number: int, url: str) -> dict:
                etag = self._send_part(upload, video, number, url)
                bar.update(_part_bytes(upload, number))
                return {"number": number, "etag": etag}

            parts: list[dict] = []
            for first in range(0, len(numbers), SIGNED_AT_ONCE):
                batch = list(numbers[first : first + SIGNED_AT_ONCE])
                signed = self._sign(upload, batch)
                parts += pool.map(send, batch, [signed[number] for number in batch])
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

    def _call(self, method: str, path: str, json: Any = None, expect: int | None = None) -> Any:
        try:
            answer = self._api.request(method, path, json=json)
        except httpx.HTTPError as error:
            raise PortalError(f"Could not reach the portal at {self.base_url}: {error}") from None
        if answer.status_code == 401:
            raise PortalError(
                "The portal asks to sign in: pass its token with --token (or set "
                "STEREO_SPOT_AUTH_TOKEN)."
            )
        if answer.status_code >= 400:
            raise PortalError(_reason(answer, f"The portal refused {method} {path}"))
        if expect == 204 or answer.status_code == 204:
            return None
        return answer.json()


def _part_bytes(upload: dict, number: int) -> int:
    if number < upload["part_count"]:
        return upload["part_size"]
    return upload["size"] - upload["part_size"] * (upload["part_count"] - 1)


def _reason(answer: httpx.Response, fallback: str) -> str:
    """The portal's sentence (``detail``), or what went wrong in general."""
    try:
        detail = answer.json().get("detail")
    except ValueError:
        detail = None
    if isinstance(detail, str):
        return detail
    return f"{fallback} ({answer.status_code})."
