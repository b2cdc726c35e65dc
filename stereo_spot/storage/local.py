"""Local filesystem storage: objects are files under one root directory."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from stereo_spot.atomic_files import remove_empty_folders, replaced_whole
from stereo_spot.errors import InvalidKey, ObjectNotFound, StereoSpotError
from stereo_spot.keys import parse_uri, validate_key
from stereo_spot.storage import UploadTarget
from stereo_spot.storage.local_parts import LocalParts, PartFile
from stereo_spot.storage.multipart import UploadedPart
from stereo_spot.storage.signing import UPLOAD_PATH, UrlSigner, download_url, part_url


class LocalStorage:
    """Objects are files under ``root``.

    With a ``signer``, ``presign_upload``/``presign_download`` hand out HMAC-signed URLs that the
    portal's ``/storage`` endpoints verify (``base_url`` is the portal's public address; empty =
    URLs relative to whichever portal serves the page).
    """

    def __init__(self, root: Path, signer: UrlSigner | None = None, base_url: str = "") -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.signer = signer
        self.base_url = base_url.rstrip("/")
        self._parts = LocalParts(self.root)

    def path_for(self, key: str) -> Path:
        path = (self.root / validate_key(key)).resolve()
        # validate_key already refuses '..'; this guards against symlinks pointing out of the root.
        if not path.is_relative_to(self.root):
            raise ObjectNotFound(f"'{key}' lies outside the storage root.")
        return path

    def put_file(
        self, local_path: Path, key: str, content_type: str = "video/mp4", *, move: bool = False
    ) -> None:
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if move and _renamed(Path(local_path), target):
            return
        with replaced_whole(target, prefix=".upload-") as copy:
            shutil.copyfile(local_path, copy)
        if move:
            Path(local_path).unlink()

    def get_file(self, key: str, local_path: Path, *, read_only: bool = False) -> Path:
        source = self.path_for(key)
        if not source.is_file():
            raise ObjectNotFound(f"There is no object at '{key}'.")
        local_path = Path(local_path)
        local_path.parent.mkdir(parents=True, exist_ok=True)
        if not (read_only and _linked(source, local_path)):
            shutil.copyfile(source, local_path)
        return local_path

    def copy(self, source_key: str, target_key: str) -> None:
        source = self.path_for(source_key)
        if not source.is_file():
            raise ObjectNotFound(f"There is no object at '{source_key}'.")
        self.put_file(source, target_key)

    def check(self) -> None:
        pass  # the folder was made, or refused, as this storage was opened

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def size(self, key: str) -> int:
        path = self.path_for(key)
        if not path.is_file():
            raise ObjectNotFound(f"There is no object at '{key}'.")
        return path.stat().st_size

    def list_prefix(self, prefix: str) -> list[str]:
        return keys_under(self.root, prefix)

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list_prefix(prefix)
        for key in keys:
            self.path_for(key).unlink(missing_ok=True)
        self._parts.abort_keys(keys_under(self._parts.by_key, prefix))
        _remove_empty_dirs(self.root, _folder_of(self.root, prefix))
        return len(keys)

    def uri_for(self, key: str) -> str:
        return self.path_for(key).as_uri()

    def key_from_uri(self, uri: str) -> str:
        parsed = parse_uri(uri, local_root=str(self.root))
        if parsed.scheme != "file":
            raise InvalidKey(f"'{uri}' is not a URI of this local storage.")
        return parsed.key

    def presign_upload(
        self, key: str, max_bytes: int, expires_in: int = 3600, content_type: str = "video/mp4"
    ) -> UploadTarget:
        fields = self._require_signer().sign_upload(key, max_bytes, expires_in, content_type)
        return UploadTarget(
            url=f"{self.base_url}{UPLOAD_PATH}",
            fields=fields,
            max_bytes=max_bytes,
            expires_in=expires_in,
        )

    def presign_download(
        self, key: str, expires_in: int = 3600, filename: str | None = None
    ) -> str:
        query = self._require_signer().sign_download(key, expires_in, filename)
        return download_url(self.base_url, key, query)

    # -- uploads in parts (stereo_spot.storage.local_parts) -------------------------------------

    def start_multipart_upload(self, key: str, content_type: str = "video/mp4") -> str:
        return self._parts.start(key)

    def presign_upload_part(
        self, key: str, upload_id: str, part_number: int, expires_in: int = 3600
    ) -> str:
        query = self._require_signer().sign_part(key, upload_id, part_number, expires_in)
        return part_url(self.base_url, upload_id, part_number, query)

    def uploaded_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        return self._parts.uploaded(key, upload_id)

    def complete_multipart_upload(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart]
    ) -> None:
        self._parts.complete(key, upload_id, parts, lambda: self.staged_writer(key))

    def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        self._parts.abort(key, upload_id)

    def staged_part(
        self, key: str, upload_id: str, part_number: int, most_bytes: int | None = None
    ) -> PartFile:
        """Where the portal's part endpoint writes a PUT of one part; refused as it streams
        (UploadFull) once the upload would hold more than ``most_bytes``."""
        return self._parts.staged_part(key, upload_id, part_number, most_bytes)

    def staged_writer(self, key: str) -> StagedFile:
        """A temporary file next to ``key`` that becomes the object only on ``commit``."""
        return StagedFile(self.path_for(key))

    def _require_signer(self) -> UrlSigner:
        if self.signer is None:
            raise StereoSpotError("This local storage was built without a URL signer.")
        return self.signer


class StagedFile:
    """Written under a hidden name in the target's folder, renamed into place on commit.

    Readers (and ``list_prefix``) never see a partial upload; ``discard`` leaves nothing behind.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        self._path = Path(name)
        self._handle = os.fdopen(fd, "wb")
        self.size = 0

    def write(self, data: bytes) -> None:
        self._handle.write(data)
        self.size += len(data)

    def commit(self) -> None:
        self._handle.close()
        os.replace(self._path, self.target)

    def discard(self) -> None:
        if not self._handle.closed:
            self._handle.close()
        self._path.unlink(missing_ok=True)
        # The folder the upload made, if nothing else lives in it.
        with contextlib.suppress(OSError):
            self.target.parent.rmdir()


