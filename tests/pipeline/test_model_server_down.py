"""The convert step with the model server down: a short outage is ridden out, one that outlasts
the step's tries fails the job with the reason, and the loop's other segments then skip at once
(each had spent the whole retry schedule, so a run took longer the longer its video)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from components.convert import SegmentFailed, convert_segment
from inference_service.launcher import free_port
from stereo_spot import keys
from stereo_spot.domain import Job, JobStatus
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from, storage_from


@pytest.fixture
def processing(tmp_path: Path):
    settings = Settings(backend="local", data_dir=tmp_path)
    jobs, storage = job_store_from(settings), storage_from(settings)
    job = jobs.create(Job(source_name="film.mp4"))
    for status in (JobStatus.UPLOADED, JobStatus.QUEUED, JobStatus.CHUNKING, JobStatus.PROCESSING):
        jobs.transition(job.job_id, status)
    jobs.update(job.job_id, total_segments=4)
    return job.job_id, jobs, storage


def _segment(storage, job_id: str, index: int) -> dict:
    return {
        "segment_index": index,
        "input_uri": storage.uri_for(keys.source_segment_key(job_id, index, 4, "anaglyph")),
        "output_uri": storage.uri_for(keys.converted_segment_key(job_id, index)),
    }


def _convert(job_id, jobs, storage, index: int, url: str):
    return convert_segment(
        job_id, _segment(storage, job_id, index), "anaglyph", {}, "classical", url, "stereo",
        storage, jobs, wait_seconds=0, retry_seconds=(0.05, 0.05),
    )  # fmt: skip


class _Flaky(BaseHTTPRequestHandler):
    """503 (a replica restarting) for the first ``failures`` requests, then converted."""

    failures = 0
    asked: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.asked.append(body["instances"][0]["segment_index"])
        if len(self.asked) <= self.failures:
            status, answer = 503, {"error": "Model with name stereo is not ready."}
        else:
            status, answer = 200, {"predictions": [{"output_uri": "x", "damaged_frames": 0}]}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _server(failures: int) -> Iterator[tuple[str, list[int]]]:
    handler = type("Handler", (_Flaky,), {"failures": failures, "asked": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.asked
    finally:
        server.shutdown()


def test_an_outage_within_the_tries_is_ridden_out(processing) -> None:
    job_id, jobs, storage = processing
    with _server(failures=2) as (url, asked):
        assert _convert(job_id, jobs, storage, 0, url) == "x"
    assert asked == [0, 0, 0]
    job = jobs.get(job_id)
    assert job.status is JobStatus.PROCESSING and job.completed_segments == 1


def test_a_server_down_past_the_tries_fails_the_job_and_the_rest_skip(processing) -> None:
    job_id, jobs, storage = processing
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SegmentFailed) as failed:
        _convert(job_id, jobs, storage, 0, dead)
    said = (
        f"The model server at {dead} could not be reached (ConnectError) "
        "(asked 3 times over 0.1 s)."
    )
    assert str(failed.value) == said
    job = jobs.get(job_id)
    assert job.status is JobStatus.FAILED and job.error == said

    # The loop's next segments (and KFP's retry of this one) ask no server and end at once.
    with _server(failures=0) as (url, asked):
        for index in (0, 1, 2, 3):
            _convert(job_id, jobs, storage, index, url)
    assert asked == []
    assert jobs.get(job_id).error == said
