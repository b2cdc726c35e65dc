"""A stand-in for the Kubeflow Pipelines API server, which cannot run on these machines.

A real HTTP server on 127.0.0.1 (``http.server`` in a thread) that answers the v2beta1 REST
endpoints kfp 2.17's ``kfp.Client`` calls to submit a run from a package, with the JSON shapes
``kfp_server_api`` deserializes, and records every request it receives:

* ``GET  /apis/v2beta1/healthz``                        (``Client()`` asks on construction)
* ``GET  /apis/v2beta1/experiments?filter=...``        (``create_experiment`` looks up by name)
* ``POST /apis/v2beta1/experiments``
* ``GET  /apis/v2beta1/runs?experiment_id=&filter=``   (``list_runs``, by display name)
* ``POST /apis/v2beta1/runs``                           (``run_pipeline``: spec + runtime config)
* ``GET  /apis/v2beta1/runs/{run_id}``                  (``get_run``)

Only EQUALS predicates on ``display_name`` are understood, which is all those calls send.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

API = "/apis/v2beta1"


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: Any


@dataclass
class KfpApiStub:
    requests: list[Received] = field(default_factory=list)
    experiments: dict[str, dict] = field(default_factory=dict)
    runs: dict[str, dict] = field(default_factory=dict)
    # Set to (status, message) to make POST /runs fail as the real server does (google.rpc.Status).
    refuse_runs: tuple[int, str] | None = None
    url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> KfpApiStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub._answer(self, "GET")

            def do_POST(self) -> None:
                stub._answer(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet; self.requests is the record

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- what the tests read --------------------------------------------------------------------

    def received(self, method: str, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == API + path]

    @property
    def created_runs(self) -> list[dict]:
        """Bodies of every POST /runs, accepted or not, in order."""
        return [r.body for r in self.received("POST", "/runs")]

    # -- the API --------------------------------------------------------------------------------

    def _answer(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parsed = urlparse(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        query = {name: values[-1] for name, values in parse_qs(parsed.query).items()}
        headers = {name.lower(): value for name, value in handler.headers.items()}
        request = Received(method, parsed.path, query, headers, body)
        with self._lock:
            self.requests.append(request)
            status, payload = self._route(request)
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, request: Received) -> tuple[int, dict]:
        path = request.path.removeprefix(API)
        if request.method == "GET" and path == "/healthz":
            return 200, {"multi_user": False, "pipeline_store": "database"}
        if request.method == "GET" and path == "/experiments":
            found = _matching(self.experiments.values(), request.query.get("filter"))
            return 200, {"experiments": found, "total_size": len(found)} if found else {}
        if request.method == "POST" and path == "/experiments":
            experiment = {
                "experiment_id": str(uuid.uuid4()),
                "display_name": request.body["display_name"],
                "description": request.body.get("description") or "",
                "namespace": request.body.get("namespace") or "",
                "created_at": _now(),
                "storage_state": "AVAILABLE",
            }
            self.experiments[experiment["experiment_id"]] = experiment
            return 200, experiment
        if request.method == "GET" and path == "/runs":
            runs = [
                run
                for run in self.runs.values()
                if run.get("experiment_id")
                == request.query.get("experiment_id", run["experiment_id"])
            ]
            found = _matching(runs, request.query.get("filter"))
            return 200, {"runs": found, "total_size": len(found)} if found else {}
        if request.method == "POST" and path == "/runs":
            if self.refuse_runs:
                code, message = self.refuse_runs
                return code, {"error": message, "message": message, "code": 3, "details": []}
            if request.body.get("experiment_id") not in self.experiments:
                return 404, {"error": "experiment not found", "message": "experiment not found"}
            run = {
                **request.body,
                "run_id": str(uuid.uuid4()),
                "created_at": _now(),
                "scheduled_at": _now(),
                "state": "PENDING",
                "storage_state": "AVAILABLE",
            }
            self.runs[run["run_id"]] = run
            return 200, run
        if request.method == "POST" and path.startswith("/runs/") and path.endswith(":terminate"):
            run = self.runs.get(path.removeprefix("/runs/").removesuffix(":terminate"))
            if run is None:
                return 404, {"error": "run not found", "message": "run not found", "code": 5}
            run["state"] = "CANCELING"
            return 200, {}
        if request.method == "GET" and path.startswith("/runs/"):
            run = self.runs.get(path.removeprefix("/runs/"))
            if run is None:
                return 404, {"error": "run not found", "message": "run not found", "code": 5}
            return 200, run
        return 404, {"error": f"no route {request.method} {request.path}", "code": 5}


def _matching(items: Any, filter_json: str | None) -> list[dict]:
    items = list(items)
    if not filter_json:
        return items
    for predicate in json.loads(filter_json).get("predicates", []):
        if predicate.get("operation") not in (1, "EQUALS"):
            raise ValueError(f"the stub understands EQUALS only, not {predicate}")
        key, value = predicate["key"], predicate.get("stringValue", predicate.get("string_value"))
        items = [item for item in items if item.get(key) == value]
    return items


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
