"""Fixtures for the stereo unit tests: the Middlebury motorcycle pair shipped in scikit-image."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest


def motorcycle_dir() -> Path:
    spec = importlib.util.find_spec("skimage")
    return Path(spec.submodule_search_locations[0]) / "data"


@pytest.fixture(scope="session")
def motorcycle() -> dict[str, np.ndarray]:
    """Left and right RGB images and the true disparity of the left image (inf = unknown)."""
    folder = motorcycle_dir()

    def rgb(name: str) -> np.ndarray:
        return cv2.cvtColor(cv2.imread(str(folder / name)), cv2.COLOR_BGR2RGB)

    return {
        "left": rgb("motorcycle_left.png"),
        "right": rgb("motorcycle_right.png"),
        "disparity": np.load(folder / "motorcycle_disp.npz")["arr_0"],
    }
