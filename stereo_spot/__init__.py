"""Stereo-Spot: turn 2D video into stereoscopic 3D.

The core every deployable shares: domain models (:mod:`stereo_spot.domain`), object keys
(:mod:`stereo_spot.keys`), the storage and job-store ports with their adapters, ffmpeg media
helpers (:mod:`stereo_spot.media`), the stereo view-synthesis maths (:mod:`stereo_spot.stereo`),
settings and the ``stereo-spot`` command line.
"""

__version__ = "0.1.0"
