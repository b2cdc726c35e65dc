"""``stereo-spot portal`` and ``stereo-spot up``: the web portal, alone or with the embedded stack.

``up`` = model server subprocess + local runner worker + portal over one data dir, the way a
laptop runs it; ``portal`` = the portal over whatever backend is configured, submitting runs to
Kubeflow Pipelines when ``STEREO_SPOT_KFP_HOST`` is set, else with a local runner (and a model
server of its own when ``STEREO_SPOT_MODEL_URL`` is unset).
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import subprocess
import sys
import threading
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Protocol

from stereo_spot.cli.data_folder_claim import claim_data_folder
from stereo_spot.cli.stereo_options import DATA_DIR_DEFAULT, data_folder, port_number
from stereo_spot.domain import Job
from stereo_spot.errors import JobNotFound, RunInProgress, StereoSpotError
from stereo_spot.jobs import JobStore
from stereo_spot.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    portal = subparsers.add_parser(
        "portal",
        help="run the web portal over the configured backend",
        description="Run the web portal over the configured backend (STEREO_SPOT_BACKEND): "
        "local files and SQLite in the data folder (STEREO_SPOT_DATA_DIR, else ~/.stereo-spot), "
        "or S3 and DynamoDB. Runs go to Kubeflow Pipelines when STEREO_SPOT_KFP_HOST is set, "
        "else to a local runner (with a model server of its own unless STEREO_SPOT_MODEL_URL "
        "names one).",
    )
    _add_address_options(portal)
    portal.set_defaults(func=run_portal)

    up = subparsers.add_parser(
        "up",
        help="the embedded stack on this machine: portal + model server + local runner",
        description="Run the embedded stack on this machine: the web portal, a model server "
        "and a local runner over one data folder. Open the address it prints in a browser.",
    )
    _add_address_options(up)
    up.add_argument(
        "--data-dir",
        type=data_folder,
        help=f"where media, jobs and logs go ({DATA_DIR_DEFAULT})",
    )
    up.set_defaults(func=run_up)


def _add_address_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default %(default)s: this machine only; 0.0.0.0 for all)",
    )
    parser.add_argument(
        "--port",
        type=port_number,
        default=8000,
        help="port to listen on, 0 for any free one (default %(default)s)",
    )


def run_portal(args: argparse.Namespace) -> int:
    return serve(Settings(), args.host, args.port, "stereo-spot portal")


def run_up(args: argparse.Namespace) -> int:
    configured = Settings(**({"data_dir": args.data_dir.resolve()} if args.data_dir else {}))
    # ``up`` is the laptop's stack whatever the environment says; a shell set up for the AWS
    # backend or a cluster (docs/AWS.md) would otherwise see its settings ignored without a word.
    ignored = [
        name
        for name, is_set in (
            ("STEREO_SPOT_BACKEND=aws", configured.backend == "aws"),
            ("STEREO_SPOT_KFP_HOST", bool(configured.kfp_host)),
        )
        if is_set
    ]
    if ignored:
        print(
            f"note: `stereo-spot up` ignores {' and '.join(ignored)}: it keeps media and jobs in "
            f"{configured.data_dir} and converts on this machine; `stereo-spot portal` is the "
            "command for those settings.",
            file=sys.stderr,
            flush=True,
        )
    local = configured.model_copy(update={"backend": "local", "kfp_host": None})
    return serve(local, args.host, args.port, "stereo-spot up")


class ModelServerHealth(Protocol):
    def raise_if_failed(self) -> None:
        """Raise why the model server can no longer convert, once it cannot."""


# How often a run looks whether its model server has been given up on.
SERVER_CHECK_SECONDS = 1.0


class ChildProcessRuns:
    """Runs each job in its own ``python -m pipelines`` process and waits for it.

    A child process keeps kfp.local's process-wide state (``local.init``, the environment it
    writes) out of the portal, and lets shutdown stop a conversion in progress.
    """

    def __init__(
        self, settings: Settings, jobs: JobStore, model_server: ModelServerHealth | None = None
    ) -> None:
        self._settings = settings
        self._jobs = jobs
        self._model_server = model_server
        self._lock = threading.Lock()
        self._runner: tuple[subprocess.Popen, Path] | None = None  # the process and its log
        self._job_id: str | None = None
        self._cancelled: set[str] = set()
        self._stopped = False

    def run(self, job_id: str) -> None:
        from pipelines.local_runner import drop_run_folder, start_job_process, stop_job_process

        with self._lock:
            if self._stopped:
                raise StereoSpotError("The portal is shutting down.")
            if job_id in self._cancelled:
                raise StereoSpotError("The conversion was cancelled.")
            if self._model_server is not None:
                self._model_server.raise_if_failed()  # a job after it was given up on
            process, log_path = start_job_process(self._settings, job_id)
            self._runner, self._job_id = (process, log_path), job_id
        try:
            code = self._wait(process, log_path)
        finally:
            # A runner that ended by itself (a cancelled job) may leave a task it was starting.
            stop_job_process(process, log_path)
            with self._lock:
                self._runner = self._job_id = None
            with suppress(JobNotFound):  # deleted meanwhile: its delete took the folder
                drop_run_folder(self._settings, self._jobs.get(job_id))
        if code == RunInProgress.exit_code:  # a `convert` or `jobs retry` on this machine has it
            from pipelines.local_runner import being_converted, run_in_progress

            holder = run_in_progress(self._settings, job_id)
            raise RunInProgress(f"{being_converted(job_id, holder)}.")
        if code != 0:
            job = self._jobs.get(job_id)
            raise StereoSpotError(
                job.error or f"The conversion stopped (exit code {code}); see {log_path}."
            )

    def _wait(self, process: subprocess.Popen, log_path: Path) -> int:
        """The runner's exit code, once it has ended; if the model server is given up on
        meanwhile, the run is stopped and why is raised (its steps would otherwise retry each
        segment against a dead port for minutes)."""
        if self._model_server is None:
            return process.wait()
        while True:
            try:
                return process.wait(timeout=SERVER_CHECK_SECONDS)
            except subprocess.TimeoutExpired:
                pass
            try:
                self._model_server.raise_if_failed()
            except StereoSpotError:
                _stop((process, log_path))
                raise

    def stop(self, job_id: str) -> None:
        """Stop the run of ``job_id`` (cancelled): now if it is running, at once if it starts."""
        with self._lock:
            self._cancelled.add(job_id)
            runner = self._runner if self._job_id == job_id else None
        _stop(runner)

    def forget(self, job_id: str) -> None:
        from pipelines.local_runner import forget_run

        forget_run(self._settings, job_id)

    def stopped_part_way(self, job: Job) -> bool:
        from pipelines.local_runner import stopped_part_way

        return stopped_part_way(self._settings, job)

    def terminate(self) -> None:
        with self._lock:
            self._stopped = True
            runner = self._runner
        _stop(runner)


def _stop(runner: tuple[subprocess.Popen, Path] | None) -> None:
    """Stop a runner and its tasks as ``convert`` does (SIGTERM: they end at once, and the
    run's log says it was interrupted; killed if that takes long)."""
    if runner is None or runner[0].poll() is not None:
        return
    from pipelines.local_runner import stop_job_process

    process, log_path = runner
    stop_job_process(process, log_path)


def launcher_from(
    settings: Settings,
    jobs: JobStore,
    stack: ExitStack,
    model_server: ModelServerHealth | None = None,
):
    """The run launcher the settings ask for, started; stopped when ``stack`` closes. Local runs
    fail with why once ``model_server`` (theirs) has been given up on."""
    if settings.kfp_host:
        # Cluster mode: each job becomes a run on the KFP API (the pipeline compiled at start).
        from pipelines.kfp_launcher import KfpRunLauncher

        return KfpRunLauncher(settings, jobs).start()
    from portal.launcher import LocalRunLauncher

    runs = ChildProcessRuns(settings, jobs, model_server)
    launcher = LocalRunLauncher(jobs, runs, settings.data_dir)
    # Closed in reverse: stop taking jobs first, then stop the one running, then give up the
    # job store's runner lease (another portal may resume that run's job from then on).
    stack.callback(launcher.release)
    stack.callback(runs.terminate)
    stack.callback(launcher.stop)
    return launcher.start()


def serve(settings: Settings, host: str, port: int, command: str) -> int:
    """Run the portal, and the model server it needs unless one is named, until Ctrl-C;
    ``command`` (``stereo-spot up``) is how the operator started it, to name what to restart."""
    import uvicorn

    from portal.app import create_app
    from stereo_spot.wiring import job_store_from, storage_from

    with ExitStack() as stack:
        # The data folder claimed (its runs are queued in this process), then the port bound,
        # before anything starts: a folder served or a port taken is refused at once, and port
        # 0 gets a real number.
        claim = None
        if not settings.kfp_host:
            claim = claim_data_folder(settings.data_dir)
            stack.callback(claim.release)
        sock = _bind(host, port)
        stack.callback(sock.close)
        model_server = None
        if not settings.model_url and not settings.kfp_host:
            from inference_service.restarting import restarting_model_server

            print("Starting the model server…", flush=True)
            model_server = stack.enter_context(restarting_model_server(settings, _say, command))
            settings = settings.model_copy(update={"model_url": model_server.url})
        # Its storage and job store answer before it listens: a bucket or table missing, or an
        # endpoint down, refuses the start with why (the launcher's start reads the jobs).
        storage = storage_from(settings)
        storage.check()
        jobs = job_store_from(settings)
        launcher = launcher_from(settings, jobs, stack, model_server)
        app = create_app(settings, storage, jobs, launcher)
        server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
        )
        bound_host, bound_port = sock.getsockname()[:2]
        address = _address(bound_host, bound_port)
        if claim is not None:
            claim.announce(address)
        for warning in exposure_warnings(settings, bound_host):
            print(f"note: {warning}", file=sys.stderr, flush=True)
        print(f"Stereo-Spot is running at {address}", flush=True)
        print(f"Data: {settings.data_dir}   Press Ctrl-C to stop.", flush=True)
        # uvicorn shuts down gracefully on Ctrl-C or SIGTERM, then re-raises the signal; that
        # is a clean stop here, and the ExitStack still stops the runner and the model server.
        with suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    print("Stereo-Spot stopped.", flush=True)
    return 0


