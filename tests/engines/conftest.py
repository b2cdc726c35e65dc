"""Tiny random-weight models, written once per session by ``stereo-spot models tiny``.

They have the real architectures and folder layouts (docs/MODELS.md), so the engines' real
loading and inference code runs on them; they paint noise, so tests pin shapes, counts, masks
and error sentences, never picture quality.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stereo_spot.cli import main


def write_tiny(folder: Path, engine: str, *extra: str) -> Path:
    assert main(["models", "tiny", str(folder), "--engine", engine, *extra]) == 0
    return folder


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="session")
def tiny_depth_anything(tiny_models: Path) -> Path:
    return write_tiny(tiny_models / "depth-anything", "depth-anything")


@pytest.fixture(scope="session")
def tiny_stereocrafter(tiny_models: Path) -> Path:
    return write_tiny(tiny_models / "stereocrafter", "stereocrafter")


@pytest.fixture(scope="session")
def tiny_stereocrafter_depthcrafter(tiny_models: Path) -> Path:
    return write_tiny(tiny_models / "stereocrafter-dc", "stereocrafter", "--depthcrafter")
