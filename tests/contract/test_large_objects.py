"""A source video of hundreds of MB goes through S3Storage without being held in memory.

Memory, not time, is asserted: the process's peak resident size while uploading and downloading a
300 MB object through moto server stays within a bound set by the multipart chunk settings
(``stereo_spot.storage.s3.TRANSFER_CONFIG``: 4 parts of 16 MiB in flight), far below the object.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.large

OBJECT_BYTES = 300 * 1024**2
MAX_GROWTH_BYTES = 150 * 1024**2


def _write_random_file(path: Path, size: int) -> str:
    """Incompressible content written 8 MiB at a time; returns its sha256."""
    digest = hashlib.sha256()
    block = os.urandom(8 * 1024**2)
    with path.open("wb") as out:
        written = 0
        while written < size:
            # Vary each block cheaply so no two parts are identical.
            chunk = written.to_bytes(8, "little") + block[8 : min(len(block), size - written)]
            out.write(chunk)
            digest.update(chunk)
            written += len(chunk)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(8 * 1024**2):
            digest.update(chunk)
    return digest.hexdigest()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """Peak resident size while inside the block: the kernel's high-water mark when it can be reset
    (``/proc/self/clear_refs``), and a 5 ms sampler in any case; the larger of the two counts."""

    def __enter__(self) -> PeakRss:
        self.baseline = _rss_bytes()
        self.sampled = self.baseline
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.sampled = max(self.sampled, _rss_bytes())
            time.sleep(0.005)

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = self.sampled
        if self.hwm_reset:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak = max(self.peak, int(line.split()[1]) * 1024)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_300_mb_object_round_trips_in_bounded_memory(s3_storage, tmp_path: Path) -> None:
    source = tmp_path / "source.mp4"
    expected = _write_random_file(source, OBJECT_BYTES)
    key = "input/largeObjectJob_0123456789/source.mp4"

    with PeakRss() as upload:
        s3_storage.put_file(source, key)
    assert s3_storage.size(key) == OBJECT_BYTES
    source.unlink()  # keep the disk footprint to one copy

    target = tmp_path / "back" / "source.mp4"
    with PeakRss() as download:
        s3_storage.get_file(key, target)

    assert target.stat().st_size == OBJECT_BYTES
    assert _sha256(target) == expected
    mib = 1024**2
    print(
        f"peak RSS growth: upload {upload.growth / mib:.0f} MiB, "
        f"download {download.growth / mib:.0f} MiB for a {OBJECT_BYTES / mib:.0f} MiB object"
    )
    assert upload.growth < MAX_GROWTH_BYTES
    assert download.growth < MAX_GROWTH_BYTES
    s3_storage.delete_prefix("input/largeObjectJob_0123456789/")
