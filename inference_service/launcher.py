"""Start a model server subprocess on 127.0.0.1 for the embedded stack and the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from stereo_spot.errors import StereoSpotError
from stereo_spot.settings import Settings

STARTUP_TIMEOUT_SECONDS = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(
    base_url: str, model_name: str, process: subprocess.Popen | None, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    url = f"{base_url}/v1/models/{model_name}"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StereoSpotError(
                f"The model server exited during start-up (code {process.returncode})."
            )
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200 and response.json().get("ready"):
                return
        except httpx.HTTPError:
            pass
        else:
            if response.status_code == 503:
                # The server loads its model before it listens: not-ready now is not-ready for
                # good, and the body says why (StereoModel.healthy).
                raise StereoSpotError(
                    f"The model server at {base_url} is up but its model failed to load: "
                    f"{not_ready_reason(response)}"
                )
        time.sleep(0.3)
    raise StereoSpotError(
        f"The model server at {base_url} did not become ready in {timeout:.0f} s."
    )


def not_ready_reason(response: httpx.Response) -> str:
    """The error sentence of a kserve 503 ("Model with name stereo is not ready. <reason>")."""
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return response.text.strip() or f"HTTP {response.status_code}"


@contextmanager
def running_model_server(settings: Settings, port: int | None = None) -> Iterator[str]:
    """Run ``stereo-spot serve-model`` in a child process; yield its base URL; stop it on exit."""
    port = port or free_port()
    env = {**os.environ, **settings.as_environment()}
    env.pop("STEREO_SPOT_MODEL_URL", None)
    log_path = Path(settings.data_dir) / "logs" / "model-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "inference_service", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base_url, settings.model_name, process, STARTUP_TIMEOUT_SECONDS)
        yield base_url
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen) -> None:
    """Ask a server process to stop; kill it if it has not within 15 s."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
