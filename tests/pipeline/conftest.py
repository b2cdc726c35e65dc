"""The embedded stack for pipeline tests: one data dir and one real model server per session."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from inference_service.launcher import running_model_server
from stereo_spot.settings import Settings


@dataclass
class Embedded:
    data_dir: Path
    model_url: str

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "STEREO_SPOT_DATA_DIR": str(self.data_dir),
            "STEREO_SPOT_MODEL_URL": self.model_url,
            "STEREO_SPOT_BACKEND": "local",
        }

    def convert(self, source: Path, output: Path, *args: str) -> subprocess.CompletedProcess:
        """``stereo-spot convert`` as a user runs it, against the shared model server."""
        return subprocess.run(
            ["stereo-spot", "convert", str(source), "-o", str(output), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def stereo_spot(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["stereo-spot", *args], env=self.env, capture_output=True, text=True, timeout=120
        )


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    data_dir = tmp_path_factory.mktemp("stereo-spot-data")
    settings = Settings(data_dir=data_dir, backend="local")
    with running_model_server(settings) as url:
        yield Embedded(data_dir=data_dir, model_url=url)
