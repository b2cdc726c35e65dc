"""The learned engines on a CUDA GPU: tiny models end to end, then the full-size architectures.

Part 1 runs both learned engines on the tiny random-weight models of ``stereo-spot models tiny``
on the GPU (fp16) and checks what the CPU tests check: one packed frame per input frame, the
layout's shape, holes painted only where the splat left them, and Depth Anything's depth on the
GPU in fp16 against the same model on the CPU in fp32.

Part 2 builds the *released* architectures (SVD's UNet, VAE and CLIP ViT-H, DepthCrafter's UNet,
Depth Anything V2 Small and Large) with random weights, saves them in the documented folder
layout and loads them through the engines' real loading code. Random weights paint noise, but the
memory and the arithmetic of a forward pass do not depend on the weight values, so the peak GPU
memory and the seconds per window stand for the real checkpoints (docs/MODELS.md).

Run on a machine with a CUDA GPU (needs the ``ml`` extra and PyAV, as the model server does):
``python benchmarks/gpu_engines.py [--out results.json] [--only STEP ...]``; the steps are
first_window_figures (a fresh server: load, warm-up, first window, memory as the driver sees it;
first, so it runs in a fresh process), tiny_checks_on_cuda, tiny_segments_on_cuda (both tiny
engines through the model server's code in each codec), inpainting_figures,
memory_by_stage_figures, depth_anything_figures, depthcrafter_figures, segment_figures (one 3 s
1080p segment through the model server's own code, as the AWS overlay configures it) and
depth_anything_segment_figures (a 10 s 1080p segment through the depth-anything engine, in
each codec).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import tempfile
import time
import traceback
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from server_code import convert_as_the_server_does

from inference_service.engines import stereocrafter as sc
from inference_service.engines.depth_anything import (
    DepthAnythingEngine,
    write_tiny_depth_anything,
)
from inference_service.engines.weights import LearnedEngineOptions
from stereo_spot.domain import Layout, StereoParams, VideoCodec

GIB = 1024**3
SEGMENT_FRAMES = 240  # a 10 s segment at 24 fps
TINY = LearnedEngineOptions(
    batch_size=4, diffusion_steps=2, window_frames=6, window_overlap=2, tile_size=128
)


def clip(count: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    """A textured picture with a bright square in front, panning: something to get depth from."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (height, width + count, 3), dtype=np.uint8)
    base[height // 4 : height // 2, width // 3 : width // 2] = 230
    return [np.ascontiguousarray(base[:, i : i + width]) for i in range(count)]


def timed(run: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, seconds, peak GPU GiB allocated during the call; 0 without CUDA)."""
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = run()
    if cuda:
        torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / GIB if cuda else 0.0
    return result, time.perf_counter() - start, peak


# -- part 1: the tiny models ----------------------------------------------------------------------


def tiny_checks(root: Path, device: str, report: dict[str, Any]) -> None:
    options = dataclasses.replace(TINY, device=device)
    fp16 = torch.float16 if device == "cuda" else torch.float32
    depth_folder = write_tiny_depth_anything(root / "tiny-da")
    frames = clip(10, 192, 128)

    gpu = DepthAnythingEngine(depth_folder, options)
    cpu = DepthAnythingEngine(depth_folder, dataclasses.replace(TINY, device="cpu"))
    gpu_depth = np.stack(list(gpu.estimate_depth(frames)))
    cpu_depth = np.stack(list(cpu.estimate_depth(frames)))
    correlation = float(np.corrcoef(gpu_depth.ravel(), cpu_depth.ravel())[0, 1])
    packed = list(gpu.convert(frames, Layout.HALF_SBS, StereoParams()))
    assert gpu.dtype == fp16 and next(gpu.model.parameters()).device.type == device
    assert len(packed) == len(frames) and packed[0].shape == (128, 192, 3)
    report["tiny depth-anything"] = {
        "frames": len(packed),
        "fp16 vs fp32 depth correlation": round(correlation, 5),
        "fp16 vs fp32 max depth difference": round(float(np.abs(gpu_depth - cpu_depth).max()), 4),
    }

    for name, depthcrafter in (("tiny stereocrafter", False), ("tiny stereocrafter+dc", True)):
        folder = sc.write_tiny_stereocrafter(
            root / name.replace(" ", "-"), depthcrafter=depthcrafter
        )
        engine = sc.StereoCrafterEngine(folder, options)
        assert engine.dtype == fp16 and next(engine.unet.parameters()).device.type == device
        # 200 px wide: two 128 px tiles across; 10 frames: two 6-frame windows overlapping by 2.
        frames = clip(10, 200, 96)
        params = StereoParams(divergence=8)
        out = list(engine.convert(frames, Layout.SBS, params))
        assert len(out) == 10 and all(o.shape == (96, 400, 3) for o in out)
        splats = [sc.splat_with_mask(f, d) for f, d in _disparities(engine, frames, params)]
        rights, holes = zip(*splats, strict=True)
        hole_share = float(np.mean(holes))
        kept = np.stack([o[:, 200:] for o in out])[~np.stack(holes)]
        splat = np.stack(rights)[~np.stack(holes)]
        report[name] = {
            "frames": len(out),
            "hole share": round(hole_share, 4),
            # Outside the holes the right eye is the splat, exactly (the diffusion only paints holes).
            "non-hole pixels equal to the splat": bool(np.array_equal(kept, splat)),
        }


def tiny_segments(root: Path, device: str, report: dict[str, Any]) -> None:
    """Both learned engines' tiny models through the model server's own code, once in each
    codec: one frame out per frame in, the codec asked for, and the source's pixel shape (an
    anamorphic 4:3 sample aspect ratio) kept."""
    import av

    options = dataclasses.replace(TINY, device=device)
    source = write_clip(root / "anamorphic.mp4", 1.0, 160, 96, 24, Fraction(4, 3))
    engines = {
        "depth-anything": DepthAnythingEngine(write_tiny_depth_anything(root / "da"), options),
        "stereocrafter": sc.StereoCrafterEngine(sc.write_tiny_stereocrafter(root / "sc"), options),
    }
    for name, engine in engines.items():
        for codec in VideoCodec:
            work = root / f"{name}-{codec.value}"
            result = convert_as_the_server_does(
                source, work, "sbs", engine, StereoParams(codec=codec)
            )
            with av.open(str(work / "in-process" / "out" / "clip.mp4")) as container:
                stream = container.streams.video[0]
                shown = sum(1 for _ in container.decode(stream))
                report[f"tiny {name} segment, {codec.value}"] = {
                    "frames in / reported / decoded": f"24 / {result.frames} / {shown}",
                    "codec": stream.codec_context.name,
                    "size": f"{stream.width}x{stream.height}",
                    "sample aspect ratio": str(stream.sample_aspect_ratio),
                }


def _disparities(engine: sc.StereoCrafterEngine, frames, params):
    from stereo_spot.stereo.disparity import disparity_from_depth

    for frame, depth in engine.depth_stream(frames):
        yield frame, disparity_from_depth(depth, params, frame.shape[1])  # as the engine splats


# -- part 2: full-size architectures with random weights ------------------------------------------


def write_full_size(
    root: Path, *, depthcrafter: bool, depth_anything: str = "small", device: str = "cuda"
) -> Path:
    """A StereoCrafter folder of the released architectures with random fp16 weights."""
    from diffusers import AutoencoderKLTemporalDecoder, UNetSpatioTemporalConditionModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    sc.write_tiny_stereocrafter(root, depthcrafter=depthcrafter)  # scheduler and layout
    with torch.device(device):
        # diffusers' defaults are stable-video-diffusion-img2vid's UNet.
        for channels, folder in (
            (sc.INPAINT_IN_CHANNELS, sc.INPAINT_UNET),
            (sc.DEPTH_IN_CHANNELS, sc.DEPTH_UNET),
        ):
            if folder == sc.DEPTH_UNET and not depthcrafter:
                continue
            UNetSpatioTemporalConditionModel(in_channels=channels).half().save_pretrained(
                root / folder
            )
        AutoencoderKLTemporalDecoder(
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4,
            layers_per_block=2,
            latent_channels=4,
        ).half().save_pretrained(root / sc.VAE)
        vit_h = CLIPVisionConfig(
            hidden_size=1280,
            intermediate_size=5120,
            num_attention_heads=16,
            num_hidden_layers=32,
            patch_size=14,
            image_size=224,
            projection_dim=1024,
            hidden_act="gelu",
        )
        CLIPVisionModelWithProjection(vit_h).half().save_pretrained(root / sc.IMAGE_ENCODER)
    CLIPImageProcessor(
        crop_size={"height": 224, "width": 224}, size={"shortest_edge": 224}
    ).save_pretrained(root / sc.FEATURE_EXTRACTOR)
    if not depthcrafter:
        write_full_size_depth_anything(root / sc.DEPTH_ANYTHING, depth_anything, device)
    return root


DEPTH_ANYTHING_V2 = {
    # backbone (hidden, layers, heads), out indices, neck widths, fusion width: the V2 releases.
    "small": ((384, 12, 6), [3, 6, 9, 12], [48, 96, 192, 384], 64),
    "large": ((1024, 24, 16), [5, 12, 18, 24], [256, 512, 1024, 1024], 256),
}


def write_full_size_depth_anything(folder: Path, size: str, device: str = "cuda") -> Path:
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
    )

    (hidden, layers, heads), indices, neck, fusion = DEPTH_ANYTHING_V2[size]
    backbone = Dinov2Config(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        image_size=518,
        patch_size=14,
        out_indices=indices,
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=hidden,
        neck_hidden_sizes=neck,
        fusion_hidden_size=fusion,
        head_hidden_size=32,
        patch_size=14,
    )
    with torch.device(device):
        DepthAnythingForDepthEstimation(config).half().save_pretrained(folder)
    DPTImageProcessor(
        size={"height": 518, "width": 518},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        do_pad=False,
        resample=3,
    ).save_pretrained(folder)
    return folder


def inpaint_figures(engine: sc.StereoCrafterEngine, cases, report: dict[str, Any]) -> None:
    """Seconds and peak memory of one inpainting window per (width, height, frames), every tile
    holding holes (the worst case: hole-free tiles are skipped)."""
    for width, height, count in cases:
        rights = clip(count, width, height)
        holes = [np.zeros((height, width), bool) for _ in rights]
        for mask in holes:
            mask[:, width // 2 : width // 2 + 16] = True  # a disocclusion strip in every tile
        engine.options = dataclasses.replace(engine.options, window_frames=count)
        _, seconds, peak = timed(lambda: engine.inpaint_window(rights, holes))  # noqa: B023
        estimate = sc.diffusion_memory_bytes(engine.weight_bytes, count, height, width) / GIB
        key = f"inpaint window {count}x{width}x{height}"
        report[key] = {
            "seconds": round(seconds, 2),
            "peak GiB": round(peak, 2),
            # What the caching allocator held: nearer what nvidia-smi shows, less the context.
            "peak reserved GiB": round(torch.cuda.max_memory_reserved() / GIB, 2),
            "check_gpu_memory estimate GiB": round(estimate, 2),
        }
        print(key, report[key], flush=True)


def segment_estimate(
    engine: sc.StereoCrafterEngine, window_seconds: float, width: int, height: int
) -> float:
    """Seconds to inpaint a 240-frame segment when every tile of every window has holes."""
    tile, frames, overlap = (
        engine.options.tile_size,
        engine.options.window_frames,
        engine.options.window_overlap,
    )
    tile_overlap = max(engine.align, (tile // 8) // engine.align * engine.align)
    tiles = len(sc.tile_origins(height, tile, tile_overlap)) * len(
        sc.tile_origins(width, tile, tile_overlap)
    )
    windows = math.ceil((SEGMENT_FRAMES - overlap) / (frames - overlap))
    return windows * tiles * window_seconds


FULL = LearnedEngineOptions(device="cuda")  # the defaults: 16-frame windows, 1024 px tiles, 8 steps


def inpainting_figures(root: Path, report: dict[str, Any]) -> None:
    folder = write_full_size(root / "full-da", depthcrafter=False)
    engine, load_seconds, _ = timed(lambda: sc.StereoCrafterEngine(folder, FULL))
    report["weights GiB (inpaint UNet + VAE + CLIP)"] = round(engine.weight_bytes / GIB, 2)
    report["load seconds (from local disk)"] = round(load_seconds, 1)
    inpaint_figures(engine, [(512, 288, 16)], {})  # warm-up: kernels chosen, allocator primed
    inpaint_figures(
        engine,
        [(512, 288, 16), (1024, 576, 16), (1024, 720, 16), (1024, 1024, 16), (1024, 576, 25)],
        report,
    )

    # Eight steps minus two steps, over six: one UNet step without the VAE and CLIP around it.
    engine.options = dataclasses.replace(engine.options, diffusion_steps=2)
    two_steps: dict[str, Any] = {}
    inpaint_figures(engine, [(1024, 576, 16)], two_steps)
    eight = report["inpaint window 16x1024x576"]["seconds"]
    per_step = (eight - two_steps["inpaint window 16x1024x576"]["seconds"]) / 6
    report["UNet step, 16 frames 1024x576, seconds"] = round(per_step, 3)
    engine.options = dataclasses.replace(engine.options, diffusion_steps=8, window_frames=16)

    for label, (w, h, window) in {
        "576p": (1024, 576, "16x1024x576"),
        "720p": (1280, 720, "16x1024x720"),
        "1080p": (1920, 1080, "16x1024x1024"),
    }.items():
        seconds = report[f"inpaint window {window}"]["seconds"]
        report[f"segment inpaint seconds, {label}, every tile with holes"] = round(
            segment_estimate(engine, seconds, w, h), 1
        )


def watch_stage_memory(engine: sc.StereoCrafterEngine) -> dict[str, float]:
    """Wrap the engine's GPU stages to record each one's peak GiB above what was allocated
    when it began: where the memory of a window goes."""
    peaks: dict[str, float] = {}

    def watch(name: str, run: Callable[..., Any]) -> Callable[..., Any]:
        def watched(*args: Any) -> Any:
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            result = run(*args)
            torch.cuda.synchronize()
            peak = (torch.cuda.max_memory_allocated() - base) / GIB
            peaks[name] = max(peaks.get(name, 0.0), peak)
            return result

        return watched

    for name in ("_encode", "_image_embeddings", "_denoise", "_decode"):
        setattr(engine, name, watch(name, getattr(engine, name)))
    return peaks


def memory_by_stage_figures(root: Path, report: dict[str, Any]) -> None:
    """Each stage's activation memory per tile size and window length, and warm seconds."""
    folder = write_full_size(root / "full-da", depthcrafter=False)
    engine = sc.StereoCrafterEngine(folder, FULL)
    report["weights GiB (inpaint UNet + VAE + CLIP)"] = round(engine.weight_bytes / GIB, 2)
    for width, height in ((512, 288), (1024, 576), (1024, 1024)):
        for count in (8, 16, 25):
            rights = clip(count, width, height)
            holes = [np.zeros((height, width), bool) for _ in rights]
            for mask in holes:
                mask[:, width // 2 : width // 2 + 16] = True
            engine.options = dataclasses.replace(engine.options, window_frames=count)
            engine.inpaint_window(rights, holes)  # warm-up at this shape
            peaks = watch_stage_memory(engine)
            _, seconds, _ = timed(lambda: engine.inpaint_window(rights, holes))  # noqa: B023
            for name in list(peaks):
                delattr(engine, name)  # back to the class's methods
            key = f"stages {count}x{width}x{height}"
            report[key] = {"warm seconds": round(seconds, 2)} | {
                f"{name.strip('_')} GiB": round(peak, 2) for name, peak in peaks.items()
            }
            print(key, report[key], flush=True)


def first_window_figures(root: Path, report: dict[str, Any]) -> None:
    """What a fresh model server does: load, warm up (inference_service.segment_conversion),
    then paint one 16 x 1024x1024 window, its first; the GPU memory in use is read from the
    driver (context and allocator reserve included) and set against ``check_gpu_memory``."""
    from inference_service.segment_conversion import warm_up

    folder = write_full_size(root / "full-da", depthcrafter=False)
    torch.cuda.empty_cache()  # what writing the folder left cached is not the server's
    free_before, total = torch.cuda.mem_get_info()
    engine, load_seconds, _ = timed(lambda: sc.StereoCrafterEngine(folder, FULL))
    _, warm_seconds, _ = timed(lambda: warm_up(engine))
    rights = clip(16, 1024, 1024)
    holes = [np.zeros((1024, 1024), bool) for _ in rights]
    for mask in holes:
        mask[:, 512:528] = True
    _, seconds, peak = timed(lambda: engine.inpaint_window(rights, holes))
    free_after, _ = torch.cuda.mem_get_info()
    report["fresh server"] = {
        "load seconds": round(load_seconds, 1),
        "warm-up seconds": round(warm_seconds, 1),
        "first 16x1024x1024 window seconds": round(seconds, 2),
        "peak allocated GiB": round(peak, 2),
        "peak reserved GiB": round(torch.cuda.max_memory_reserved() / GIB, 2),
        "in use after, driver view GiB (context included)": round((total - free_after) / GIB, 2),
        "in use before the engine GiB": round((total - free_before) / GIB, 2),
        "check_gpu_memory needs GiB": round(
            sc.diffusion_memory_bytes(engine.weight_bytes, 16, 1024, 1024) / GIB, 2
        ),
    }
    print(report["fresh server"], flush=True)


def depth_anything_figures(root: Path, report: dict[str, Any]) -> None:
    frames = clip(16, 1920, 1080)
    for size in ("small", "large"):
        da_folder = write_full_size_depth_anything(root / f"da-{size}", size)
        da = DepthAnythingEngine(da_folder, FULL)
        list(da.estimate_depth(frames[:8]))  # warm-up
        _, seconds, peak = timed(lambda: list(da.estimate_depth(frames)))  # noqa: B023
        report[f"depth-anything {size}, 1080p frames, batch 8"] = {
            "ms per frame": round(1000 * seconds / len(frames), 1),
            "peak GiB": round(peak, 2),
        }


def depthcrafter_figures(root: Path, report: dict[str, Any]) -> None:
    dc_folder = write_full_size(root / "full-dc", depthcrafter=True)
    dc = sc.StereoCrafterEngine(dc_folder, FULL)
    window = clip(16, 1920, 1080)
    dc._depthcrafter_window(window[:4], dc._generator())  # warm-up
    _, seconds, peak = timed(lambda: dc._depthcrafter_window(window, dc._generator()))
    report["depthcrafter window 16 frames (1080p in, 1024x576 work)"] = {
        "seconds": round(seconds, 2),
        "peak GiB": round(peak, 2),
        "weights GiB (both UNets + VAE + CLIP)": round(dc.weight_bytes / GIB, 2),
    }
    report["segment depthcrafter seconds"] = round(
        math.ceil((SEGMENT_FRAMES - 3) / 13) * seconds, 1
    )


def write_clip(
    path: Path,
    seconds: float,
    width: int,
    height: int,
    fps: int,
    sample_aspect_ratio: Fraction | None = None,
) -> Path:
    """An H.264 clip of :func:`clip`'s textured pictures."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if sample_aspect_ratio:
            stream.codec_context.sample_aspect_ratio = sample_aspect_ratio
        for picture in clip(round(seconds * fps), width, height):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode())
    return path


def convert_clip_segment(
    engine: Any,
    root: Path,
    seconds: float,
    width: int,
    height: int,
    fps: int,
    params: StereoParams | None = None,
) -> tuple[Any, float, float]:
    """One segment of textured pictures through the model server's own code
    (``convert_stored_segment``: decode, depth, splat, inpainting if any, encode), full SBS out:
    (its SegmentResult, seconds, peak GPU GiB)."""
    source = write_clip(root / "segment.mp4", seconds, width, height, fps)
    return timed(lambda: convert_as_the_server_does(source, root, "sbs", engine, params))


def segment_run(
    engine: sc.StereoCrafterEngine, root: Path, seconds: float, width: int, height: int, fps: int
) -> dict[str, Any]:
    """A StereoCrafter segment (:func:`convert_clip_segment`), timed as a whole and in its
    diffusion tiles."""
    count = round(seconds * fps)
    painted = {"tiles": 0, "seconds": 0.0}
    paint = engine._inpaint_tile

    def counted(*args: Any) -> Any:
        result, tile_seconds, _ = timed(lambda: paint(*args))
        painted["tiles"] += 1
        painted["seconds"] += tile_seconds
        return result

    engine._inpaint_tile = counted  # type: ignore[method-assign]
    try:
        result, wall, peak = convert_clip_segment(engine, root, seconds, width, height, fps)
    finally:
        del engine._inpaint_tile  # back to the class's method
    options = engine.options
    tile_overlap = max(engine.align, (options.tile_size // 8) // engine.align * engine.align)
    tiles = len(sc.tile_origins(height, options.tile_size, tile_overlap)) * len(
        sc.tile_origins(width, options.tile_size, tile_overlap)
    )
    windows = math.ceil(
        (count - options.window_overlap) / (options.window_frames - options.window_overlap)
    )
    per_tile = painted["seconds"] / max(1, painted["tiles"])
    worst = wall + per_tile * (windows * tiles - painted["tiles"])
    return {
        "frames": result.frames,
        "wall seconds": round(wall, 1),
        "tiles painted": f"{painted['tiles']} of {windows * tiles}",
        "seconds per painted tile": round(per_tile, 2),
        "GPU-seconds per second of video": round(wall / seconds, 1),
        "every tile painted, GPU-seconds per second of video": round(worst / seconds, 1),
        "peak GiB": round(peak, 2),
    }


def segment_figures(root: Path, report: dict[str, Any]) -> None:
    """A 3 s 1080p segment as the AWS overlay converts it: DepthCrafter depth, 768 px tiles."""
    from inference_service.segment_conversion import warm_up

    folder = write_full_size(root / "full-dc", depthcrafter=True)
    engine = sc.StereoCrafterEngine(folder, dataclasses.replace(FULL, tile_size=768))
    _, warm_seconds, _ = timed(lambda: warm_up(engine))
    report["segment 3 s 1080p, 768 px tiles, DepthCrafter"] = {
        "warm-up seconds": round(warm_seconds, 1)
    } | segment_run(engine, root, 3.0, 1920, 1080, 24)
    print(report["segment 3 s 1080p, 768 px tiles, DepthCrafter"], flush=True)


def depth_anything_segment_figures(root: Path, report: dict[str, Any]) -> None:
    """A 10 s 1080p segment through the depth-anything engine: depth on the GPU, the splat,
    packing and the encoder (x264, then x265) on the CPU. Run it with the CPUs a pod gets
    (``taskset -c 0-3`` for the AWS overlay's limit of 4: the thread pools follow the
    affinity, ``stereo_spot.cpus``)."""
    import os

    from inference_service.segment_conversion import warm_up

    folder = write_full_size_depth_anything(root / "da-large", "large")
    engine = DepthAnythingEngine(folder, FULL)
    warm_up(engine)
    for codec in VideoCodec:
        params = StereoParams(codec=codec)
        result, seconds, peak = convert_clip_segment(engine, root, 10.0, 1920, 1080, 24, params)
        name = f"depth-anything large segment, 10 s 1080p, SBS, {codec.value} crf {params.crf}"
        report[name] = {
            "CPUs": len(os.sched_getaffinity(0)),
            "frames": result.frames,
            "wall seconds": round(seconds, 1),
            "frames per second": round(result.frames / seconds, 1),
            "peak GiB": round(peak, 2),
        }
        print(report[name], flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    parser.add_argument(
        "--only", nargs="+", metavar="STEP", help="run only these steps (function names)"
    )
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("No CUDA GPU: this benchmark measures the engines on one.")
    report: dict[str, Any] = {
        "gpu": torch.cuda.get_device_name(),
        "gpu memory GiB": round(torch.cuda.get_device_properties(0).total_memory / GIB, 1),
        "torch": torch.__version__,
    }
    steps = [
        first_window_figures,
        tiny_checks_on_cuda,
        tiny_segments_on_cuda,
        inpainting_figures,
        memory_by_stage_figures,
        depth_anything_figures,
        depthcrafter_figures,
        segment_figures,
        depth_anything_segment_figures,
    ]
    if args.only:
        steps = [step for step in steps if step.__name__ in args.only]
    for step in steps:
        # Each step on its own: a failure is reported and the next step still runs.
        with tempfile.TemporaryDirectory() as tmp:
            try:
                step(Path(tmp), report)
            except Exception as error:  # a benchmark reports and goes on
                traceback.print_exc()
                report[f"{step.__name__} failed"] = f"{type(error).__name__}: {error}"
        torch.cuda.empty_cache()
        text = json.dumps(report, indent=1)
        print(text, flush=True)
        if args.out:
            args.out.write_text(text + "\n")


def tiny_checks_on_cuda(root: Path, report: dict[str, Any]) -> None:
    tiny_checks(root, "cuda", report)


def tiny_segments_on_cuda(root: Path, report: dict[str, Any]) -> None:
    tiny_segments(root, "cuda", report)


if __name__ == "__main__":
    main()
