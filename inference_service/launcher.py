"""Start a model server subprocess on 127.0.0.1 for the embedded stack and the CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from inference_service.scratch import ServerScratch, server_scratch
from stereo_spot.domain import LEARNED_ENGINES
from stereo_spot.errors import StereoSpotError
from stereo_spot.settings import Settings

if TYPE_CHECKING:
    import httpx

STARTUP_TIMEOUT_SECONDS = 120
# A learned engine's first start may download its weights (StereoCrafter's are several GB)
# before it listens; 120 s gave up on a download still going.
LEARNED_STARTUP_TIMEOUT_SECONDS = 1800


def startup_timeout(settings: Settings) -> float:
    """How long a server of ``settings.engine`` started here may take to load its model."""
    if settings.model_start_seconds:
        return settings.model_start_seconds
    learned = settings.engine in LEARNED_ENGINES
    return LEARNED_STARTUP_TIMEOUT_SECONDS if learned else STARTUP_TIMEOUT_SECONDS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(
    base_url: str, model_name: str, process: subprocess.Popen | None, timeout: float
) -> None:
    # httpx is imported here, in the thread that watches the start, so the server process is
    # started ~0.1 s sooner (its start-up is on the critical path of a CLI conversion).
    import httpx

    deadline = time.monotonic() + timeout
    url = f"{base_url}/v1/models/{model_name}"
    # One client for every attempt: each new one builds an SSL context (~20 ms of CPU).
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise StereoSpotError(
                    f"The model server exited during start-up (code {process.returncode})."
                )
            try:
                response = client.get(url)
                if response.status_code == 200 and response.json().get("ready"):
                    return
            except httpx.HTTPError:
                pass
            else:
                if response.status_code == 503:
                    # The server loads its model before it listens: not-ready now is not-ready
                    # for good, and the body says why (StereoModel.healthy).
                    raise StereoSpotError(
                        f"The model server at {base_url} is up but its model failed to load: "
                        f"{not_ready_reason(response)}"
                    )
            time.sleep(0.3)
    raise StereoSpotError(
        f"The model server at {base_url} did not become ready in {timeout:g} s "
        "(STEREO_SPOT_MODEL_START_SECONDS allows longer: a learned engine's first start downloads "
        "its weights)."
    )


def how_it_ended(returncode: int) -> str:
    """How a child process ended, from its return code: "killed by SIGKILL, signal 9" or
    "exit code 1" (the one wording for the model server and the pipeline runner)."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}, signal {-returncode}"
    except ValueError:
        return f"killed by signal {-returncode}"


def not_ready_reason(response: httpx.Response) -> str:
    """The error sentence of a kserve 503 ("Model with name stereo is not ready. <reason>")."""
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return response.text.strip() or f"HTTP {response.status_code}"


class StartingServer:
    """A model server that was started and may still be loading its model.

    Its ``url`` is known at once, so work that does not need the model (storing and probing the
    upload, chunking) runs while the weights load; a thread watches the start-up meanwhile.
    """

    def __init__(
        self,
        process: subprocess.Popen,
        url: str,
        model_name: str,
        timeout: float = STARTUP_TIMEOUT_SECONDS,
        log_path: Path | None = None,
    ) -> None:
        self.url = url
        self._process = process
        self._log_path = log_path or "not kept"
        self._released = False
        self._failure: StereoSpotError | None = None
        self._done = threading.Event()
        threading.Thread(
            target=self._watch,
            args=(process, model_name, timeout),
            name="model-server-start",
            daemon=True,
        ).start()

    def _watch(self, process: subprocess.Popen, model_name: str, timeout: float) -> None:
        try:
            wait_until_ready(self.url, model_name, process, timeout)
        except StereoSpotError as failure:
            self._failure = failure
        finally:
            self._done.set()

    def raise_if_failed(self) -> None:
        """Raise that the server stopped (at any time: a crash while converting would otherwise
        leave its convert steps waiting and retrying for minutes), or its start-up failure
        (model failed to load, timed out), if any yet; a server released (nothing left to
        convert) has not failed."""
        if self._released:
            return
        code = self._process.poll()
        if code is not None:
            # Whether it died loading or converting (a busy server can answer its readiness
            # check late), the log says where: faulthandler's stack for a crash.
            raise StereoSpotError(
                f"The model server stopped ({how_it_ended(code)}); its log is {self._log_path}."
            )
        if self._failure is not None:
            raise self._failure

    def wait(self) -> None:
        """Block until the model is ready; raise if it never will be."""
        self._done.wait()
        self.raise_if_failed()

    def release(self) -> None:
        """Ask the server to stop now, without waiting (it takes ~0.5 s to wind down); the
        context that started it still waits for it to be gone."""
        self._released = True
        if self._process.poll() is None:
            self._process.terminate()


