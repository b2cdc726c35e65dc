"""How many CPUs this process may really use, for sizing its thread pools, and what they can do.

A pod limited to 2 CPUs on a 16-core node still sees 16 cores: the limit is a CFS quota in its
cgroup, not an affinity mask. numba and x264 size their pools from the cores they see, so there
they would start 16 and 24 threads that take turns on 2 CPUs' worth of time, and x264's frame
threads each hold their own frames (measured: 1.36 GB for 24 threads at 3840 x 1080 against 0.5 GB
for 3), enough to break a 2 GiB pod's memory limit.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
CPUINFO = Path("/proc/cpuinfo")


def _quota_cpus(root: Path) -> float | None:
    """CPUs allowed by the cgroup's CFS quota (v2 ``cpu.max``, else v1), None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    for folder in (root / "cpu", root / "cpu,cpuacct"):
        try:
            quota_us = int((folder / "cpu.cfs_quota_us").read_text())
            period_us = int((folder / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
    return None


def usable_cpus(cgroup_root: Path | None = None) -> int:
    """The CPUs this process may run on (its affinity), capped by its cgroup's CPU quota rounded
    up (a 1.5-CPU limit can keep two threads busy part of the time); at least 1. The cgroup's
    files are read under ``cgroup_root``, else under :data:`CGROUP_ROOT` as it is at the call."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    quota = _quota_cpus(CGROUP_ROOT if cgroup_root is None else cgroup_root)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def decoder_threads(cpus: int | None = None) -> int:
    """libavcodec's automatic decoder thread count (one a CPU plus one, at most 16), applied
    to the CPUs we may use."""
    cpus = usable_cpus() if cpus is None else cpus
    return 1 if cpus <= 1 else min(cpus + 1, 16)


def encoder_threads(cpus: int | None = None) -> int:
    """x264's frame-thread count for ``cpus`` usable CPUs: its own automatic rule (1.5 threads a
    CPU, so one frame's start overlaps another's end) applied to the CPUs we may use rather than
    to every core the machine shows."""
    cpus = usable_cpus() if cpus is None else cpus
    return max(1, cpus * 3 // 2)


def x265_threads(cpus: int | None = None) -> str:
    """x265's thread settings for ``cpus`` usable CPUs, as ``x265-params``: a worker pool of
    that size (x265 otherwise sizes it from every core it sees, and ignores libavcodec's thread
    count) and its own automatic frame-thread rule applied to that count."""
    cpus = usable_cpus() if cpus is None else cpus
    frames = 4 if cpus >= 16 else 3 if cpus >= 8 else 2 if cpus >= 4 else 1
    return f"pools={cpus}:frame-threads={frames}"


@functools.cache
def has_avx512(cpuinfo: Path = CPUINFO) -> bool:
    """Whether the CPU has AVX-512 (its foundation instructions, ``avx512f`` among the flags
    /proc/cpuinfo lists); False where that file cannot be read (not Linux)."""
    try:
        with cpuinfo.open() as lines:
            flags = next((line for line in lines if line.startswith("flags")), "")
    except OSError:
        return False
    return "avx512f" in flags.split()