def _say(line: str) -> None:
    """Tell the operator, on the terminal, what happened to the stack while it runs."""
    print(line, file=sys.stderr, flush=True)


def exposure_warnings(settings: Settings, host: str) -> list[str]:
    """What an operator should know of a portal listening on ``host`` with ``settings``."""
    warnings = []
    open_to_all = settings.auth_token is None and settings.basic_auth is None
    if open_to_all and not ipaddress.ip_address(host.split("%")[0]).is_loopback:
        warnings.append(
            f"the portal listens on {host}, which other machines reach, and asks no one to "
            "sign in: anyone who can reach it can upload, watch and delete videos. Set "
            "STEREO_SPOT_BASIC_AUTH=user:password (and STEREO_SPOT_AUTH_TOKEN for scripts)."
        )
    if settings.backend == "aws" and settings.secret_key is None:
        warnings.append(
            "STEREO_SPOT_SECRET_KEY is unset, so this portal made a key of its own: with more "
            "than one replica, a form served by one and posted to another is refused. Give them "
            "all the same key."
        )
    return warnings


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise StereoSpotError(f"Cannot listen on {host}:{port}: {error.strerror}.") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _address(host: str, port: int) -> str:
    """The address to open the portal at: this machine's for one listening everywhere, and an
    IPv6 address in brackets (``http://::1:8000/`` is no URL)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"
