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
from stereo_spot.errors import (
    EngineError,
    InputRejected,
    InvalidKey,
    StereoSpotError,
    StoreUnavailable,
)
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
        # Set when the storage could not be used at load (StoreUnavailable's sentence).
        self.storage_error: str | None = None
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
        self.storage_error = self._storage_fault()
        if self.storage_error is not None:
            log.error("model %s cannot use its storage: %s", self.name, self.storage_error)
        return True

    def _storage_fault(self) -> str | None:
        """Why the storage cannot be used (a bucket that does not exist, an endpoint that does
        not answer), or None: a missing bucket otherwise reads as a missing segment."""
        try:
            self.storage.check()
        except StoreUnavailable as error:
            return str(error)
        return None

    async def _storage_checked(self) -> None:
        """503 with the reason while the storage cannot be used; asked again each time, so the
        server becomes ready once the bucket is created or the endpoint answers."""
        if self.storage_error is None:
            return
        self.storage_error = await asyncio.to_thread(self._storage_fault)
        if self.storage_error is not None:
            raise ModelNotReady(self.name, self.storage_error)

    async def healthy(self) -> bool:
        # kserve's readiness and predict endpoints answer a False from here with a fixed
        # "Model with name stereo is not ready." (503); raising that error with the load error
        # as its detail puts what to fix in the same 503 body.
        if self.load_error is not None:
            raise ModelNotReady(self.name, self.load_error)
        await self._storage_checked()
        return self.ready

    async def predict(self, payload, headers=None, response_headers=None):  # type: ignore[override]
        if self.stereo_engine is None:
            raise ModelNotReady(self.name, self.load_error or "The engine is not loaded.")
        await self._storage_checked()
        try:
            request = PredictRequest.model_validate(payload)
        except ValidationError as error:
            raise InvalidInput(_request_refusal(error)) from None
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


def _request_refusal(error: ValidationError) -> str:
    """The first thing wrong with a request, where it is, in one sentence."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"]
    if first["type"] == "int_parsing_size":
        # pydantic's "Unable to parse input string as an integer, exceeded maximum size" for a
        # number past what it reads (10**30), which was no string.
        message = "The number is out of range"
    return f"Invalid request at '{where}': {message}."
