"""Thread pools are sized from the CPUs a process may use: its affinity and its cgroup's quota
(a pod's CPU limit), not every core of the node."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stereo_spot.cpus import (
    decoder_threads,
    encoder_threads,
    has_avx512,
    usable_cpus,
    x265_threads,
)

# The CPUs this test may run on (macOS has no affinity call; every core counts there).
AFFINITY = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _v2(root: Path, cpu_max: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpu.max").write_text(cpu_max + "\n")
    return root


def _v1(root: Path, quota_us: int, period_us: int = 100000, folder: str = "cpu") -> Path:
    (root / folder).mkdir(parents=True)
    (root / folder / "cpu.cfs_quota_us").write_text(f"{quota_us}\n")
    (root / folder / "cpu.cfs_period_us").write_text(f"{period_us}\n")
    return root


def test_a_cgroup_v2_limit_of_one_cpu_gives_one(tmp_path: Path) -> None:
    assert usable_cpus(_v2(tmp_path, "100000 100000")) == 1


def test_a_fractional_limit_rounds_up(tmp_path: Path) -> None:
    # A 0.5-CPU pod still gets one thread; 1.5 CPUs can keep two busy part of the time.
    assert usable_cpus(_v2(tmp_path / "half", "50000 100000")) == 1
    assert usable_cpus(_v2(tmp_path / "one-and-a-half", "150000 100000")) == min(2, AFFINITY)


def test_no_limit_means_the_affinity(tmp_path: Path) -> None:
    assert usable_cpus(_v2(tmp_path / "v2", "max 100000")) == AFFINITY
    assert usable_cpus(_v1(tmp_path / "v1", -1)) == AFFINITY
    assert usable_cpus(tmp_path / "no-cgroup-files") == AFFINITY


def test_a_limit_above_the_affinity_keeps_the_affinity(tmp_path: Path) -> None:
    assert usable_cpus(_v2(tmp_path, "6400000 100000")) == AFFINITY


@pytest.mark.parametrize("folder", ["cpu", "cpu,cpuacct"])
def test_cgroup_v1_quota_is_read_too(tmp_path: Path, folder: str) -> None:
    assert usable_cpus(_v1(tmp_path, 100000, folder=folder)) == 1


def test_unreadable_cgroup_files_fall_back_to_the_affinity(tmp_path: Path) -> None:
    assert usable_cpus(_v2(tmp_path, "garbage")) == AFFINITY


def test_codec_thread_counts_follow_the_libraries_own_rules() -> None:
    # x264: 1.5 frame threads a CPU; libavcodec's decoders: a thread a CPU plus one, at most 16.
    assert [encoder_threads(n) for n in (1, 2, 4, 16)] == [1, 3, 6, 24]
    assert [decoder_threads(n) for n in (1, 2, 4, 16, 64)] == [1, 3, 5, 16, 16]
    # x265: a pool of the CPUs, frame threads by its own steps (x265 ignores libavcodec's).
    assert [x265_threads(n) for n in (1, 2, 4, 8, 16)] == [
        "pools=1:frame-threads=1",
        "pools=2:frame-threads=1",
        "pools=4:frame-threads=2",
        "pools=8:frame-threads=3",
        "pools=16:frame-threads=4",
    ]


def _environment_after_import(**preset: str) -> dict[str, str]:
    names = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY")
    env = {k: v for k, v in os.environ.items() if k not in names} | preset
    script = f"import os, stereo_spot; print(*(os.environ[n] for n in {names!r}))"
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    return dict(zip(names, out.stdout.split(), strict=True))


def test_importing_the_package_sizes_the_thread_pools_and_lets_them_sleep() -> None:
    assert _environment_after_import() == {
        "NUMBA_NUM_THREADS": str(usable_cpus()),
        "OMP_NUM_THREADS": str(usable_cpus()),
        "OMP_WAIT_POLICY": "PASSIVE",
    }


def test_a_users_thread_settings_win() -> None:
    preset = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "ACTIVE"}
    assert _environment_after_import(**preset) == preset


def test_avx512_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    with_it, without = tmp_path / "with", tmp_path / "without"
    with_it.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512_vnni_like\n")
    assert has_avx512(with_it) and not has_avx512(without)
    assert not has_avx512(tmp_path / "missing"), "no /proc/cpuinfo (not Linux): none assumed"
