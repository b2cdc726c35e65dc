"""Tiny random-weight models, written once per session by ``stereo-spot models tiny``.

They have the real architectures and folder layouts (docs/MODELS.md), so the engines' real
loading and inference code runs on them; they paint noise, so tests pin shapes, counts, masks
and error sentences, never picture quality.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
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


@pytest.fixture
def upload_weights(moto_endpoint: str) -> Callable[[Path, str], str]:
    """Upload a weights folder under a prefix of a fresh moto bucket; returns its s3:// URI."""
    import boto3

    client = boto3.client("s3")
    bucket = f"weights-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)

    def upload(folder: Path, prefix: str) -> str:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                client.upload_file(str(file), bucket, f"{prefix}/{file.relative_to(folder)}")
        # The S3 console's "create folder" leaves an empty key ending in "/": not a file to fetch.
        client.put_object(Bucket=bucket, Key=f"{prefix}/", Body=b"")
        return f"s3://{bucket}/{prefix}"

    return upload
