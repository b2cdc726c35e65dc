"""Stereo-Spot: turn 2D video into stereoscopic 3D.

The core every deployable shares: domain models (:mod:`stereo_spot.domain`), object keys
(:mod:`stereo_spot.keys`), the storage and job-store ports with their adapters, ffmpeg media
helpers (:mod:`stereo_spot.media`), the stereo view-synthesis maths (:mod:`stereo_spot.stereo`),
settings and the ``stereo-spot`` command line.
"""

import os

from stereo_spot.cpus import usable_cpus
from stereo_spot.kernel_cache import kernel_cache_dir

__version__ = "0.1.0"

# The segment conversion calls numba's parallel kernels from several threads at once (the
# engine's kernels and the encoder's colour conversion run in overlapping threads). numba's
# fallback "workqueue" layer aborts the process when that happens, so ask for a thread-safe one
# (OpenMP through libgomp, which the ffmpeg packages bring, or TBB): without one the first kernel
# fails with numba's own message instead. Set before numba is imported; a user's value wins.
os.environ.setdefault("NUMBA_THREADING_LAYER", "threadsafe")
# libgomp's threads spin for a while after each parallel kernel before they sleep. Here they spin
# on cores that the decoder and x264 need (a kernel runs several times a frame): a 720p segment
# with no engine work at all went from 0.64 to 0.73 of a plain ffmpeg re-encode's speed once
# they sleep at once; the classical engine's and torch's own speeds did not change (BENCHMARKS).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# numba, and every OpenMP pool (torch's, OpenBLAS's), start a thread per core they see; in a pod
# with a CPU limit that is every core of the node (stereo_spot.cpus).
_cpus = str(usable_cpus())
os.environ.setdefault("NUMBA_NUM_THREADS", _cpus)
os.environ.setdefault("OMP_NUM_THREADS", _cpus)
# numba's own cache location is not writable in the model server's pod, and goes stale when a
# kernel inlined from another file changes (stereo_spot.kernel_cache).
if "NUMBA_CACHE_DIR" not in os.environ:
    _cache = kernel_cache_dir()
    if _cache is not None:
        os.environ["NUMBA_CACHE_DIR"] = str(_cache)
