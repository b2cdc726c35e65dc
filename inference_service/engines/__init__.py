"""Stereo engines, chosen by name (``STEREO_SPOT_ENGINE``)."""

from __future__ import annotations

from inference_service.engines.base import StereoEngine
from stereo_spot.domain import ENGINE_NAMES, LEARNED_ENGINES
from stereo_spot.errors import EngineError


def engine_from_name(name: str, weights: str | None = None) -> StereoEngine:
    """The engine called ``name``; ``weights`` is the learned engines' weights directory or URI."""
    if name == "classical":
        from inference_service.engines.classical import ClassicalEngine

        return ClassicalEngine()
    if name in LEARNED_ENGINES:
        # The ML stack is imported only here, so the classical engine runs without it.
        from inference_service.engines.weights import LearnedEngineOptions, require_ml

        require_ml(name)
        options = LearnedEngineOptions.from_environment()
        if name == "depth-anything":
            from inference_service.engines.depth_anything import DepthAnythingEngine

            return DepthAnythingEngine(weights, options)
        from inference_service.engines.stereocrafter import StereoCrafterEngine

        return StereoCrafterEngine(weights, options)
    raise EngineError(
        f"There is no stereo engine called {name!r}; choose one of {', '.join(ENGINE_NAMES)}."
    )


__all__ = ["ENGINE_NAMES", "StereoEngine", "engine_from_name"]
