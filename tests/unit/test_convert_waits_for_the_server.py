"""The convert step waits for a model server that is not listening yet, over real sockets."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from components.convert import SegmentFailed, _post_when_listening, convert_segment
from inference_service.launcher import free_port
from stereo_spot import keys
from stereo_spot.domain import Job, JobStatus
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from, storage_from


class _Predict(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = json.dumps({"predictions": json.loads(body)["instances"]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_that_starts_listening_late_gets_the_request():
    port = free_port()
    server: list[HTTPServer] = []

    def start_late() -> None:
        time.sleep(1.0)  # a model server still loading its weights
        server.append(HTTPServer(("127.0.0.1", port), _Predict))
        server[0].serve_forever()

    threading.Thread(target=start_late, daemon=True).start()
    try:
        response = _post_when_listening(
            f"http://127.0.0.1:{port}/v1/models/stereo:predict", {"instances": [{"a": 1}]}, 30
        )
        assert response.status_code == 200
        assert response.json() == {"predictions": [{"a": 1}]}
    finally:
        if server:
            server[0].shutdown()


def test_nothing_listening_past_the_wait_is_a_connection_error():
    # Raised, for the caller to turn into ModelUnavailable and ask again after a while.
    with pytest.raises(httpx.ConnectError):
        _post_when_listening(f"http://127.0.0.1:{free_port()}/v1/models/x:predict", {}, 0.5)


class _Slow(_Predict):
    def do_POST(self) -> None:
        time.sleep(2.0)  # a full-size diffusion model on a CPU: hours, in small
        super().do_POST()


def test_a_segment_not_answered_in_time_says_the_setting_that_bounds_the_wait(tmp_path):
    # The wait was an hour, fixed: a full-size diffusion model on a CPU (hours a segment, as
    # docs/MODELS.md says) could never finish one.
    settings = Settings(backend="local", data_dir=tmp_path)
    jobs, storage = job_store_from(settings), storage_from(settings)
    job = jobs.create(Job(source_name="film.mp4"))
    for status in (JobStatus.UPLOADED, JobStatus.QUEUED, JobStatus.CHUNKING, JobStatus.PROCESSING):
        jobs.transition(job.job_id, status)
    segment = {
        "segment_index": 0,
        "input_uri": storage.uri_for(keys.source_segment_key(job.job_id, 0, 1, "sbs")),
        "output_uri": storage.uri_for(keys.converted_segment_key(job.job_id, 0)),
    }
    port = free_port()
    server = HTTPServer(("127.0.0.1", port), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(SegmentFailed) as raised:
            convert_segment(
                job.job_id, segment, "sbs", {}, "classical", f"http://127.0.0.1:{port}",
                "stereo", storage, jobs, wait_seconds=0, answer_seconds=0.5, retry_seconds=(),
            )  # fmt: skip
    finally:
        server.shutdown()

    said = (
        f"The model server at http://127.0.0.1:{port} did not answer for segment 0 within "
        "0.5 s (STEREO_SPOT_SEGMENT_TIMEOUT_SECONDS)."
    )
    assert str(raised.value) == said
    job = jobs.get(job.job_id)
    assert job.status is JobStatus.FAILED and job.error == said, "the reason the job ends with"
