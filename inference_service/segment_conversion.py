"""Convert one stored segment: fetch it, run the engine frame by frame, store the result.

Plain code (no KServe) so the model server and tests share it.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np

from inference_service.engines.base import StereoEngine
from inference_service.payload import SegmentRequest, SegmentResult
from inference_service.read_ahead import read_ahead
from stereo_spot import keys
from stereo_spot.disk_space import SEGMENT, full_disk_said
from stereo_spot.domain import Layout, StereoParams
from stereo_spot.errors import (
    EngineError,
    InputRejected,
    InvalidKey,
    ObjectNotFound,
    StereoSpotError,
)
from stereo_spot.media.frames import Encoding, SegmentWriter, TimedFrame, open_video
from stereo_spot.media.yuv import rgb_to_yuv420p, yuv420p_to_rgb
from stereo_spot.storage import ObjectStorage

log = logging.getLogger(__name__)


def warm_up(engine: StereoEngine) -> None:
    """Run a few tiny frames through the decoder's colour conversion, the engine in the layouts
    that use their own kernels, and the encoder's colour conversion: the first call of each
    compiled kernel in a process loads it (~0.3 s in all), which would otherwise land on the
    first segment."""
    rng = np.random.default_rng(0)
    # Two frames: enough for the temporal code paths, few for a learned engine on a CPU.
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(2)]
    grey = np.full((48, 64), 128, np.uint8), np.full((24, 32), 128, np.uint8)
    yuv420p_to_rgb(grey[0], grey[1], grey[1], 64, 48)
    for layout in (Layout.ANAGLYPH, Layout.HALF_SBS):
        for packed in engine.convert(frames, layout, StereoParams()):
            rgb_to_yuv420p(packed)


class StorageMismatch(StereoSpotError):
    """A request names a segment in storage other than this server's: the caller and the server
    are configured with different data folders or buckets (a fault of the deployment, not of
    the request, which is why it is not an InputRejected)."""


def segment_keys(request: SegmentRequest, storage: ObjectStorage) -> tuple[str, str]:
    """The source segment key the request reads and the converted segment key it writes.

    A request may read only a source segment of its own job and index, in its layout, and write
    only that segment's converted key (DESIGN.md, object keys): anything else would let a caller
    overwrite a job's upload, the segment itself or another job's results. Refused with
    InvalidKey (400): a key is never guessed or repaired.
    """
    job_id = keys.validate_job_id(request.job_id)
    index = request.segment_index
    input_key = _key_in(storage, request.input_uri)
    output_key = _key_in(storage, request.output_uri)
    try:
        source = keys.parse_source_segment_key(input_key)
    except InvalidKey:
        raise InvalidKey(
            f"The input {input_key} is not a source segment "
            "(segments/{job_id}/{index:05d}_{total:05d}_{layout}.mp4)."
        ) from None
    if (source.job_id, source.segment_index) != (job_id, index):
        raise InvalidKey(f"The input {input_key} is not segment {index} of job {job_id}.")
    if source.layout is not request.layout:
        raise InvalidKey(
            f"The input {input_key} was split for layout {source.layout.value}, "
            f"not {request.layout.value}."
        )
    expected = keys.converted_segment_key(job_id, index)
    if output_key != expected:
        raise InvalidKey(
            f"The output of segment {index} of job {job_id} is {expected}, not {output_key}."
        )
    return input_key, output_key


def _key_in(storage: ObjectStorage, uri: str) -> str:
    """``uri``'s key in ``storage``. A URI that names one of the pipeline's segment keys in
    another folder or bucket is a server configured apart from its pipeline (StorageMismatch,
    a 5xx: nothing the request can change); any other foreign URI is refused (InvalidKey)."""
    try:
        return storage.key_from_uri(uri)
    except InvalidKey:
        parsed = urlparse(uri)
        if parsed.scheme not in ("file", "s3") or not _ends_in_segment_key(unquote(parsed.path)):
            raise
        own = storage.uri_for("segments").removesuffix("/segments")
        raise StorageMismatch(
            f"This model server reads and writes {own}, not where {uri} lies: start it with the "
            "pipeline's STEREO_SPOT_DATA_DIR (or STEREO_SPOT_BUCKET and STEREO_SPOT_BACKEND)."
        ) from None


def _ends_in_segment_key(path: str) -> bool:
    parts = path.split("/")
    for length, parse in (
        (3, keys.parse_source_segment_key),
        (4, keys.parse_converted_segment_key),
    ):
        try:
            parse("/".join(parts[-length:]))
            return True
        except (InvalidKey, ValueError):
            pass
    return False


def convert_stored_segment(
    request: SegmentRequest, engine: StereoEngine, storage: ObjectStorage
) -> SegmentResult:
    """Read ``request.input_uri``, write the packed stereo segment to ``request.output_uri``.

    Writing is idempotent: the output key is overwritten as a whole, never appended to.
    """
    if request.engine and request.engine != engine.name:
        raise EngineError(
            f"This model server runs the '{engine.name}' engine, not '{request.engine}'."
        )
    input_key, output_key = segment_keys(request, storage)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stereo-segment-") as tmp:
        # A segment a full disk cut short reads back as a damaged one: say the disk.
        with full_disk_said("The model server", needs=SEGMENT):
            source = Path(tmp) / "in.mp4"
            target = Path(tmp) / "out.mp4"
            try:
                storage.get_file(input_key, source, read_only=True)
            except ObjectNotFound:
                raise InputRejected(f"The segment {input_key} does not exist.") from None
            source_format, frames = open_video(source, request.params.max_height, name=input_key)
            width, height = request.layout.output_size(source_format.width, source_format.height)
            # Side by side and top-bottom: the engine renders the right eye alone and the writer
            # takes the left eye from the decoded frame, with no packed frame in between.
            eyes = request.layout in (Layout.SBS, Layout.TAB)
            # Each input frame in order (engines yield one output frame per input frame) with its
            # pts rebased so every converted segment starts at 0: the segment muxer may start a
            # segment late (B-frame delay), which the concat demuxer would turn into a gap.
            in_order: deque[tuple[TimedFrame | None, int | None]] = deque()
            first_pts: list[int] = []
            damaged: list[int | None] = []  # when pictures that could not be decoded were due

            def rgb_frames() -> Iterator[np.ndarray]:
                for frame in frames:
                    if frame.pts is not None and not first_pts:
                        first_pts.append(frame.pts)
                    pts = None if frame.pts is None else max(0, frame.pts - first_pts[0])
                    if frame.stand_in:
                        damaged.append(pts)
                    # The decoded picture is kept only where the writer copies it (its buffer is
                    # the decoder's: ~3 MB a 1080p frame for every frame in flight).
                    in_order.append((frame if eyes else None, pts))
                    yield frame.rgb

            count = 0
            with SegmentWriter(
                target, source_format, width, height, Encoding.of(request.params)
            ) as writer:
                # Decode, engine and encode run in three threads, overlapping (see read_ahead).
                decoded = read_ahead(rgb_frames(), name="decode")
                if eyes:
                    rendered = engine.right_views(decoded, request.params)
                else:
                    rendered = engine.convert(decoded, request.layout, request.params)
                outputs = read_ahead(rendered, name="engine")
                try:
                    for output in outputs:
                        frame, pts = in_order.popleft()
                        if frame is not None:
                            writer.write_eyes(frame, output, pts, request.layout)
                        else:
                            writer.write(output, pts)
                        count += 1
                finally:
                    # The engine thread first, then the decoder it reads from.
                    outputs.close()
                    decoded.close()
            if count == 0:
                raise InputRejected(f"The segment {input_key} holds no decodable frames.")
            if damaged:
                log.warning(
                    "%s: %d damaged pictures could not be decoded; the picture before stands in "
                    "for each (at %s s of the segment)",
                    input_key, len(damaged), ", ".join(
                        "?" if pts is None else f"{float(pts * source_format.time_base):.2f}"
                        for pts in damaged[:10]
                    ),
                )  # fmt: skip
        if not storage.exists(input_key):
            # Its job was cancelled or deleted while this segment converted (both delete the
            # source segments first): stored now, the result would belong to no job and stay.
            raise InputRejected(
                f"The segment {input_key} was deleted while it was converted (its job was "
                "cancelled or deleted); its result is not stored."
            )
        storage.put_file(target, output_key, move=True)
    return SegmentResult(
        output_uri=request.output_uri,
        frames=count,
        seconds=round(time.perf_counter() - started, 3),
        engine=engine.name,
        damaged_frames=len(damaged),
    )
