"""The convert step waits for a model server that is not listening yet, over real sockets."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from components.convert import _post_when_listening
from inference_service.launcher import free_port


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
    # Raised, for the caller to turn into ModelUnavailable and KFP's retry.
    with pytest.raises(httpx.ConnectError):
        _post_when_listening(f"http://127.0.0.1:{free_port()}/v1/models/x:predict", {}, 0.5)