def keys_under(root: Path, prefix: str) -> list[str]:
    """The keys of the files under ``root`` that start with ``prefix``, sorted.

    Only the folder the prefix names is walked (``jobs/x/segments/``; for one that ends mid-name,
    ``input/x/source``, the folder it ends in): walking the whole tree, every other job's files
    and the unfinished uploads' parts with them, made a cancel take seconds. Hidden names are
    staged uploads and unfinished uploads in parts, not objects, and are not walked into.
    """
    folder = _folder_of(root, prefix)
    if folder is None:
        return []
    keys = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]
        base = Path(dirpath).relative_to(root).as_posix()
        for name in filenames:
            key = name if base == "." else f"{base}/{name}"
            if key.startswith(prefix) and not name.startswith(".") and _is_file(dirpath, name):
                keys.append(key)
    return sorted(keys)


def _folder_of(root: Path, prefix: str) -> Path | None:
    """The folder under ``root`` that holds every key starting with ``prefix``; None for a
    prefix no key could start with (one that names a hidden or parent folder, or a file)."""
    names = prefix.split("/")[:-1]  # the last name may be cut short: its folder is walked
    if any(name in ("", ".", "..") or name.startswith(".") for name in names):
        return None
    folder = root.joinpath(*names)
    # A symlink in the way would lead out of the root.
    if not folder.is_dir() or not folder.resolve().is_relative_to(root.resolve()):
        return None
    return folder


def _is_file(dirpath: str, name: str) -> bool:
    return os.path.isfile(os.path.join(dirpath, name))


def _remove_empty_dirs(root: Path, folder: Path | None) -> None:
    """Drop the folders a delete under ``folder`` left empty, it and its parents included (never
    the root, nor hidden folders: a folder an upload is being made in is empty for a moment)."""
    if folder is None:
        return
    _remove_empty_below(folder)
    remove_empty_folders(folder, up_to=root)


def _remove_empty_below(folder: Path) -> None:
    below: list[Path] = []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        below = [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
    for sub in below:
        if not sub.name.startswith("."):
            _remove_empty_below(sub)
            with contextlib.suppress(OSError):
                sub.rmdir()


# Where a run's scratch folder shares the data folder's disk (the local runner puts it there),
# a step's copy of a film and the stored one are the same bytes twice over, and copying them
# costs as long as reading the film: a rename or a hard link costs neither.


def _renamed(local_path: Path, target: Path) -> bool:
    """Move ``local_path`` to ``target`` in one step (atomic for readers); False where they lie
    on different disks."""
    try:
        os.replace(local_path, target)
    except OSError as error:
        if error.errno == errno.EXDEV:
            return False
        raise
    return True


def _linked(source: Path, target: Path) -> bool:
    """Make ``target`` a hard link to ``source``; False where the disk cannot (another disk,
    a filesystem without hard links)."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".link-")
    os.close(fd)
    os.unlink(tmp_name)
    try:
        os.link(source, tmp_name)
    except OSError:
        return False
    try:
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return True
