"""A disk that fills up: the data folder on a small real filesystem (tmpfs), as a long film on a
laptop meets it. The command says which disk, how much is left and what to do, in one sentence,
and leaves nothing half made; the job says the same.

Mounting a filesystem needs root (CAP_SYS_ADMIN), as CI and the development machines run; where
that is refused these tests are skipped, saying why.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from stereo_spot.domain import JobStatus
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from
from tests.media import make_clip

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


class SmallDisk:
    """A tmpfs mounted at ``path``, of a size the test sets (and may change while mounted)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mount(self, size_bytes: int) -> None:
        self._mount("size=" + str(size_bytes), "tmpfs", str(self.path))

    def resize(self, size_bytes: int) -> None:
        self._mount(f"remount,size={size_bytes}", str(self.path))

    @staticmethod
    def _mount(options: str, *where: str) -> None:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, *where], capture_output=True)
        if done.returncode:
            pytest.skip(f"a small disk cannot be mounted here: {done.stderr.decode().strip()}")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    disk = SmallDisk(mount_point)
    yield disk
    subprocess.run(["umount", "--lazy", str(mount_point)], capture_output=True)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    # Lossless: megabytes from a short clip, so a few of them fill the disk.
    return make_clip(
        tmp_path / "film.mp4", seconds=2, size="640x360",
        video_args=("-c:v", "libx264", "-qp", "0", "-g", "12"),
    )  # fmt: skip


def convert(clip: Path, output: Path, data_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "STEREO_SPOT_BACKEND": "local", "STEREO_SPOT_DATA_DIR": str(data_dir)}
    return subprocess.run(
        ["stereo-spot", "convert", str(clip), "-o", str(output), "--segment-seconds", "0.5",
         *extra],
        env=env, capture_output=True, text=True, timeout=200,
    )  # fmt: skip


def test_a_disk_that_fills_while_splitting_says_so_and_the_video_converts_once_there_is_room(
    small_disk, clip, tmp_path
):
    # Room to store the film, not to split it as well.
    size = clip.stat().st_size
    small_disk.mount(int(size * 1.5) + 2**18)
    data_dir = small_disk.path / "data"
    output = tmp_path / "film_3d.mp4"

    run = convert(clip, output, data_dir)

    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    scratch_root = f"in {data_dir}/runs/"
    assert last.startswith("stereo-spot: Splitting the video ran out of disk space "), last
    assert scratch_root in last, "the folder on the disk that filled, not the source's"
    assert last.endswith(
        "left). Converting a video takes free room of about 8 times its size where it runs: "
        "free some, then convert the video again."
    ), last
    assert "note: the data folder" in run.stderr and "takes up to about" in run.stderr
    (job,) = job_store_from(Settings(backend="local", data_dir=data_dir)).list_all()
    assert job.status is JobStatus.FAILED
    assert f"stereo-spot: {job.error}" == last, "the job's page says the same"
    assert not output.exists() and not list(tmp_path.glob(".film_3d.mp4.*"))
    assert not list((data_dir / "runs").rglob("*.mp4")), "its scratch files went with the run"

    small_disk.resize(size * 8 + 8 * 2**20)
    again = convert(clip, output, data_dir)
    assert again.returncode == 0, again.stderr
    assert "note: the data folder" not in again.stderr


def test_a_video_the_data_folder_cannot_hold_is_refused_before_anything_is_written(
    small_disk, clip, tmp_path
):
    small_disk.mount(clip.stat().st_size // 2)
    data_dir = small_disk.path / "data"

    run = convert(clip, tmp_path / "film_3d.mp4", data_dir)

    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("stereo-spot: film.mp4 (") and (
        f"does not fit in the data folder {data_dir}: its disk has " in last
    ), last
    assert last.endswith("Free some space, or convert with --data-dir on a larger disk."), last
    assert job_store_from(Settings(backend="local", data_dir=data_dir)).list_all() == []
    assert not list((data_dir / "media").rglob("*")), "nothing stored"
