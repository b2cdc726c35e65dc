"""A segment whose job is cancelled or deleted while the model server converts it: its result is
not stored (it would belong to no job, and a deleted job's files would come back)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from inference_service.engines import engine_from_name
from inference_service.payload import SegmentRequest
from inference_service.segment_conversion import convert_stored_segment
from stereo_spot import keys
from stereo_spot.domain import Layout
from stereo_spot.errors import InputRejected
from stereo_spot.storage.local import LocalStorage
from tests.media import make_clip


class _DeletedWhileConverting:
    """The classical engine, with the job's segments deleted (as a cancel or delete does) once
    its first picture is converted."""

    def __init__(self, storage: LocalStorage, key: str) -> None:
        self._engine = engine_from_name("classical")
        self.name = self._engine.name
        self._storage, self._key = storage, key

    def convert(self, frames, layout, params) -> Iterator[np.ndarray]:
        for number, packed in enumerate(self._engine.convert(frames, layout, params)):
            if number == 0:
                self._storage.delete_prefix(self._key)
            yield packed


def test_a_segment_deleted_while_it_converts_leaves_no_result(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "media")
    job_id = "cancelled_job_0123456789"
    source_key = keys.source_segment_key(job_id, 0, 1, Layout.ANAGLYPH)
    output_key = keys.converted_segment_key(job_id, 0)
    storage.put_file(make_clip(tmp_path / "segment.mp4", seconds=1, audio=False), source_key)
    request = SegmentRequest(
        job_id=job_id,
        segment_index=0,
        input_uri=storage.uri_for(source_key),
        output_uri=storage.uri_for(output_key),
    )

    with pytest.raises(InputRejected, match="was deleted while it was converted"):
        convert_stored_segment(request, _DeletedWhileConverting(storage, source_key), storage)

    assert not storage.exists(output_key)
    assert storage.list_prefix(f"jobs/{job_id}/") == []
