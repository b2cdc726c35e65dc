"""The KServe model: parse the V1 request, convert each segment, answer with JSON.

All media travel by URI; the request body carries only the payload in DESIGN.md.
"""

from __future__ import annotations

import asyncio
import logging

import kserve
from kserve.errors import InferenceError, InvalidInput, ModelNotReady
from pydantic import ValidationError

from inference_service.engines import engine_from_name
from inference_service.engines.base import StereoEngine
from inference_service.engines.weights import in_storage_terms
from inference_service.payload import PredictRequest, PredictResponse
from inference_service.segment_conversion import convert_stored_segment, warm_up
from stereo_spot.errors import EngineError, InputRejected, InvalidKey, StereoSpotError
from stereo_spot.storage import ObjectStorage

log = logging.getLogger(__name__)


class StereoModel(kserve.Model):
    def __init__(
        self, name: str, engine_name: str, weights: str | None, storage: ObjectStorage
    ) -> None:
        super().__init__(name)
        self.engine_name = engine_name
        self.weights = weights
        self.storage = storage
        # Not ``engine``: kserve's base class uses that name to flag models with an engine of
        # their own (vLLM) that the server starts and stops.
        self.stereo_engine: StereoEngine | None = None
        self.load_error: str | None = None
        # One conversion at a time: each already uses every core (or the whole GPU), and two
        # at once would only double the memory. Further requests wait here, as the cluster's
        # containerConcurrency of 1 makes them wait in front of a replica.
        self._one_at_a_time = asyncio.Semaphore(1)

    def load(self) -> bool:
        """Build the engine; on failure stay not-ready and remember why (readiness says so)."""
        try:
            self.stereo_engine = engine_from_name(self.engine_name, self.weights)
        except StereoSpotError as error:
            self.load_error = in_storage_terms(str(error), self.weights)
            log.error("engine %s failed to load: %s", self.engine_name, self.load_error)
            self.ready = False
            return False
        try:
            warm_up(self.stereo_engine)
        except Exception:  # a cold first segment is slower, not wrong: serve anyway
            log.warning("engine %s: warm-up failed", self.engine_name, exc_info=True)
        self.load_error = None
        self.ready = True
        return True

    async def healthy(self) -> bool:
        # kserve's readiness and predict endpoints answer a False from here with a fixed
        # "Model with name stereo is not ready." (503); raising that error with the load error
        # as its detail puts what to fix in the same 503 body.
        if self.load_error is not None:
            raise ModelNotReady(self.name, self.load_error)
        return self.ready

    async def predict(self, payload, headers=None, response_headers=None):  # type: ignore[override]
        if self.stereo_engine is None:
            raise ModelNotReady(self.name, self.load_error or "The engine is not loaded.")
        try:
            request = PredictRequest.model_validate(payload)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise InvalidInput(f"Invalid request at '{where}': {first['msg']}.") from None
        results = []
        for segment in request.instances:
            try:
                # The conversion is CPU-bound; a worker thread keeps health checks answering.
                async with self._one_at_a_time:
                    result = await asyncio.to_thread(
                        convert_stored_segment, segment, self.stereo_engine, self.storage
                    )
            except (InputRejected, InvalidKey, EngineError) as error:
                raise InvalidInput(str(error)) from None
            except StereoSpotError as error:
                raise InferenceError(str(error)) from None
            results.append(result)
        return PredictResponse(predictions=results).model_dump()
