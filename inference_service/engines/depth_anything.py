"""The ``depth-anything`` engine: Depth Anything V2 (transformers) + the classical engine's DIBR.

Frames go to the model in batches of ``STEREO_SPOT_BATCH_SIZE`` (fp16 on CUDA, fp32 on the CPU);
its relative inverse depth is mapped to [0, 1] by :class:`InverseDepthNormaliser`, smoothed over
time with :class:`~stereo_spot.stereo.temporal.DepthSmoother`, and turned into the right eye with
the same disparity, forward splat and packing as the classical engine (:mod:`stereo_spot.stereo`).

Weights: a Hugging Face format folder (``config.json`` of ``model_type`` ``depth_anything``,
``model.safetensors``, ``preprocessor_config.json``): Depth-Anything-V2-Small/Base/Large-hf.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from inference_service.engines.classical import check_frame
from inference_service.engines.weights import (
    Component,
    LearnedEngineOptions,
    load_problems,
    load_transformers_model,
    require_ml,
    resolve_weights,
    torch_device,
)
from stereo_spot.domain import Layout, StereoParams
from stereo_spot.errors import EngineError
from stereo_spot.stereo.depth_cues import upsample_depth
from stereo_spot.stereo.render import render_depth_stream, right_view_stream
from stereo_spot.stereo.temporal import (
    DEFAULT_ALPHA,
    DEFAULT_CUT_THRESHOLD,
    DepthSmoother,
    frame_thumbnail,
    is_scene_cut,
)

ARCHITECTURE = "DepthAnythingForDepthEstimation"

# Robust range of the model's inverse depth: these percentiles of each frame (not its min/max,
# which single specular or sky pixels move from frame to frame) map to depth 0 and 1.
LOW_PERCENTILE = 2.0
HIGH_PERCENTILE = 98.0
# Weight of a new frame's range in the moving average of the range: ~10-frame time constant.
# Trade-off: slower follows a dolly or zoom late (near objects briefly clip at 1), faster lets
# the scale breathe with every frame (the flicker DESIGN.md warns about).
SCALE_ALPHA = 0.1


def _config_check(config: dict) -> str | None:
    if config.get("model_type") != "depth_anything":
        return (
            f"describes a {config.get('model_type') or 'unnamed'} model, not Depth Anything "
            "(model_type depth_anything); point the weights at a Depth-Anything-V2-*-hf folder."
        )
    architectures = config.get("architectures") or [ARCHITECTURE]
    if ARCHITECTURE not in architectures:
        return (
            f"names the architecture {architectures[0]}, not {ARCHITECTURE}; use the "
            "depth-estimation checkpoint (Depth-Anything-V2-*-hf)."
        )
    return None


def depth_anything_component(subfolder: str = "") -> Component:
    return Component(
        subfolder=subfolder,
        description="Depth Anything V2 model (transformers format)",
        weights_name="model.safetensors",
        config_check=_config_check,
    )


def depth_anything_problems(folder: Path) -> list[str]:
    """What is wrong with a Depth Anything V2 weights folder that the files alone show (missing
    files, wrong architecture, wrong dtype), one sentence each; shapes are checked on load."""
    require_ml("depth-anything")
    problems = depth_anything_component().problems(folder)
    if not (folder / "preprocessor_config.json").is_file():
        problems.append(
            f"{folder / 'preprocessor_config.json'} is missing; copy the image processor's "
            "config from the same Hugging Face repository."
        )
    return problems


def load_depth_anything(folder: Path, dtype: Any = None) -> tuple[Any, Any]:
    """(image processor, model) from a checked folder; EngineError sentences otherwise."""
    from transformers import AutoImageProcessor, DepthAnythingForDepthEstimation

    problems = depth_anything_problems(folder)
    if problems:
        raise EngineError(" ".join(problems))
    try:
        processor = AutoImageProcessor.from_pretrained(folder)
    except Exception as error:
        raise load_problems(error, folder, "Depth Anything image processor") from None
    model = load_transformers_model(
        DepthAnythingForDepthEstimation, folder, "Depth Anything V2 model", dtype
    )
    return processor, model


class InverseDepthNormaliser:
    """Maps relative inverse depth (larger = nearer, arbitrary scale) to [0, 1], 1 = nearest.

    The range is the frame's 2nd..98th percentile, averaged over time (``SCALE_ALPHA``) and
    restarted at scene cuts. A stream starts from the median range of its first batch, not of its
    first frame alone, so two segments of one shot that start on similar frames start on nearly
    the same mapping; what stays is a small step at a boundary when the scene changes scale inside
    the averaging window (the model's scale is per-image, so no fixed range fits every video).
    """

    def __init__(
        self, alpha: float = SCALE_ALPHA, cut_threshold: float = DEFAULT_CUT_THRESHOLD
    ) -> None:
        self.alpha = float(alpha)
        self.cut_threshold = float(cut_threshold)
        self._range: np.ndarray | None = None
        self._thumb: np.ndarray | None = None

    @staticmethod
    def frame_range(inverse_depth: np.ndarray) -> np.ndarray:
        sample = inverse_depth[::2, ::2] if inverse_depth.size > 4096 else inverse_depth
        return np.percentile(sample, [LOW_PERCENTILE, HIGH_PERCENTILE]).astype(np.float64)

    def normalise_batch(
        self, inverse_depths: list[np.ndarray], frames: list[np.ndarray]
    ) -> list[np.ndarray]:
        ranges = [self.frame_range(d) for d in inverse_depths]
        if self._range is None and ranges:
            self._range = np.median(np.stack(ranges), axis=0)
        out = []
        for inverse, frame, frame_range in zip(inverse_depths, frames, ranges, strict=True):
            thumb = frame_thumbnail(frame)
            if self._thumb is not None and is_scene_cut(self._thumb, thumb, self.cut_threshold):
                self._range = frame_range
            else:
                self._range = self._range + self.alpha * (frame_range - self._range)
            self._thumb = thumb
            low, high = self._range
            span = high - low
            if not np.isfinite(span) or span <= 1e-6 * max(abs(high), 1e-12):
                # A flat prediction (a blank frame, or random test weights): all at mid depth.
                out.append(np.full(inverse.shape, 0.5, dtype=np.float32))
                continue
            depth = (inverse - np.float32(low)) * np.float32(1.0 / span)
            out.append(np.clip(depth, 0.0, 1.0).astype(np.float32))
        return out


class DepthAnythingEngine:
    """Depth Anything V2 depth + DIBR (implements ``StereoEngine``)."""

    name = "depth-anything"

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

        self.options = options or LearnedEngineOptions.from_environment()
        self.smoothing = float(smoothing)
        self.cut_threshold = float(cut_threshold)
        folder = resolve_weights(
            None if weights is None else str(weights), self.name, self.options.cache_dir
        )
        self.folder = folder
        self.device = torch_device(self.options.device)
        # fp16 halves memory and doubles throughput on CUDA; CPU kernels for fp16 are slow.
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        processor, model = load_depth_anything(folder, self.dtype)
        self.model = model.to(self.device).eval()
        self._input = _InputSpec.from_processor(processor, self.model.config)

    # -- depth --------------------------------------------------------------------------------

    def _predict_inverse_depth(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """The model's relative inverse depth for a batch, at its working resolution."""
        import torch

        with torch.inference_mode():
            batch = torch.from_numpy(np.stack(frames)).to(self.device)
            pixels = self._input.prepare(batch).to(self.dtype)
            predicted = self.model(pixel_values=pixels).predicted_depth
            return list(predicted.float().cpu().numpy())

    def depth_stream(self, frames: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(frame, smoothed depth in [0, 1] at the model's resolution) per frame of one stream."""
        normaliser = InverseDepthNormaliser(cut_threshold=self.cut_threshold)
        smoother = DepthSmoother(self.smoothing, self.cut_threshold)
        batch: list[np.ndarray] = []
        size: tuple[int, int] | None = None

        def flush() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            inverse = self._predict_inverse_depth(batch)
            for frame, depth in zip(batch, normaliser.normalise_batch(inverse, batch), strict=True):
                yield frame, smoother.update(depth, frame)
            batch.clear()

        for index, raw in enumerate(frames):
            frame = check_frame(raw, index, size)
            size = (frame.shape[1], frame.shape[0])
            batch.append(frame)
            if len(batch) >= self.options.batch_size:
                yield from flush()
        if batch:
            yield from flush()

    def estimate_depth(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for frame, depth in self.depth_stream(frames):
            yield upsample_depth(depth, frame.shape[1], frame.shape[0])

    def convert(
        self, frames: Iterable[np.ndarray], layout: Layout, params: StereoParams
    ) -> Iterator[np.ndarray]:
        return render_depth_stream(self.depth_stream(frames), layout, params)

    def right_views(
        self, frames: Iterable[np.ndarray], params: StereoParams
    ) -> Iterator[np.ndarray]:
        return right_view_stream(self.depth_stream(frames), params)


class _InputSpec:
    """The image processor's resize and normalisation, done in torch on the model's device.

    Same arithmetic as transformers' DPTImageProcessor (keep aspect ratio, the scale nearer 1,
    sides rounded to a multiple of the patch size, bicubic, mean/std), but batched on the GPU:
    the PIL path costs a CPU round trip per frame, which at fp16 on a GPU is slower than the model.
    """

    def __init__(
        self,
        height: int,
        width: int,
        multiple: int,
        keep_aspect: bool,
        scale: float,
        mean: list[float],
        std: list[float],
    ) -> None:
        self.height, self.width = height, width
        self.multiple = max(1, multiple)
        self.keep_aspect = keep_aspect
        self.scale = scale
        self.mean, self.std = mean, std

    @classmethod
    def from_processor(cls, processor: Any, config: Any) -> _InputSpec:
        size = getattr(processor, "size", None) or {}
        height = int(size.get("height") or size.get("shortest_edge") or 518)
        width = int(size.get("width") or size.get("shortest_edge") or height)
        multiple = int(getattr(processor, "ensure_multiple_of", None) or config.patch_size)
        return cls(
            height,
            width,
            multiple,
            bool(getattr(processor, "keep_aspect_ratio", True)),
            float(getattr(processor, "rescale_factor", 1 / 255)),
            list(getattr(processor, "image_mean", None) or [0.485, 0.456, 0.406]),
            list(getattr(processor, "image_std", None) or [0.229, 0.224, 0.225]),
        )

    def target_size(self, height: int, width: int) -> tuple[int, int]:
        scale_h, scale_w = self.height / height, self.width / width
        if self.keep_aspect:
            # The scale nearer 1 wins for both sides (DPTImageProcessor's rule).
            if abs(1 - scale_w) < abs(1 - scale_h):
                scale_h = scale_w
            else:
                scale_w = scale_h

        def fit(value: float) -> int:
            return max(self.multiple, int(round(value / self.multiple) * self.multiple))

        return fit(height * scale_h), fit(width * scale_w)

    def prepare(self, batch: Any) -> Any:
        """uint8 N x H x W x 3 -> normalised float N x 3 x h x w."""
        import torch
        import torch.nn.functional as F

        images = batch.permute(0, 3, 1, 2).float() * self.scale
        size = self.target_size(images.shape[2], images.shape[3])
        images = F.interpolate(
            images, size=size, mode="bicubic", align_corners=False, antialias=True
        )
        mean = torch.tensor(self.mean, device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=images.device).view(1, 3, 1, 1)
        return (images - mean) / std


def write_tiny_depth_anything(folder: Path, seed: int = 0) -> Path:
    """A tiny random-weight Depth Anything V2 of the real architecture, saved with
    ``save_pretrained`` in the layout of the Hugging Face checkpoints (for smoke tests)."""
    require_ml("depth-anything")
    import torch
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
    )

    torch.manual_seed(seed)
    backbone = Dinov2Config(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=28,
        patch_size=14,
        out_features=["stage1", "stage2", "stage3", "stage4"],
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=32,
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
        patch_size=14,
    )
    model = DepthAnythingForDepthEstimation(config).eval()
    with torch.no_grad():
        # Random initialisation ends in a ReLU that outputs ~1e-7 everywhere; a positive bias on
        # the last layers gives the smoke tests a non-flat depth to normalise.
        for module in model.head.modules():
            if isinstance(module, torch.nn.Conv2d) and module.bias is not None:
                module.bias.add_(0.1)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    DPTImageProcessor(
        size={"height": 28, "width": 28},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        do_pad=False,
        resample=3,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(folder)
    return folder
