"""Weights named by an ``s3://bucket/prefix`` URI: downloaded through the storage port into the
model cache, then loaded like a local folder (moto server, real boto3 clients, real HTTP)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from inference_service.engines import engine_from_name
from inference_service.engines.weights import in_storage_terms
from stereo_spot.domain import Layout, StereoParams
from stereo_spot.errors import EngineError

PREFIX = "models/depth-anything/v1"


@pytest.fixture
def model_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "model-cache"
    monkeypatch.setenv("STEREO_SPOT_MODEL_CACHE", str(cache))
    monkeypatch.setenv("STEREO_SPOT_DEVICE", "cpu")
    return cache


def cached(cache: Path, uri: str) -> Path:
    parsed = urlparse(uri)
    return cache / parsed.netloc / parsed.path.strip("/")


def test_depth_anything_loads_from_an_s3_prefix_and_converts(
    upload_weights, model_cache, tiny_depth_anything
):
    uri = upload_weights(tiny_depth_anything, PREFIX)
    engine = engine_from_name("depth-anything", uri)
    assert engine.folder == cached(model_cache, uri)
    for file in tiny_depth_anything.rglob("*"):
        if file.is_file():
            copy = engine.folder / file.relative_to(tiny_depth_anything)
            assert copy.read_bytes() == file.read_bytes(), copy
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(3)]
    out = list(engine.convert(frames, Layout.SBS, StereoParams()))
    assert [frame.shape for frame in out] == [(48, 128, 3)] * 3


def test_a_second_load_reuses_the_cache(upload_weights, model_cache, tiny_depth_anything):
    uri = upload_weights(tiny_depth_anything, PREFIX) + "/"  # a trailing slash: same prefix
    engine_from_name("depth-anything", uri)
    weights_file = cached(model_cache, uri) / "model.safetensors"
    first = weights_file.stat().st_ino, weights_file.stat().st_mtime_ns
    engine_from_name("depth-anything", uri)
    # Downloads land under a temporary name and are renamed into place: an unchanged inode
    # and mtime mean the file was not fetched again.
    assert (weights_file.stat().st_ino, weights_file.stat().st_mtime_ns) == first


# A string prefix of the real one ("models/depth-any") is not its folder.
@pytest.mark.parametrize("prefix", ["models/depth-anything/v2", "models/depth-any"])
def test_a_prefix_without_weights_fails_with_a_sentence(
    upload_weights, model_cache, tiny_depth_anything, prefix
):
    bucket = urlparse(upload_weights(tiny_depth_anything, PREFIX)).netloc
    uri = f"s3://{bucket}/{prefix}"
    with pytest.raises(EngineError) as failure:
        engine_from_name("depth-anything", uri)
    assert str(failure.value) == f"There are no weights under {uri}; upload the folder there first."
    assert not cached(model_cache, uri).exists()


def test_a_missing_bucket_fails_with_a_sentence(moto_endpoint, model_cache):
    uri = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/{PREFIX}"
    with pytest.raises(
        EngineError,
        match=r"^Downloading the weights from .* failed: The S3 bucket no-such-bucket-\w+ does "
        "not exist at http",
    ):
        engine_from_name("depth-anything", uri)


def test_an_incomplete_upload_is_named_by_its_s3_uri_not_the_cache(
    upload_weights, model_cache, tiny_depth_anything, tmp_path
):
    partial = Path(shutil.copytree(tiny_depth_anything, tmp_path / "partial"))
    (partial / "model.safetensors").unlink()
    uri = upload_weights(partial, PREFIX)
    with pytest.raises(EngineError) as failure:
        engine_from_name("depth-anything", uri)
    assert str(cached(model_cache, uri)) in str(failure.value)
    # What the model server reports (StereoModel.load): the object to upload, not a cache path.
    reason = in_storage_terms(str(failure.value), uri)
    assert reason.startswith(f"{uri}/model.safetensors is missing; ")
    assert str(model_cache) not in reason
