"""The depth-anything engine's real loading and inference code on a tiny random-weight model."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from inference_service.engines import engine_from_name
from inference_service.engines.base import StereoEngine
from inference_service.engines.depth_anything import (
    DepthAnythingEngine,
    InverseDepthNormaliser,
)
from inference_service.engines.weights import LearnedEngineOptions
from stereo_spot.domain import Layout, StereoParams
from stereo_spot.errors import EngineError


def frames(count: int, width: int = 64, height: int = 64, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    # A slowly moving picture (no scene cuts), like consecutive video frames.
    return [np.roll(base, shift, axis=1) for shift in range(count)]


@pytest.fixture(scope="module")
def engine(tiny_depth_anything) -> DepthAnythingEngine:
    return DepthAnythingEngine(tiny_depth_anything, LearnedEngineOptions(batch_size=3))


def test_engine_from_name_builds_it_from_the_weights_folder(tiny_depth_anything, monkeypatch):
    monkeypatch.setenv("STEREO_SPOT_BATCH_SIZE", "2")
    engine = engine_from_name("depth-anything", str(tiny_depth_anything))
    assert isinstance(engine, StereoEngine)
    assert engine.name == "depth-anything"
    assert engine.options.batch_size == 2


def test_depth_anything_runs_without_diffusers_and_stereocrafter_says_it_needs_it(
    tiny_depth_anything, monkeypatch
):
    # A None entry makes ``import diffusers`` fail, as on an image built without it.
    monkeypatch.setitem(sys.modules, "diffusers", None)
    engine = engine_from_name("depth-anything", str(tiny_depth_anything))
    assert len(list(engine.convert(frames(2), Layout.ANAGLYPH, StereoParams()))) == 2
    with pytest.raises(
        EngineError, match=r"stereocrafter engine needs diffusers.*stereo-spot\[ml\]"
    ):
        engine_from_name("stereocrafter", str(tiny_depth_anything))


@pytest.mark.parametrize("layout", list(Layout))
def test_every_layout_gets_one_packed_frame_per_input_frame(engine, layout):
    out = list(engine.convert(frames(7, 64, 48), layout, StereoParams()))
    assert len(out) == 7
    for frame in out:
        assert frame.dtype == np.uint8
        assert frame.shape == (*layout.output_size(64, 48)[::-1], 3)


def test_depth_is_in_unit_range_at_frame_size(engine):
    depths = list(engine.estimate_depth(frames(5, 80, 40)))
    assert len(depths) == 5
    for depth in depths:
        assert depth.shape == (40, 80) and depth.dtype == np.float32
        assert depth.min() >= 0.0 and depth.max() <= 1.0
    assert np.ptp(depths[0]) > 0.05, "the tiny model's depth is not flat"


def test_batching_does_not_change_the_result(tiny_depth_anything):
    clip = frames(7)
    one = DepthAnythingEngine(tiny_depth_anything, LearnedEngineOptions(batch_size=1))
    seven = DepthAnythingEngine(tiny_depth_anything, LearnedEngineOptions(batch_size=7))
    for a, b in zip(one.estimate_depth(clip), seven.estimate_depth(clip), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_each_packed_frame_is_rendered_from_its_own_depth(engine):
    """Every output frame pairs its input frame with that frame's depth, in order (batches of 3
    over 8 frames: a short last batch too)."""
    from stereo_spot.stereo.disparity import disparity_from_depth
    from stereo_spot.stereo.render import render_stereo

    clip, params = frames(8, 64, 48), StereoParams(divergence=8)
    expected = [
        render_stereo(f, disparity_from_depth(d, params, 64), Layout.SBS, upsample=True)
        for f, d in engine.depth_stream(clip)
    ]
    out = list(engine.convert(clip, Layout.SBS, params))
    assert len(out) == len(expected) == 8
    for got, want in zip(out, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(out[0], out[-1]), "the frames differ, so order is checked"


def test_bad_frames_are_rejected_with_a_sentence(engine):
    with pytest.raises(EngineError, match="every frame of a stream must have the same size"):
        list(engine.convert([frames(1)[0], frames(1, 32, 32)[0]], Layout.SBS, StereoParams()))


def test_normalisation_ignores_the_model_scale_and_single_frame_outliers():
    rng = np.random.default_rng(1)
    inverse = [rng.random((32, 32)).astype(np.float32) for _ in range(12)]
    pictures = frames(12, 32, 32)
    plain = InverseDepthNormaliser().normalise_batch(inverse, pictures)
    # Depth Anything's output is relative: a different overall scale maps to the same depth.
    scaled = InverseDepthNormaliser().normalise_batch([4.0 * d for d in inverse], pictures)
    for a, b in zip(plain, scaled, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # One frame with a wild range moves the mapping of its neighbours only a little (no
    # per-frame min/max flicker).
    spiked = list(inverse)
    spiked[6] = spiked[6] * 5.0
    out = InverseDepthNormaliser().normalise_batch(spiked, pictures)
    assert np.abs(out[7] - plain[7]).mean() < 0.1


def test_right_views_are_the_right_eyes_of_the_side_by_side_frames(engine):
    clip, params = frames(5, 64, 48), StereoParams(divergence=6)
    rights = list(engine.right_views(clip, params))
    packed = list(engine.convert(clip, Layout.SBS, params))
    assert len(rights) == 5
    assert all(np.array_equal(r, p[:, 64:]) for r, p in zip(rights, packed, strict=True))
