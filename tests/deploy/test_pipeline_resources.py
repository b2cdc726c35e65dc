"""What the compiled pipeline asks of the cluster for the chunk step, whose mezzanine transcode
sizes its threads, and so its memory, from the CPUs its pod may use."""

from __future__ import annotations

import os

from pipelines.stereo_pipeline import CHUNK_CPU_LIMIT, CHUNK_MEMORY
from stereo_spot.cpus import encoder_threads, usable_cpus
from tests.deploy.test_manifests import _compiled, _config_map

GIB = 1024**3
# Peak RSS of the mezzanine transcode with 2 CPUs' threads (3 decoder, 3 x264 frame, 2 filter),
# measured with /usr/bin/time -v and ffmpeg 5.1: the largest source Settings accepts by default,
# 7680x4320, HDR (tone-mapped in 32-bit float; SDR took 3.40 GiB), and the step's Python.
MEZZANINE_8K_PEAK = 5.17 * GIB
PYTHON_STEP = 0.13 * GIB


def _quantity(text: str) -> float:
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": GIB}
    return float(text[:-2]) * units[text[-2:]] if text[-2:] in units else float(text)


def test_the_chunk_step_is_limited_to_the_cpus_its_memory_was_measured_with(rendered, tmp_path):
    """The chunk task had a CPU request and no limit: its transcode counted the node's cores
    (24 x264 threads on 16 vCPUs, 2.7 GiB at 4K) past its 2 GiB memory limit, and the pod was
    killed for memory with no reason recorded and no retry."""
    config = _config_map(rendered["aws"], "stereo-spot-config", "stereo-spot")["data"]
    spec, _ = _compiled(tmp_path, config)
    resources = spec["deploymentSpec"]["executors"]["exec-chunk-op"]["container"]["resources"]
    assert resources["resourceCpuLimit"] == CHUNK_CPU_LIMIT == "2"
    assert resources["resourceMemoryLimit"] == resources["resourceMemoryRequest"] == CHUNK_MEMORY
    assert _quantity(CHUNK_MEMORY) > MEZZANINE_8K_PEAK + PYTHON_STEP
    # The reassemble step copies the video; its preview still's decoder threads follow its limit.
    reassemble = spec["deploymentSpec"]["executors"]["exec-reassemble-op"]["container"]
    assert reassemble["resources"]["resourceCpuLimit"] == "2"

    # What that limit looks like from inside the pod (cgroup v2), and the threads it gives.
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "cpu.max").write_text(f"{int(CHUNK_CPU_LIMIT) * 100000} 100000\n")
    affinity = len(os.sched_getaffinity(0))
    assert usable_cpus(cgroup) == min(affinity, 2)
    assert encoder_threads(2) == 3
