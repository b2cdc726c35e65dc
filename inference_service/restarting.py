"""The model server of ``stereo-spot up``: started again on its port whenever it ends.

``up`` runs for days; its server may die under it (a crash in native code, the OOM killer, a
user's ``kill``). Nothing noticed: the jobs running then retried each segment against a dead
port for minutes, then failed, and every job after them too. Now the server is watched: when it
ends, ``up`` says so on its terminal and starts it again on the same port, which the runs going
on keep asking (a convert step waits for its server to listen, STEREO_SPOT_MODEL_WAIT_SECONDS),
so they go on. One that keeps dying is given up on, and the jobs fail with why.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from inference_service.launcher import (
    free_port,
    how_it_ended,
    model_server_log,
    refuse_an_engine_that_cannot_load,
    start_server_process,
    startup_timeout,
    stop_process,
    wait_until_ready,
)
from inference_service.scratch import ServerScratch, server_scratch
from stereo_spot.errors import StereoSpotError
from stereo_spot.settings import Settings

# A server that ends this many times within GIVE_UP_SECONDS is not started again: one that
# dies as it starts (its port taken, its memory short) would otherwise be restarted forever,
# each run waiting on it.
DEATHS_BEFORE_GIVING_UP = 3
GIVE_UP_SECONDS = 60.0


class RestartingServer:
    """A model server on a fixed port, started again whenever it ends until it is closed, or
    until it has ended ``DEATHS_BEFORE_GIVING_UP`` times within ``GIVE_UP_SECONDS``: from then
    on :meth:`raise_if_failed` raises why."""

    def __init__(
        self,
        settings: Settings,
        port: int,
        scratch: ServerScratch,
        say: Callable[[str], None],
        command: str = "stereo-spot up",
    ) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._command = command  # what to restart once it is given up on
        self._settings = settings
        self._port = port
        self._scratch = scratch
        self._say = say
        self._log_path = model_server_log(settings)
        self._lock = threading.Lock()  # the process, and whether it is being closed
        self._closing = False
        self._failure: StereoSpotError | None = None
        self._process = start_server_process(settings, port, scratch, self._log_path)
        self._watcher: threading.Thread | None = None

    def wait_until_ready(self) -> None:
        """Block until the first start's model is ready (raise if it never will be), then
        watch the server."""
        wait_until_ready(
            self.url, self._settings.model_name, self._process, startup_timeout(self._settings)
        )
        # Servers are started again from this thread.
        self._watcher = threading.Thread(target=self._watch, name="model-server-watch", daemon=True)
        self._watcher.start()

    def raise_if_failed(self) -> None:
        """Raise why the server is no longer started again, once it is not."""
        if self._failure is not None:
            raise self._failure

    def close(self) -> None:
        """Stop the server, and starting it again; return once it has ended."""
        with self._lock:
            self._closing = True
            process = self._process
        stop_process(process)
        if self._watcher is not None:
            self._watcher.join(timeout=30)

    def _watch(self) -> None:
        deaths: deque[float] = deque(maxlen=DEATHS_BEFORE_GIVING_UP)
        process, why = self._process, None
        while True:
            code = process.wait()
            with self._lock:
                if self._closing:
                    return
            deaths.append(time.monotonic())
            ended = why or f"The model server stopped ({how_it_ended(code)})"
            if len(deaths) == deaths.maxlen and deaths[-1] - deaths[0] <= GIVE_UP_SECONDS:
                self._give_up(ended)
                return
            self._say(f"{ended}; starting it again on port {self._port}.")
            with self._lock:
                if self._closing:
                    return
                process = self._process = start_server_process(
                    self._settings, self._port, self._scratch, self._log_path
                )
            why = self._start_failure(process)

    def _start_failure(self, process: subprocess.Popen) -> str | None:
        """Why the server started again did not become ready (None once it is): one that
        stays up unready (its model failed to load, the start timed out) is stopped, its end
        counted as a death."""
        try:
            wait_until_ready(
                self.url, self._settings.model_name, process, startup_timeout(self._settings)
            )
        except StereoSpotError as failure:
            if process.poll() is None:
                stop_process(process)
                return str(failure).rstrip(".")
        return None

    def _give_up(self, ended: str) -> None:
        times = DEATHS_BEFORE_GIVING_UP
        self._failure = StereoSpotError(
            f"The model server stopped {times} times within {GIVE_UP_SECONDS:g} s, so it is no "
            f"longer started again; its log is {self._log_path}. Fix that, then restart "
            f"{self._command}."
        )
        self._say(
            f"{ended}, {times} times within {GIVE_UP_SECONDS:g} s: it is not started again, and "
            f"jobs fail until {self._command} is restarted; its log is {self._log_path}."
        )


@contextmanager
def restarting_model_server(
    settings: Settings, say: Callable[[str], None], command: str = "stereo-spot up"
) -> Iterator[RestartingServer]:
    """A model server on a port of its own, started again when it ends (``say`` tells the
    operator, one line each time, and names ``command``, the one running it, as what to
    restart once it is given up on); yields once its model is ready, stops it on exit."""
    refuse_an_engine_that_cannot_load(settings)
    with server_scratch(Path(settings.data_dir)) as scratch:
        server = RestartingServer(settings, free_port(), scratch, say, command)
        try:
            server.wait_until_ready()
            yield server
        finally:
            server.close()
