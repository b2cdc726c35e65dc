"""The stereocrafter engine's real loading and inference code on tiny random-weight models."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

import itertools

from inference_service.engines import engine_from_name
from inference_service.engines import stereocrafter as sc
from inference_service.engines.weights import LearnedEngineOptions
from stereo_spot.domain import Layout, StereoParams
from stereo_spot.errors import EngineError

OPTIONS = LearnedEngineOptions(
    batch_size=4, diffusion_steps=1, window_frames=4, window_overlap=1, tile_size=64
)


def frames(count: int, width: int = 64, height: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    return [np.roll(base, shift, axis=1) for shift in range(count)]


@pytest.fixture(scope="module")
def engine(tiny_stereocrafter) -> sc.StereoCrafterEngine:
    return sc.StereoCrafterEngine(tiny_stereocrafter, OPTIONS)


@pytest.mark.parametrize("layout", [Layout.SBS, Layout.HALF_TAB, Layout.ANAGLYPH])
def test_one_packed_frame_per_input_frame_across_windows(engine, layout):
    # 6 frames in 4-frame windows overlapping by 1: two windows, the second one short.
    out = list(engine.convert(frames(6, 64, 48), layout, StereoParams(divergence=6)))
    assert len(out) == 6
    for frame in out:
        assert frame.dtype == np.uint8
        assert frame.shape == (*layout.output_size(64, 48)[::-1], 3)


def test_depthcrafter_weights_give_the_video_depth(tiny_stereocrafter_depthcrafter):
    engine = sc.StereoCrafterEngine(tiny_stereocrafter_depthcrafter, OPTIONS)
    assert engine.depth_unet is not None and engine.depth_engine is None
    depths = list(engine.estimate_depth(frames(5, 64, 48)))
    assert len(depths) == 5
    assert all(d.shape == (48, 64) and d.min() >= 0 and d.max() <= 1 for d in depths)
    out = list(engine.convert(frames(5, 64, 48), Layout.SBS, StereoParams(divergence=6)))
    assert len(out) == 5 and out[0].shape == (48, 128, 3)


def test_frames_larger_than_a_tile_are_painted_in_tiles(engine):
    rights = frames(2, 96, 80)
    holes = [np.zeros((80, 96), bool) for _ in rights]
    holes[0][10:20, 5:15] = True  # only in the first tile
    painted = engine.inpaint_window(rights, holes)
    assert [p.shape for p in painted] == [(80, 96, 3)] * 2
    # Far from every hole and tile seam the tile was not painted: the warped pixels come back.
    np.testing.assert_allclose(painted[1][60:, 80:], rights[1][60:, 80:], atol=1e-3)


def test_the_occlusion_mask_marks_the_holes_the_splat_left():
    frame = np.full((32, 64, 3), 100, np.uint8)
    disparity = np.zeros((32, 64), np.float32)
    disparity[8:24, 24:40] = 6.0  # a near square: moves 6 px left in the right eye
    right, holes = sc.splat_with_mask(frame, disparity)
    assert right.shape == frame.shape and holes.dtype == bool
    # Disoccluded: the 6 columns right of the square's new position, on its rows only.
    assert holes[8:24, 34:40].all()
    assert not holes[:8].any() and not holes[24:].any()
    assert not holes[8:24, :34].any() and not holes[8:24, 40:].any()


def test_converted_right_view_keeps_the_splat_outside_the_holes(engine):
    clip = frames(4)
    params = StereoParams(divergence=8)
    packed = list(engine.convert(clip, Layout.SBS, params))
    depth = next(iter(engine.depth_stream(clip)))[1]
    from stereo_spot.stereo.disparity import disparity_from_depth

    disparity = disparity_from_depth(depth, params, 64)  # at the depth's size, as the engine
    right, holes = sc.splat_with_mask(clip[0], disparity)
    np.testing.assert_array_equal(packed[0][:, 64:][~holes], right[~holes])
    np.testing.assert_array_equal(packed[0][:, :64], clip[0])


def test_windows_overlap_and_cross_fade():
    calls = []

    def run(window):
        calls.append(list(window))
        return [np.full(1, float(len(calls)), np.float32) for _ in window]

    out = list(sc.windowed(range(7), 4, 2, run))
    assert [item for item, _ in out] == list(range(7))
    assert calls == [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6]]
    values = [float(v[0]) for _, v in out]
    # Items shared by two windows blend from the older window's output to the newer one's.
    assert values[:2] == [1.0, 1.0]
    assert 1.0 < values[2] < values[3] < 2.0


def test_tiles_cover_the_frame_with_overlap():
    assert sc.tile_origins(64, 64, 8) == [0]
    starts = sc.tile_origins(200, 64, 8)
    assert starts[0] == 0 and starts[-1] == 200 - 64
    assert all(b - a <= 64 - 8 for a, b in itertools.pairwise(starts))


def test_a_gpu_too_small_for_the_resolution_is_refused_with_a_sentence():
    gib = 1024**3
    with pytest.raises(
        EngineError,
        match=r"The GPU has 16 GiB but StereoCrafter needs about 24 GiB for 25-frame windows of "
        r"1024x1024 pixels; lower STEREO_SPOT_TILE_SIZE",
    ):
        sc.check_gpu_memory(16 * gib, 4 * gib, 25, 1024, 1024)
    sc.check_gpu_memory(80 * gib, 4 * gib, 16, 576, 1024)  # an H100 at SVD's native size
    # From the H200 measurements (docs/MODELS.md): a 24 GB card (22.5 GiB usable) with the
    # inpainting weights (4.2 GiB) paints 720p tiles and 768 px tiles, not 1024x1024 ones.
    l4, weights = int(22.5 * gib), int(4.2 * gib)
    sc.check_gpu_memory(l4, weights, 16, 720, 1024)
    sc.check_gpu_memory(l4, weights, 16, 768, 768)
    with pytest.raises(EngineError, match="lower STEREO_SPOT_TILE_SIZE"):
        sc.check_gpu_memory(l4, weights, 16, 1024, 1024)


def test_very_long_windows_are_told_to_shorten_the_window():
    # Past ~60 frames the UNet's whole-window activations outgrow the VAE's chunked decode.
    with pytest.raises(EngineError, match="lower STEREO_SPOT_WINDOW_FRAMES"):
        sc.check_gpu_memory(16 * 1024**3, 4 * 1024**3, 400, 576, 1024)


def test_full_size_models_are_refused_on_the_cpu(tiny_stereocrafter, monkeypatch):
    monkeypatch.setattr(sc, "TINY_UNET_PARAMETERS", 1000)
    with pytest.raises(EngineError, match=r"needs a CUDA GPU.*STEREO_SPOT_ALLOW_CPU_DIFFUSION=1"):
        sc.StereoCrafterEngine(tiny_stereocrafter, LearnedEngineOptions(device="cpu"))
    monkeypatch.setenv("STEREO_SPOT_ALLOW_CPU_DIFFUSION", "1")
    monkeypatch.setenv("STEREO_SPOT_DEVICE", "cpu")
    assert engine_from_name("stereocrafter", str(tiny_stereocrafter)).name == "stereocrafter"


def test_right_views_are_the_inpainted_right_eyes_of_the_side_by_side_frames(engine):
    clip, params = frames(5, 64, 48), StereoParams(divergence=6)
    rights = list(engine.right_views(clip, params))
    packed = list(engine.convert(clip, Layout.TAB, params))
    assert len(rights) == 5
    assert all(np.array_equal(r, p[48:]) for r, p in zip(rights, packed, strict=True))
