"""The cluster's run launcher: each job becomes one run on a Kubeflow Pipelines API (``kfp.Client``).

It implements the portal's port, ``portal.launcher.RunLauncher`` (``submit(job_id) -> run_id``),
structurally. It lives here rather than in portal/ because it compiles the pipeline, which
imports the components, and the portal must not import another deployable (the import-linter
contracts in pyproject.toml); ``stereo-spot portal`` wires it in when ``STEREO_SPOT_KFP_HOST`` is
set (stereo_spot/cli/web.py).

Idempotent: a job that has a run id gets it back and nothing is created. Runs are named after
their job (``stereo-spot <job_id>``), so a run whose id was never recorded (the portal stopped
between creating it and writing the job) is found by name rather than created again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.local_runner import pipeline_arguments
from stereo_spot.domain import Job, JobStatus
from stereo_spot.errors import StereoSpotError, TransitionConflict
from stereo_spot.jobs import JobStore, left_queued
from stereo_spot.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "stereo-spot"
RUN_NAME_PREFIX = "stereo-spot "
# kfp.Client reads a projected service-account token from here (set in manifests/base/portal.yaml);
# KFP multi-user mode authorizes the portal by it, standalone KFP ignores it.
TOKEN_PATH_VARIABLE = "KF_PIPELINES_SA_TOKEN_PATH"
# The filter operation kfp's own client uses for display-name lookups (filter.proto EQUALS).
_EQUALS = 1
# Portal replicas that start together would otherwise both submit a left-over job in the same
# moment (neither finding the other's run by name yet); a random delay this long spreads them.
_RESUME_JITTER_SECONDS = 5.0


class RunSubmissionFailed(StereoSpotError):
    """The KFP API could not be reached or refused the run; the job is failed with this reason."""


def compile_pipeline(output: Path) -> Path:
    """Compile ``stereo_pipeline`` to a package at ``output`` (what ``compile-pipeline`` writes).

    The component image and, for the aws backend, the settings each task needs are read from
    this process's environment when the pipeline module is first imported.
    """
    from kfp import compiler

    from pipelines.stereo_pipeline import stereo_pipeline

    output.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(stereo_pipeline, str(output))
    return output


def kfp_client(host: str) -> Any:
    """``kfp.Client`` for ``host``, with the pod's KFP token when one is mounted."""
    import kfp

    credentials = None
    token_path = os.environ.get(TOKEN_PATH_VARIABLE)
    if token_path and Path(token_path).is_file():
        from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

        credentials = ServiceAccountTokenVolumeCredentials(token_path)
    with warnings.catch_warnings():
        # "This client only works with Kubeflow Pipeline v2.0.0-beta.2 and later": we target 2.x.
        warnings.simplefilter("ignore", FutureWarning)
        return kfp.Client(host=host, credentials=credentials)


