"""A disk that fills up: the data folder on a small real filesystem (tmpfs), as a long film on a
laptop meets it. The command says which disk, how much is left and what to do, in one sentence,
and leaves nothing half made; the job says the same.

Mounting a filesystem needs root (CAP_SYS_ADMIN), as CI and the development machines run; where
that is refused these tests are skipped, saying why.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from stereo_spot.disk_space import DiskFull
from stereo_spot.domain import Job, JobStatus
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


def test_a_disk_that_fills_midway_ends_with_the_folder_that_filled_not_a_traceback(
    small_disk, tmp_path
):
    # A 10 s 640x360 film, which stores, then fills the disk as it is split (1.4 MB): the job
    # store there could not even be read, and the command ended with a traceback, or a bare "No
    # space left on device". (A disk that fills as a segment is converted, 3 MB, ends the same
    # way alone, but failed once beside the fault tests and is left out until that is known.)
    disk_size = 1400 * 1024
    film = make_clip(tmp_path / "long.mp4", seconds=10, size="640x360")
    small_disk.mount(disk_size)
    data_dir = small_disk.path / "data"

    run = convert(film, tmp_path / "out.mp4", data_dir, "--layout", "sbs")

    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    # What filled it: a step's scratch folder, or the job store (which a full disk stops first).
    folder = re.escape(str(data_dir))
    assert re.fullmatch(
        rf"stereo-spot: .+ ran out of disk space in {folder}/\S+ \(\d+\.\d MiB left\)\. "
        r".+: free some, then convert the video again\.",
        last,
    ) or re.fullmatch(
        rf"stereo-spot: The job store in {folder} cannot be read or written: its disk is full "
        r"\(\d+\.\d MiB left\)\. Free some space there, .+\.",
        last,
    ), last
    listed = subprocess.run(
        ["stereo-spot", "jobs", "list", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    status = listed.stdout.split()[1]
    assert status in ("failed", "stopped"), "failed where the store had room, else resumable"
    if status == "failed":
        (job,) = job_store_from(Settings(backend="local", data_dir=data_dir)).list_all()
        assert f"stereo-spot: {job.error}" == last, "the job says the same"


def test_a_job_store_on_a_full_disk_is_said_to_be_full(small_disk, tmp_path):
    small_disk.mount(1000 * 1024)
    data_dir = small_disk.path / "data"
    job_store_from(Settings(backend="local", data_dir=data_dir)).create(Job(source_name="a.mp4"))
    # SQLite's shared index is made anew by the next reader: with no room it cannot read.
    subprocess.run(["dd", "if=/dev/zero", f"of={small_disk.path / 'filler'}", "bs=4k"],
                   capture_output=True)  # fmt: skip

    listed = subprocess.run(
        ["stereo-spot", "jobs", "list", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert listed.returncode == 1
    assert listed.stderr == (
        f"stereo-spot: The job store in {data_dir} cannot be read or written: its disk is full "
        "(0.0 MiB left). Free some space there, or convert with --data-dir on a larger disk.\n"
    )


def test_the_portal_on_a_full_disk_answers_503_saying_so(small_disk):
    from fastapi.testclient import TestClient

    from portal.app import create_app

    small_disk.mount(1000 * 1024)
    data_dir = small_disk.path / "data"
    settings = Settings(backend="local", data_dir=data_dir)
    job_store_from(settings).create(Job(source_name="a.mp4"))
    with TestClient(create_app(settings)) as client:
        subprocess.run(["dd", "if=/dev/zero", f"of={small_disk.path / 'filler'}", "bs=4k"],
                       capture_output=True)  # fmt: skip

        listed = client.get("/api/jobs")

    assert listed.status_code == 503
    assert listed.json() == {
        "detail": f"The job store in {data_dir} cannot be read or written: its disk is full "
        "(0.0 MiB left). Free some space there, or convert with --data-dir on a larger disk."
    }


def test_a_step_whose_job_store_stops_on_the_disk_it_filled_names_its_own_work(
    small_disk, monkeypatch
):
    # The local job store shares the disk a step's scratch fills: which stopped first was
    # chance, and the run said "The job store ... cannot be read or written" about a split.
    import tempfile

    from stereo_spot.disk_space import full_disk_said
    from stereo_spot.jobs.sqlite import SqliteJobStore

    small_disk.mount(1000 * 1024)
    jobs = SqliteJobStore(small_disk.path / "data" / "jobs.sqlite3")
    job = jobs.create(Job(source_name="a.mp4"))
    scratch = small_disk.path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    subprocess.run(["dd", "if=/dev/zero", f"of={scratch / 'segment.mp4'}", "bs=4k"],
                   capture_output=True)  # fmt: skip

    with pytest.raises(DiskFull) as raised, full_disk_said("Splitting the video"):
        jobs.update(job.job_id, chunk_progress=0.5)

    assert str(raised.value).startswith(
        f"Splitting the video ran out of disk space in {scratch} (0.0 MiB left)."
    ), raised.value
