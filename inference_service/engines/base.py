"""The engine port: RGB frames in, packed stereo frames out, streaming.

Every engine (classical, depth-anything, stereocrafter) implements :class:`StereoEngine`; the
KServe model and the CLI only ever talk to this interface.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

import numpy as np

from stereo_spot.domain import Layout, StereoParams


@runtime_checkable
class StereoEngine(Protocol):
    name: str

    def estimate_depth(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Per frame (H x W x 3 uint8 RGB) a float32 H x W depth map in [0, 1], 1 = nearest,
        smoothed over time within the stream."""

    def convert(
        self, frames: Iterable[np.ndarray], layout: Layout, params: StereoParams
    ) -> Iterator[np.ndarray]:
        """Per input frame one packed output frame (uint8 RGB, size ``layout.output_size``)."""

    def right_views(
        self, frames: Iterable[np.ndarray], params: StereoParams
    ) -> Iterator[np.ndarray]:
        """Per input frame its right eye alone (uint8 RGB, the frame's size), exactly as
        ``convert`` packs it beside or below the frame: side-by-side and top-bottom output is
        written from the two eyes without packing them first, the left eye straight from the
        decoded picture."""
