"""The ``stereocrafter`` engine: video depth, forward splat with an occlusion mask, then stereo
video inpainting with a Stable-Video-Diffusion-based UNet (Zhao et al., "StereoCrafter", 2024).

1. Depth for the whole stream: DepthCrafter-format weights when the folder has them (an SVD
   UNet conditioned on the frames' latents, denoised in temporal windows, decoded by the VAE),
   otherwise the ``depth-anything`` engine; either way normalised and smoothed over time.
2. The right eye by forward splatting (:func:`stereo_spot.stereo.view_synthesis.render_right_view`)
   and the occlusion mask of right-view pixels no left pixel reached (:func:`splat_with_mask`).
3. Holes painted by the StereoCrafter UNet (``in_channels`` 9: noisy latents, the warped frames'
   latents and the mask), in overlapping temporal windows (cross-faded) and overlapping spatial
   tiles for frames larger than ``STEREO_SPOT_TILE_SIZE``; pixels the splat reached are kept.

GPU: fp16 on CUDA, refused with a sentence when the card is too small for the tile and window
size. The CPU runs only tiny test models unless ``STEREO_SPOT_ALLOW_CPU_DIFFUSION=1``.
Weights layout: docs/MODELS.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from inference_service.engines.classical import check_frame
from inference_service.engines.depth_anything import (
    DepthAnythingEngine,
    InverseDepthNormaliser,
    depth_anything_problems,
    write_tiny_depth_anything,
)
from inference_service.engines.weights import (
    Component,
    LearnedEngineOptions,
    load_problems,
    load_transformers_model,
    meta_state_shapes,
    read_config,
    require_ml,
    resolve_weights,
    torch_device,
    weight_tensors,
)
from stereo_spot.domain import Layout, StereoParams
from stereo_spot.errors import EngineError
from stereo_spot.stereo.depth_cues import upsample_depth
from stereo_spot.stereo.disparity import disparity_from_depth
from stereo_spot.stereo.layouts import pack_stereo
from stereo_spot.stereo.temporal import DEFAULT_ALPHA, DEFAULT_CUT_THRESHOLD, DepthSmoother
from stereo_spot.stereo.view_synthesis import render_right_view

T = TypeVar("T")

INPAINT_UNET = "stereocrafter/unet"
DEPTH_UNET = "depthcrafter/unet"
DEPTH_ANYTHING = "depth-anything"
VAE = "svd/vae"
IMAGE_ENCODER = "svd/image_encoder"
FEATURE_EXTRACTOR = "svd/feature_extractor"
SCHEDULER = "svd/scheduler"

UNET_CLASSES = ("UNetSpatioTemporalConditionModel",)
# DepthCrafter's release names its subclass of the SVD UNet; the weights are the same layout.
DEPTH_UNET_CLASSES = (*UNET_CLASSES, "DiffusersUNetSpatioTemporalConditionModelDepthCrafter")
INPAINT_IN_CHANNELS = 9  # 4 noisy latents + 4 warped-frame latents + 1 mask
DEPTH_IN_CHANNELS = 8  # 4 noisy latents + 4 frame latents

# SVD micro-conditioning (fps - 1, motion bucket, noise augmentation): SVD img2vid's defaults,
# with no noise augmentation since the condition is the exact warped video.
FPS_ID = 6
MOTION_BUCKET_ID = 127
NOISE_AUG_STRENGTH = 0.0
# Frames per VAE encode/decode call: bounds the VAE's activation memory.
VAE_CHUNK = 8

# A diffusion UNet with fewer parameters than this is a test model and may run on the CPU.
TINY_UNET_PARAMETERS = 50_000_000
# Activation memory in fp16 bytes per frame and per pixel, MEASURED on an H200 with the released
# architectures (benchmarks/gpu_engines.py; docs/BENCHMARKS.md). The peak of a window is the VAE
# decoding one VAE_CHUNK of frames at full tile size (16 GiB for 8 frames of 1024x1024); the
# UNet's whole-window denoising needs about a seventh of that per frame, so it only dominates past
# ~60-frame windows, and the window length hardly moves the peak.
VAE_BYTES_PER_FRAME_PIXEL = 2048
UNET_BYTES_PER_FRAME_PIXEL = 272
# The caching allocator's fragmentation, as a share of what is allocated, and the CUDA context.
MEMORY_MARGIN = 0.10
MEMORY_HEADROOM_BYTES = 1.5 * 1024**3


# -- weights --------------------------------------------------------------------------------------


def _diffusers_class_check(classes: tuple[str, ...], in_channels: int | None = None):
    def check(config: dict) -> str | None:
        name = config.get("_class_name")
        if name not in classes:
            return (
                f"describes a {name or 'unnamed'} model, not {classes[0]}; this folder holds "
                "another component, see docs/MODELS.md for the layout."
            )
        if in_channels is not None and config.get("in_channels") != in_channels:
            return (
                f"has in_channels {config.get('in_channels')}, not {in_channels}; this is not "
                "the StereoCrafter/DepthCrafter UNet (an SVD img2vid UNet has 8), copy the right one."
            )
        return None

    return check


def _diffusers_shapes(model_class_name: str):
    def shapes(config: dict) -> dict[str, tuple[int, ...]]:
        import diffusers

        model_class = getattr(diffusers, model_class_name)
        cfg = {k: v for k, v in config.items() if not k.startswith("_")}
        return meta_state_shapes(lambda: model_class.from_config(cfg))

    return shapes


def _clip_check(config: dict) -> str | None:
    if config.get("model_type") != "clip_vision_model":
        return (
            f"describes a {config.get('model_type') or 'unnamed'} model, not a CLIP vision "
            "encoder; copy image_encoder/ from stable-video-diffusion-img2vid."
        )
    architectures = config.get("architectures") or ["CLIPVisionModelWithProjection"]
    if "CLIPVisionModelWithProjection" not in architectures:
        return (
            f"names the architecture {architectures[0]}, not CLIPVisionModelWithProjection; "
            "copy image_encoder/ from stable-video-diffusion-img2vid."
        )
    return None


COMPONENTS = {
    INPAINT_UNET: Component(
        INPAINT_UNET,
        "StereoCrafter inpainting UNet (diffusers UNetSpatioTemporalConditionModel)",
        "diffusion_pytorch_model.safetensors",
        _diffusers_class_check(UNET_CLASSES, INPAINT_IN_CHANNELS),
        _diffusers_shapes("UNetSpatioTemporalConditionModel"),
    ),
    VAE: Component(
        VAE,
        "SVD temporal VAE (diffusers AutoencoderKLTemporalDecoder)",
        "diffusion_pytorch_model.safetensors",
        _diffusers_class_check(("AutoencoderKLTemporalDecoder",)),
        _diffusers_shapes("AutoencoderKLTemporalDecoder"),
    ),
    IMAGE_ENCODER: Component(
        IMAGE_ENCODER,
        "SVD CLIP image encoder (transformers CLIPVisionModelWithProjection)",
        "model.safetensors",
        _clip_check,
    ),
}
DEPTH_COMPONENT = Component(
    DEPTH_UNET,
    "DepthCrafter UNet (diffusers UNetSpatioTemporalConditionModel)",
    "diffusion_pytorch_model.safetensors",
    _diffusers_class_check(DEPTH_UNET_CLASSES, DEPTH_IN_CHANNELS),
    _diffusers_shapes("UNetSpatioTemporalConditionModel"),
)


def stereocrafter_problems(root: Path) -> list[str]:
    """Everything wrong with a StereoCrafter weights folder, one sentence each."""
    require_ml("stereocrafter")
    problems: list[str] = []
    for component in COMPONENTS.values():
        problems += component.problems(root)
    for folder, name in (
        (FEATURE_EXTRACTOR, "preprocessor_config.json"),
        (SCHEDULER, "scheduler_config.json"),
    ):
        if not (root / folder / name).is_file():
            problems.append(
                f"{root / folder / name} is missing; copy {folder.split('/')[1]}/ from "
                "stable-video-diffusion-img2vid."
            )
    if (root / DEPTH_UNET).exists():
        problems += DEPTH_COMPONENT.problems(root)
    elif (root / DEPTH_ANYTHING).exists():
        problems += depth_anything_problems(root / DEPTH_ANYTHING)
    else:
        problems.append(
            f"{root} has neither {DEPTH_UNET}/ (DepthCrafter) nor {DEPTH_ANYTHING}/ (Depth "
            "Anything V2); add one of them for the video depth."
        )
    if not problems:
        problems += _consistency_problems(root)
    return problems


def _consistency_problems(root: Path) -> list[str]:
    """Components that are each fine but do not fit together."""
    unet, _ = read_config(root / INPAINT_UNET)
    vae, _ = read_config(root / VAE)
    clip, _ = read_config(root / IMAGE_ENCODER)
    problems = []
    if unet and clip and unet.get("cross_attention_dim") != clip.get("projection_dim"):
        problems.append(
            f"The inpainting UNet attends to {unet.get('cross_attention_dim')}-wide image "
            f"embeddings but the image encoder makes {clip.get('projection_dim')}-wide ones; "
            "use the image encoder of the SVD release the UNet was trained from."
        )
    if unet and vae and unet.get("out_channels") != vae.get("latent_channels"):
        problems.append(
            f"The inpainting UNet outputs {unet.get('out_channels')} latent channels but the VAE "
            f"has {vae.get('latent_channels')}; use the VAE of the matching SVD release."
        )
    return problems


def unet_parameter_count(folder: Path) -> int:
    tensors, _ = weight_tensors(folder, "diffusion_pytorch_model.safetensors")
    return sum(int(np.prod(shape)) for _, shape in (tensors or {}).values())


# -- memory ---------------------------------------------------------------------------------------


def _activation_bytes(frames: int, height: int, width: int) -> tuple[int, bool]:
    """(peak activation bytes of one window, whether the UNet rather than the VAE sets it)."""
    vae = VAE_BYTES_PER_FRAME_PIXEL * min(frames, VAE_CHUNK) * height * width
    unet = UNET_BYTES_PER_FRAME_PIXEL * frames * height * width
    return max(vae, unet), unet > vae


def diffusion_memory_bytes(weight_bytes: int, frames: int, height: int, width: int) -> int:
    """GPU memory to inpaint one ``frames`` x ``height`` x ``width`` window in fp16: the weights
    and the measured peak activations, plus the allocator's margin and the CUDA context."""
    activations, _ = _activation_bytes(frames, height, width)
    return int((weight_bytes + activations) * (1 + MEMORY_MARGIN) + MEMORY_HEADROOM_BYTES)


