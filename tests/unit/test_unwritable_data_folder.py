"""A data folder that cannot be written (a read-only disk) is said to be one, with how to choose
another, rather than the system's "Read-only file system: .../logs"."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from stereo_spot.cli import main


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "read-only"
    folder.mkdir()
    # Root (CI, the development machines) may write anywhere a permission forbids: only a
    # read-only filesystem refuses it.
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode:
        pytest.skip(f"a read-only disk cannot be mounted here: {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", "--lazy", str(folder)], capture_output=True)


@pytest.mark.parametrize("data_dir", [".", "jobs"], ids=["the folder", "a folder in it"])
def test_a_data_folder_on_a_read_only_disk_says_to_choose_another(
    read_only_folder, data_dir, tmp_path, capsys
):
    video = tmp_path / "a.mp4"
    video.write_bytes(b"never read")
    folder = (read_only_folder / data_dir).resolve()

    code = main(["convert", str(video), "--data-dir", str(folder), "-o", str(tmp_path / "o.mp4")])

    assert code == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"stereo-spot: The data folder {folder} cannot be written (Read-only file system); "
        "choose another with --data-dir or STEREO_SPOT_DATA_DIR."
    )


def test_jobs_list_in_a_read_only_data_folder_says_it_cannot_be_written(read_only_folder, capsys):
    assert main(["jobs", "list", "--data-dir", str(read_only_folder)]) == 1
    assert capsys.readouterr().err == (
        f"stereo-spot: The data folder {read_only_folder} cannot be written (its job store "
        "cannot be made or written); choose another with --data-dir or STEREO_SPOT_DATA_DIR.\n"
    )
