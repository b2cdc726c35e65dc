"""One segment converted in this process by the model server's own code, for the benchmarks.

``convert_stored_segment`` is what the model server runs for a predict request (decode, engine,
encode, storage), here without the HTTP server around it, on local storage in a work folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def convert_as_the_server_does(
    clip: Path, work: Path, layout: str, engine: Any, params: Any = None
) -> Any:
    """Convert ``clip`` to ``layout`` as one segment with ``engine`` (and ``params``, a
    StereoParams, or the defaults); the SegmentResult."""
    from inference_service.payload import SegmentRequest
    from inference_service.segment_conversion import convert_stored_segment
    from stereo_spot import keys
    from stereo_spot.domain import Layout, StereoParams, new_job_id
    from stereo_spot.storage.local import LocalStorage

    storage = LocalStorage(work / "in-process")
    # The keys a pipeline gives: the server converts nothing else.
    job_id = new_job_id()
    source = keys.source_segment_key(job_id, 0, 1, Layout(layout))
    storage.put_file(clip, source)
    request = SegmentRequest(
        job_id=job_id,
        segment_index=0,
        input_uri=storage.uri_for(source),
        output_uri=storage.uri_for(keys.converted_segment_key(job_id, 0)),
        layout=layout,
        params=params or StereoParams(),
    )
    return convert_stored_segment(request, engine, storage)
