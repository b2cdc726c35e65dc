"""Stereo-Spot: turn 2D video into stereoscopic 3D.

The core every deployable shares: domain models (:mod:`stereo_spot.domain`), object keys
(:mod:`stereo_spot.keys`), the storage and job-store ports with their adapters, ffmpeg media
helpers (:mod:`stereo_spot.media`), the stereo view-synthesis maths (:mod:`stereo_spot.stereo`),
settings and the ``stereo-spot`` command line.
"""

import os

__version__ = "0.1.0"

# The segment conversion calls numba's parallel kernels from several threads at once (the
# engine's kernels and the encoder's colour conversion run in overlapping threads). numba's
# fallback "workqueue" layer aborts the process when that happens, so ask for a thread-safe one
# (OpenMP through libgomp, which the ffmpeg packages bring, or TBB): without one the first kernel
# fails with numba's own message instead. Set before numba is imported; a user's value wins.
os.environ.setdefault("NUMBA_THREADING_LAYER", "threadsafe")
