"""What ``stereo-spot submit`` remembers on this machine of the uploads it began, so that the
same command run again resumes them."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from stereo_spot.errors import StereoSpotError


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