def check_gpu_memory(
    total_bytes: int, weight_bytes: int, frames: int, height: int, width: int
) -> None:
    """EngineError when a GPU of ``total_bytes`` is too small for the window and tile size."""
    needed = diffusion_memory_bytes(weight_bytes, frames, height, width)
    if needed > total_bytes:
        gib = 1024**3
        _, unet_bound = _activation_bytes(frames, height, width)
        remedy = (
            "lower STEREO_SPOT_WINDOW_FRAMES or STEREO_SPOT_TILE_SIZE"
            if unet_bound
            else "lower STEREO_SPOT_TILE_SIZE (768 fits a 24 GB card)"
        )
        raise EngineError(
            f"The GPU has {total_bytes / gib:.0f} GiB but StereoCrafter needs about "
            f"{needed / gib:.0f} GiB for {frames}-frame windows of {width}x{height} pixels; "
            f"{remedy}, or use a larger GPU."
        )


# -- the splat and the mask -----------------------------------------------------------------------


def splat_with_mask(frame: np.ndarray, disparity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right view with holes background-filled, H x W bool mask of the holes the forward
    splat left: right-view pixels no left pixel reached). ``disparity`` may be coarser than the
    frame, as the other engines hand it over (``render_right_view``'s ``upsample``)."""
    right, covered = render_right_view(frame, disparity, return_covered=True, upsample=True)
    return right, ~covered


def windowed(
    items: Iterable[T], size: int, overlap: int, run: Callable[[list[T]], list[np.ndarray]]
) -> Iterator[tuple[T, np.ndarray]]:
    """Run ``run`` over overlapping windows of ``items`` and yield (item, output) in order.

    Consecutive windows share ``overlap`` items; their outputs there are cross-faded linearly
    (the older window's weight falling to 0), so a window boundary shows no jump.
    """
    overlap = min(overlap, size - 1)
    buffer: list[T] = []
    tail: list[np.ndarray] = []  # the previous window's outputs for buffer[: len(tail)]

    def blended(outputs: list[np.ndarray]) -> list[np.ndarray]:
        for k, old in enumerate(tail):
            weight = np.float32((k + 1) / (len(tail) + 1))
            outputs[k] = old + weight * (outputs[k] - old)
        return outputs

    for item in items:
        buffer.append(item)
        if len(buffer) == size:
            outputs = blended(run(buffer))
            keep = size - overlap
            yield from zip(buffer[:keep], outputs[:keep], strict=True)
            buffer, tail = buffer[keep:], outputs[keep:]
    if len(buffer) > len(tail):
        yield from zip(buffer, blended(run(buffer)), strict=True)
    else:
        yield from zip(buffer, tail, strict=True)


def tile_origins(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` covering ``length`` with at least ``overlap`` shared."""
    if length <= tile:
        return [0]
    step = tile - overlap
    count = int(np.ceil((length - tile) / step)) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _ramp(length: int, overlap: int) -> np.ndarray:
    weights = np.ones(length, dtype=np.float32)
    if overlap > 0 and length > 2 * overlap:
        edge = (np.arange(overlap, dtype=np.float32) + 1) / (overlap + 1)
        weights[:overlap], weights[-overlap:] = edge, edge[::-1]
    return weights


class StereoCrafterEngine:
    """Video depth + splat + SVD-based stereo inpainting (implements ``StereoEngine``)."""

    name = "stereocrafter"

    def __init__(
        self,
        weights: str | Path | None,
        options: LearnedEngineOptions | None = None,
        *,
        smoothing: float = DEFAULT_ALPHA,
        cut_threshold: float = DEFAULT_CUT_THRESHOLD,
    ) -> None:
        require_ml(self.name)
        import torch
        from diffusers import (
            AutoencoderKLTemporalDecoder,
            EulerDiscreteScheduler,
            UNetSpatioTemporalConditionModel,
        )
        from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

        self.options = options or LearnedEngineOptions.from_environment()
        self.smoothing, self.cut_threshold = float(smoothing), float(cut_threshold)
        root = resolve_weights(
            None if weights is None else str(weights), self.name, self.options.cache_dir
        )
        problems = stereocrafter_problems(root)
        if problems:
            raise EngineError(" ".join(problems))
        self.root = root
        self.device = torch_device(self.options.device)
        parameters = unet_parameter_count(root / INPAINT_UNET)
        if (root / DEPTH_UNET).exists():
            parameters = max(parameters, unet_parameter_count(root / DEPTH_UNET))
        if (
            self.device.type == "cpu"
            and parameters > TINY_UNET_PARAMETERS
            and not self.options.allow_cpu_diffusion
        ):
            raise EngineError(
                f"The stereocrafter engine needs a CUDA GPU: its diffusion UNet has "
                f"{parameters / 1e9:.1f} billion parameters, hours per segment on a CPU; run it "
                "on a GPU node, or set STEREO_SPOT_ALLOW_CPU_DIFFUSION=1 to force it."
            )
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32

        def diffusers_load(model_class: Any, subfolder: str, description: str) -> Any:
            try:
                model = model_class.from_pretrained(root / subfolder, torch_dtype=self.dtype)
            except Exception as error:
                raise load_problems(error, root / subfolder, description) from None
            return model.to(self.device).eval()

        self.unet = diffusers_load(
            UNetSpatioTemporalConditionModel, INPAINT_UNET, "StereoCrafter UNet"
        )
        self.vae = diffusers_load(AutoencoderKLTemporalDecoder, VAE, "SVD VAE")
        self.image_encoder = (
            load_transformers_model(
                CLIPVisionModelWithProjection, root / IMAGE_ENCODER, "SVD image encoder", self.dtype
            )
            .to(self.device)
            .eval()
        )
        try:
            self.feature_extractor = CLIPImageProcessor.from_pretrained(root / FEATURE_EXTRACTOR)
            self.scheduler_config = EulerDiscreteScheduler.load_config(root / SCHEDULER)
        except Exception as error:
            raise load_problems(
                error, root / "svd", "SVD feature extractor and scheduler"
            ) from None
        self.depth_unet = None
        self.depth_engine: DepthAnythingEngine | None = None
        if (root / DEPTH_UNET).exists():
            self.depth_unet = diffusers_load(
                UNetSpatioTemporalConditionModel, DEPTH_UNET, "DepthCrafter UNet"
            )
        else:
            self.depth_engine = DepthAnythingEngine(
                root / DEPTH_ANYTHING,
                self.options,
                smoothing=smoothing,
                cut_threshold=cut_threshold,
            )
        self.vae_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.unet_factor = 2 ** (len(self.unet.config.block_out_channels) - 1)
        self.align = self.vae_factor * self.unet_factor
        depth_model = self.depth_engine.model if self.depth_engine is not None else None
        # Everything that stays on the GPU while a window is painted, the depth model included.
        self.weight_bytes = sum(
            p.numel() * p.element_size()
            for model in (self.unet, self.vae, self.image_encoder, self.depth_unet, depth_model)
            if model is not None
            for p in model.parameters()
        )
        self._memory_checked: set[tuple[int, int]] = set()

    # -- depth --------------------------------------------------------------------------------

    def depth_stream(self, frames: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(frame, smoothed depth in [0, 1]) per frame of one stream."""
        if self.depth_engine is not None:
            yield from self.depth_engine.depth_stream(frames)
            return
        normaliser = InverseDepthNormaliser(cut_threshold=self.cut_threshold)
        smoother = DepthSmoother(self.smoothing, self.cut_threshold)
        generator = self._generator()

        def run(window: list[np.ndarray]) -> list[np.ndarray]:
            return self._depthcrafter_window(window, generator)

        pending: list[np.ndarray] = []
        pending_depth: list[np.ndarray] = []
        for frame, inverse in windowed(
            self._checked(frames), self.options.window_frames, self.options.window_overlap, run
        ):
            pending.append(frame)
            pending_depth.append(inverse)
            if len(pending) >= self.options.batch_size:
                for f, d in zip(
                    pending, normaliser.normalise_batch(pending_depth, pending), strict=True
                ):
                    yield f, smoother.update(d, f)
                pending, pending_depth = [], []
        if pending:
            for f, d in zip(
                pending, normaliser.normalise_batch(pending_depth, pending), strict=True
            ):
                yield f, smoother.update(d, f)

    def _depthcrafter_window(self, window: list[np.ndarray], generator: Any) -> list[np.ndarray]:
        """DepthCrafter on one window: relative inverse depth per frame (float32, reduced size)."""
        import torch
        import torch.nn.functional as F

        height, width = window[0].shape[:2]
        scale = min(1.0, self.options.tile_size / max(height, width))
        h = max(self.align, round(height * scale / self.align) * self.align)
        w = max(self.align, round(width * scale / self.align) * self.align)
        with torch.inference_mode():
            video = self._to_tensor(np.stack(window))
            video = F.interpolate(video, size=(h, w), mode="bilinear", antialias=True)
            cond = self._encode(video)
            embeddings = self._image_embeddings(video[:1])
            latents = self._denoise(self.depth_unet, [cond], embeddings, generator)
            decoded = self._decode(latents)
            inverse = decoded.float().mean(dim=1)  # the VAE decodes depth as a grey image
        return [d for d in inverse.cpu().numpy().astype(np.float32)]

    def estimate_depth(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for frame, depth in self.depth_stream(frames):
            yield upsample_depth(depth, frame.shape[1], frame.shape[0])

    # -- conversion ---------------------------------------------------------------------------

    def convert(
        self, frames: Iterable[np.ndarray], layout: Layout, params: StereoParams
    ) -> Iterator[np.ndarray]:
        layout = Layout(layout)
        for frame, right in self._eyes(frames, params):
            yield pack_stereo(frame, right, layout, params.anaglyph_mode)

    def right_views(
        self, frames: Iterable[np.ndarray], params: StereoParams
    ) -> Iterator[np.ndarray]:
        for _, right in self._eyes(frames, params):
            yield right

    def _eyes(
        self, frames: Iterable[np.ndarray], params: StereoParams
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(frame, its inpainted right eye) per frame."""
        generator = self._generator()

        def warped() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
            for frame, depth in self.depth_stream(frames):
                disparity = disparity_from_depth(depth, params, frame.shape[1])
                right, holes = splat_with_mask(frame, disparity)
                yield frame, right, holes

        def run(window: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> list[np.ndarray]:
            return self.inpaint_window(
                [r for _, r, _ in window], [m for _, _, m in window], generator
            )

        for (frame, right, holes), painted in windowed(
            warped(), self.options.window_frames, self.options.window_overlap, run
        ):
            # Pixels the splat reached are exact; only the holes take the diffusion's output.
            out = np.where(holes[..., None], np.clip(painted + 0.5, 0, 255).astype(np.uint8), right)
            yield frame, out

    def inpaint_window(
        self, rights: list[np.ndarray], holes: list[np.ndarray], generator: Any | None = None
    ) -> list[np.ndarray]:
        """The inpainting UNet's right views (float32 0..255) for one temporal window."""
        height, width = rights[0].shape[:2]
        out = [r.astype(np.float32) for r in rights]
        mask = np.stack(holes)
        if not mask.any():
            return out  # nothing to paint: skip the diffusion entirely
        generator = generator or self._generator()
        tile = self.options.tile_size
        overlap = max(self.align, (tile // 8) // self.align * self.align)
        tile_h, tile_w = min(height, tile), min(width, tile)
        self._check_memory(len(rights), tile_h, tile_w)
        ys, xs = tile_origins(height, tile, overlap), tile_origins(width, tile, overlap)
        if len(ys) * len(xs) == 1:
            painted = self._inpaint_tile(np.stack(rights), mask, generator)
            return list(painted)
        total = np.zeros((len(rights), height, width, 3), np.float32)
        weight = np.zeros((height, width), np.float32)
        video = np.stack(rights)
        for y in ys:
            for x in xs:
                window = (slice(None), slice(y, y + tile_h), slice(x, x + tile_w))
                tile_mask = mask[window]
                ramp = _ramp(tile_h, overlap)[:, None] * _ramp(tile_w, overlap)[None, :]
                if tile_mask.any():
                    painted = self._inpaint_tile(video[window], tile_mask, generator)
                else:
                    painted = video[window].astype(np.float32)
                total[window] += painted * ramp[None, :, :, None]
                weight[y : y + tile_h, x : x + tile_w] += ramp
        return list(total / weight[None, :, :, None])

    def _inpaint_tile(self, video: np.ndarray, mask: np.ndarray, generator: Any) -> np.ndarray:
        """N x h x w x 3 uint8 warped frames + N x h x w bool holes -> float32 0..255 frames."""
        import torch
        import torch.nn.functional as F

        _n, height, width = mask.shape
        pad_h, pad_w = -height % self.align, -width % self.align
        with torch.inference_mode():
            frames = self._to_tensor(video)
            holes = torch.from_numpy(mask).to(self.device)[:, None].to(frames.dtype)
            # Holes are black in the warped video (what a forward splat without hole filling leaves).
            frames = frames * (1 - holes) - holes
            if pad_h or pad_w:
                frames = F.pad(frames, (0, pad_w, 0, pad_h), mode="replicate")
                holes = F.pad(holes, (0, pad_w, 0, pad_h), mode="replicate")
            cond = self._encode(frames)
            latent_mask = F.max_pool2d(holes, self.vae_factor)  # a hole anywhere in the block
            embeddings = self._image_embeddings(frames[:1])
            latents = self._denoise(self.unet, [cond, latent_mask], embeddings, generator)
            painted = self._decode(latents)[:, :, :height, :width]
            painted = ((painted.float().clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1)
        return painted.cpu().numpy()

    # -- SVD building blocks ------------------------------------------------------------------

    def _generator(self) -> Any:
        import torch

        # Seeded per stream: re-running a segment gives the same pixels (idempotent outputs).
        return torch.Generator(device=self.device).manual_seed(self.options.seed)

    def _checked(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        size: tuple[int, int] | None = None
        for index, raw in enumerate(frames):
            frame = check_frame(raw, index, size)
            size = (frame.shape[1], frame.shape[0])
            yield frame

    def _to_tensor(self, video: np.ndarray) -> Any:
        """uint8 N x H x W x 3 -> N x 3 x H x W in [-1, 1] on the device."""
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(video)).to(self.device)
        return (tensor.permute(0, 3, 1, 2).to(self.dtype) / 127.5) - 1

    def _encode(self, frames: Any) -> Any:
        """VAE latents (mode, unscaled: SVD's conditioning convention) in chunks."""
        import torch

        chunks = [
            self.vae.encode(frames[i : i + VAE_CHUNK].to(self.dtype)).latent_dist.mode()
            for i in range(0, frames.shape[0], VAE_CHUNK)
        ]
        return torch.cat(chunks)

    def _decode(self, latents: Any) -> Any:
        import torch

        latents = latents / self.vae.config.scaling_factor
        chunks = []
        for i in range(0, latents.shape[0], VAE_CHUNK):
            chunk = latents[i : i + VAE_CHUNK]
            chunks.append(self.vae.decode(chunk, num_frames=chunk.shape[0]).sample)
        return torch.cat(chunks)

    def _image_embeddings(self, frame: Any) -> Any:
        """CLIP image embedding of one [-1, 1] frame: the UNet's cross-attention context."""
        import torch
        import torch.nn.functional as F

        crop = self.feature_extractor.crop_size or {}
        size = (int(crop.get("height", 224)), int(crop.get("width", 224)))
        image = F.interpolate(
            (frame.float() + 1) / 2, size=size, mode="bicubic", align_corners=False, antialias=True
        )
        mean = torch.tensor(self.feature_extractor.image_mean, device=image.device).view(1, 3, 1, 1)
        std = torch.tensor(self.feature_extractor.image_std, device=image.device).view(1, 3, 1, 1)
        pixels = ((image - mean) / std).to(self.dtype)
        return self.image_encoder(pixel_values=pixels).image_embeds[:, None]

    def _denoise(self, unet: Any, conditions: list[Any], embeddings: Any, generator: Any) -> Any:
        """Euler sampling of N x 4 x h x w latents, the conditions concatenated as channels."""
        import torch
        from diffusers import EulerDiscreteScheduler

        scheduler = EulerDiscreteScheduler.from_config(self.scheduler_config)
        scheduler.set_timesteps(self.options.diffusion_steps, device=self.device)
        n, _, h, w = conditions[0].shape
        channels = unet.config.out_channels
        noise = torch.randn(
            (1, n, channels, h, w), generator=generator, device=self.device, dtype=torch.float32
        )
        latents = noise * scheduler.init_noise_sigma
        condition = torch.cat([c.to(self.dtype) for c in conditions], dim=1)[None]
        time_ids = torch.tensor(
            [[FPS_ID, MOTION_BUCKET_ID, NOISE_AUG_STRENGTH]], device=self.device, dtype=self.dtype
        )
        for t in scheduler.timesteps:
            model_input = scheduler.scale_model_input(latents, t).to(self.dtype)
            model_input = torch.cat([model_input, condition], dim=2)
            prediction = unet(
                model_input, t, encoder_hidden_states=embeddings, added_time_ids=time_ids
            ).sample
            latents = scheduler.step(prediction.float(), t, latents).prev_sample
        return latents[0].to(self.dtype)

    def _check_memory(self, frames: int, height: int, width: int) -> None:
        import torch

        if self.device.type != "cuda" or (height, width) in self._memory_checked:
            return
        total = torch.cuda.get_device_properties(self.device).total_memory
        check_gpu_memory(total, self.weight_bytes, frames, height, width)
        self._memory_checked.add((height, width))


# -- tiny models for smoke tests ------------------------------------------------------------------


def write_tiny_stereocrafter(root: Path, *, depthcrafter: bool = False, seed: int = 0) -> Path:
    """A tiny random-weight StereoCrafter folder of the real architectures and layout, written
    with ``save_pretrained`` (for smoke tests; it paints noise)."""
    require_ml("stereocrafter")
    import torch
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    root.mkdir(parents=True, exist_ok=True)

    def unet(in_channels: int) -> Any:
        return UNetSpatioTemporalConditionModel(
            block_out_channels=(32, 64),
            layers_per_block=1,
            sample_size=32,
            in_channels=in_channels,
            out_channels=4,
            down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
            up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
            cross_attention_dim=32,
            num_attention_heads=(2, 4),
            projection_class_embeddings_input_dim=24,
            addition_time_embed_dim=8,
            num_frames=4,
        )

    unet(INPAINT_IN_CHANNELS).save_pretrained(root / INPAINT_UNET)
    if depthcrafter:
        unet(DEPTH_IN_CHANNELS).save_pretrained(root / DEPTH_UNET)
    else:
        write_tiny_depth_anything(root / DEPTH_ANYTHING, seed=seed)
    AutoencoderKLTemporalDecoder(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        latent_channels=4,
        layers_per_block=1,
    ).save_pretrained(root / VAE)
    CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            projection_dim=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            intermediate_size=37,
            patch_size=4,
        )
    ).save_pretrained(root / IMAGE_ENCODER)
    CLIPImageProcessor(
        crop_size={"height": 32, "width": 32}, size={"shortest_edge": 32}
    ).save_pretrained(root / FEATURE_EXTRACTOR)
    # The scheduler of stable-video-diffusion-img2vid(-xt): EDM sigmas, v-prediction.
    EulerDiscreteScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="v_prediction",
        interpolation_type="linear",
        use_karras_sigmas=True,
        sigma_min=0.002,
        sigma_max=700.0,
        timestep_spacing="leading",
        timestep_type="continuous",
        steps_offset=1,
        final_sigmas_type="zero",
    ).save_pretrained(root / SCHEDULER)
    (root / "README.md").write_text(
        json.dumps({"stereo-spot": "tiny random-weight test model; paints noise"}) + "\n"
    )
    return root
