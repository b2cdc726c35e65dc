"""Local filesystem storage: objects are files under one root directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from stereo_spot.errors import ObjectNotFound
from stereo_spot.keys import parse_uri, validate_key


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        path = (self.root / validate_key(key)).resolve()
        # validate_key already refuses '..'; this guards against symlinks pointing out of the root.
        if not path.is_relative_to(self.root):
            raise ObjectNotFound(f"'{key}' lies outside the storage root.")
        return path

    def put_file(self, local_path: Path, key: str, content_type: str = "video/mp4") -> None:
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Copy to a temporary name in the same directory, then rename: readers never see half a file.
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        os.close(fd)
        try:
            shutil.copyfile(local_path, tmp_name)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def get_file(self, key: str, local_path: Path) -> Path:
        source = self.path_for(key)
        if not source.is_file():
            raise ObjectNotFound(f"There is no object at '{key}'.")
        local_path = Path(local_path)
        local_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, local_path)
        return local_path

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def size(self, key: str) -> int:
        path = self.path_for(key)
        if not path.is_file():
            raise ObjectNotFound(f"There is no object at '{key}'.")
        return path.stat().st_size

    def list_prefix(self, prefix: str) -> list[str]:
        keys = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(".upload-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list_prefix(prefix)
        for key in keys:
            self.path_for(key).unlink(missing_ok=True)
        _remove_empty_dirs(self.root)
        return len(keys)

    def uri_for(self, key: str) -> str:
        return self.path_for(key).as_uri()

    def key_from_uri(self, uri: str) -> str:
        return parse_uri(uri, local_root=str(self.root)).key


def _remove_empty_dirs(root: Path) -> None:
    for dirpath, _dirnames, _filenames in os.walk(root, topdown=False):
        path = Path(dirpath)
        if path != root:
            try:
                path.rmdir()
            except OSError:
                pass