@contextmanager
def starting_model_server(settings: Settings, port: int | None = None) -> Iterator[StartingServer]:
    """Run ``stereo-spot serve-model`` in a child process and yield as soon as it is started
    (see ``StartingServer``); stop it on exit."""
    refuse_an_engine_that_cannot_load(settings)
    port = port or free_port()
    log_path = model_server_log(settings)
    with server_scratch(Path(settings.data_dir)) as scratch:
        process = start_server_process(settings, port, scratch, log_path)
        try:
            yield StartingServer(
                process, f"http://127.0.0.1:{port}", settings.model_name,
                timeout=startup_timeout(settings), log_path=log_path,
            )  # fmt: skip
        finally:
            stop_process(process)


def refuse_an_engine_that_cannot_load(settings: Settings) -> None:
    """Refuse an engine that cannot load (its packages missing, its weights unnamed or not
    there) before anything starts: the server would only say so once it had failed to load,
    and ``convert`` would have made a job by then that could never run."""
    if settings.engine in LEARNED_ENGINES:
        # Imported only for them: the engines' package (numpy) would delay every server's start.
        from inference_service.engines.weights import refuse_what_cannot_load as refuse

        refuse(settings.engine, settings.weights)


def model_server_log(settings: Settings) -> Path:
    """Where the output of the model servers started over ``settings.data_dir`` goes."""
    log_path = Path(settings.data_dir) / "logs" / "model-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    return log_path


def start_server_process(
    settings: Settings, port: int, scratch: ServerScratch, log_path: Path
) -> subprocess.Popen:
    """Start ``python -m inference_service`` on ``port``, its output appended to ``log_path``,
    its temporary files in ``scratch`` (emptied first: a server before it on the same folder,
    killed in the middle of a segment, could not remove that segment's work).

    It holds the scratch folder's lock with whoever started it (a later start removes the
    folder only once both have ended), and ends when this process does, however it ends
    (``--parent-pid``, ``stereo_spot/parent_watch.py``). It leads a session of its own, so that a terminal's Ctrl-C reaches only its starter, which stops it in turn:
    ``up``, which starts its server again when it ends, saw it end of the Ctrl-C while it was
    itself shutting down, and started it again."""
    env = {**os.environ, **settings.as_environment(), "TMPDIR": str(scratch.emptied())}
    env.pop("STEREO_SPOT_MODEL_URL", None)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "inference_service", "--port", str(port)),
                *("--parent-pid", str(os.getpid())),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            pass_fds=(scratch.lock_fd,),
            start_new_session=True,
        )


@contextmanager
def running_model_server(settings: Settings, port: int | None = None) -> Iterator[str]:
    """Run ``stereo-spot serve-model`` in a child process; yield its base URL once its model is
    ready; stop it on exit."""
    with starting_model_server(settings, port) as server:
        server.wait()
        yield server.url


# How long a server asked to stop may take before it is killed. One with no request in flight
# ends in ~0.5 s; one still converting a segment waits for it (uvicorn's graceful shutdown),
# which for a learned engine is minutes, and the run that asked for it has stopped: a Ctrl-C
# then took 15 s to end `convert` or `jobs retry`.
STOP_GRACE_SECONDS = 3.0


def stop_process(process: subprocess.Popen) -> None:
    """Ask a server process to stop; kill it, with the ffmpeg processes of a segment it was
    converting (its process group, where it leads one), if it has not within
    ``STOP_GRACE_SECONDS``."""
    process.terminate()
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        _kill_with_its_group(process)
        process.wait()


def _kill_with_its_group(process: subprocess.Popen) -> None:
    try:
        leads_a_group = os.getpgid(process.pid) == process.pid
        if leads_a_group:  # as start_server_process starts it; never the caller's own group
            os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return  # ended meanwhile
    process.kill()
