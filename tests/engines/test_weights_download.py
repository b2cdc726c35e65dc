"""Downloading weights into the model cache when a download before it was killed part-way
(moto server, real boto3 clients, real processes killed as a pod's eviction kills them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from inference_service.engines.weights import download_folder, download_weights

PREFIX = "models/big/v1"
# Large enough that a download is still writing when the test looks (moto serves ~100 MB/s).
BIG = 64 * 1024**2

_DOWNLOAD = """
import sys
from pathlib import Path
from inference_service.engines.weights import download_weights
download_weights(sys.argv[1], Path(sys.argv[2]))
"""

# What a model server downloading into the folder holds, with the download code's own lock.
_DOWNLOADING = """
import sys, time
from pathlib import Path
from inference_service.engines.weights import downloading_into
folder = Path(sys.argv[1])
with downloading_into(folder):
    (folder / ".download-being-written").write_bytes(b"half a tensor")
    print("downloading", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def weights_uri(moto_endpoint: str) -> str:
    import boto3

    client = boto3.client("s3")
    bucket = f"weights-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key=f"{PREFIX}/config.json", Body=b"{}")
    client.put_object(Bucket=bucket, Key=f"{PREFIX}/model.safetensors", Body=os.urandom(BIG))
    return f"s3://{bucket}/{PREFIX}"


def temporaries(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.rglob(".download-*"))


def test_a_download_killed_part_way_leaves_nothing_behind_once_the_next_one_runs(
    weights_uri, tmp_path
):
    cache = tmp_path / "model-cache"
    folder = download_folder(weights_uri, cache)
    downloader = subprocess.Popen([sys.executable, "-c", _DOWNLOAD, weights_uri, str(cache)])
    try:
        deadline = time.monotonic() + 60
        while not _half_written(folder):
            assert downloader.poll() is None, "the download ended before it could be killed"
            assert time.monotonic() < deadline, "the download never started writing"
            time.sleep(0.005)
    finally:
        downloader.kill()  # SIGKILL: as an evicted pod's or the OOM killer's, no clean-up runs
        downloader.wait()
    assert temporaries(folder), "a killed download leaves its temporary file"

    assert download_weights(weights_uri, cache) == folder

    assert temporaries(folder) == []
    assert (folder / "model.safetensors").stat().st_size == BIG
    assert (folder / "config.json").read_bytes() == b"{}"


def test_a_download_still_running_keeps_its_temporary_file(weights_uri, tmp_path):
    cache = tmp_path / "model-cache"
    folder = download_folder(weights_uri, cache)
    with _downloading_elsewhere(folder) as other:
        download_weights(weights_uri, cache)
        assert temporaries(folder) == [".download-being-written"], "not deleted under its writer"
        assert (folder / "model.safetensors").stat().st_size == BIG
        other.kill()
        other.wait()
    # Its writer gone, the file is a leftover like any other.
    download_weights(weights_uri, cache)
    assert temporaries(folder) == []


def _half_written(folder: Path) -> bool:
    """Whether a download has written part of the big file under its temporary name yet. (Not
    of config.json, whose two bytes are renamed into place at once: a kill that came just after
    that rename, before the big file's temporary existed, left none, under load in CI.)"""
    for path in folder.rglob(".download-*"):
        try:
            if path.stat().st_size > 1024**2:
                return True
        except FileNotFoundError:  # renamed into place as it was listed
            continue
    return False


@contextmanager
def _downloading_elsewhere(folder: Path) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(
        [sys.executable, "-c", _DOWNLOADING, str(folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "downloading"
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait()
