"""The V1 predict payload (DESIGN.md, Inference service contract), as pydantic models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from stereo_spot.domain import Layout, StereoParams
from stereo_spot.keys import MAX_SEGMENTS


class SegmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str
    segment_index: int = Field(ge=0, lt=MAX_SEGMENTS)
    input_uri: str
    output_uri: str
    layout: Layout = Layout.ANAGLYPH
    params: StereoParams = Field(default_factory=StereoParams)
    # The engine the caller expects; a server hosting another engine refuses the request.
    engine: str | None = None


class SegmentResult(BaseModel):
    output_uri: str
    frames: int
    seconds: float
    engine: str
    # Pictures that could not be decoded (a damaged source); the picture before stands in for
    # each, so ``frames`` still counts one a packet.
    damaged_frames: int = 0


class PredictRequest(BaseModel):
    instances: list[SegmentRequest] = Field(min_length=1, max_length=16)


class PredictResponse(BaseModel):
    predictions: list[SegmentResult]