class KfpRunLauncher:
    def __init__(
        self,
        settings: Settings,
        jobs: JobStore,
        host: str | None = None,
        pipeline_package: Path | None = None,
        experiment: str = DEFAULT_EXPERIMENT,
        service_account: str | None = None,
        client_factory: Callable[[str], Any] = kfp_client,
    ) -> None:
        self._settings = settings
        self._jobs = jobs
        self.host = host or settings.kfp_host or ""
        if not self.host:
            raise StereoSpotError("No Kubeflow Pipelines API is configured (STEREO_SPOT_KFP_HOST).")
        self.pipeline_package = Path(pipeline_package) if pipeline_package else None
        self.experiment = experiment
        self.service_account = service_account or settings.kfp_service_account
        self._client_factory = client_factory
        self._client: Any = None
        self._experiment_id: str | None = None
        self._lock = threading.Lock()

    def start(self) -> KfpRunLauncher:
        """Compile the pipeline now when no package was given, so a broken build fails at start;
        then, on a thread, submit what a previous portal left queued without a run.

        The API is not contacted on the calling thread: the portal starts (and shows jobs) while
        KFP is down.
        """
        if self.pipeline_package is None:
            self.pipeline_package = compile_pipeline(
                Path(self._settings.data_dir) / "kfp" / "stereo_pipeline.yaml"
            )
        threading.Thread(target=self._resume_queued, name="kfp-resume", daemon=True).start()
        return self

    def _resume_queued(self) -> None:
        """Submit queued jobs that have no run: the portal stopped between queueing one and
        recording its run (a run created but not recorded is found by name, not made twice)."""
        time.sleep(random.uniform(0.0, _RESUME_JITTER_SECONDS))
        try:
            left_over = [job.job_id for job in left_queued(self._jobs) if not job.run_id]
        except Exception:  # the job store is unreachable: the portal's pages will say so
            log.exception("Looking for queued jobs to resume failed")
            return
        for job_id in left_over:
            with contextlib.suppress(RunSubmissionFailed):  # the job records why
                self.submit(job_id)

    def submit(self, job_id: str) -> str:
        with self._lock:
            job = self._jobs.get(job_id)
            if job.run_id:
                return job.run_id
            if self.pipeline_package is None:
                self.start()
            try:
                run_id = self._recorded_run(job_id) or self._create_run(job_id)
            except Exception as error:  # an API or network fault, whatever the client raises
                log.exception("Submitting job %s to %s failed", job_id, self.host)
                reason = (
                    f"The conversion could not be submitted to Kubeflow Pipelines at {self.host} "
                    f"({_describe(error)})."
                )
                with contextlib.suppress(TransitionConflict):
                    self._jobs.transition(job_id, JobStatus.FAILED, error=reason)
                raise RunSubmissionFailed(reason) from None
            with contextlib.suppress(TransitionConflict):
                # A finished or failed job keeps its record; the run id is news only while it runs.
                self._jobs.update(job_id, run_id=run_id)
            return run_id

    def cancel(self, job_id: str) -> None:
        """Terminate the job's run. If the API cannot be reached, the run's steps still stop
        at their next write to the job, which is failed by then; only say so in the log."""
        run_id = self._jobs.get(job_id).run_id
        if not run_id:
            return
        try:
            with self._lock:
                self._api().terminate_run(run_id)
        except Exception as error:  # an API or network fault, whatever the client raises
            log.warning("job %s: terminating run %s failed: %s", job_id, run_id, _describe(error))
            return
        log.info("job %s: terminated KFP run %s", job_id, run_id)

    def forget(self, job_id: str) -> None:
        """Nothing: a KFP run keeps its record and logs in Kubeflow, which expires them."""

    def stopped_part_way(self, job: Job) -> bool:
        """False: a KFP run that ends part-way fails its job itself (an exit handler)."""
        return False

    def wait_stopped(self, job_id: str, timeout: float) -> bool:
        """True at once: a run's steps are on the cluster, out of sight, and one still going
        after a cancel stops at its next write to the job."""
        return True

    # -- KFP API ---------------------------------------------------------------------------------

    def _api(self) -> Any:
        if self._client is None:
            self._client = self._client_factory(self.host)
        return self._client

    def _experiment(self) -> str:
        if self._experiment_id is None:
            # create_experiment gets the experiment by name first, so restarts reuse it.
            self._experiment_id = self._api().create_experiment(name=self.experiment).experiment_id
        return self._experiment_id

    def _recorded_run(self, job_id: str) -> str | None:
        """The id of a run already created for this job, if the API has one."""
        name_filter = json.dumps(
            {
                "predicates": [
                    {"operation": _EQUALS, "key": "display_name", "stringValue": run_name(job_id)}
                ]
            }
        )
        listing = self._api().list_runs(
            experiment_id=self._experiment(), filter=name_filter, page_size=1
        )
        runs = listing.runs or []
        return runs[0].run_id if runs else None

    def _create_run(self, job_id: str) -> str:
        arguments = pipeline_arguments(self._settings, job_id, self._settings.segment_seconds)
        run = self._api().run_pipeline(
            experiment_id=self._experiment(),
            job_name=run_name(job_id),
            pipeline_package_path=str(self.pipeline_package),
            params=arguments,
            service_account=self.service_account,
        )
        log.info("job %s: created KFP run %s", job_id, run.run_id)
        return run.run_id


def run_name(job_id: str) -> str:
    return f"{RUN_NAME_PREFIX}{job_id}"


def _describe(error: Exception) -> str:
    """One line for the job page: the API's own message when it sent one."""
    status = getattr(error, "status", None)
    body = getattr(error, "body", None)
    if status:
        message = ""
        with contextlib.suppress(ValueError, TypeError):
            parsed = json.loads(body or "")
            message = str(parsed.get("message") or parsed.get("error") or "")
        return f"HTTP {status}" + (f": {message.strip()}" if message else "")
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__
