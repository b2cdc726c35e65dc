"""Cluster mode of the portal: each started job becomes one run on a Kubeflow Pipelines API.

The KFP API server cannot run here (it needs a cluster, MySQL, Argo and object storage), so
tests/portal/kfp_api_stub.py stands in for it: a real HTTP server on 127.0.0.1 that answers the
v2beta1 endpoints kfp 2.17's ``kfp.Client`` calls and records what it receives. Everything on
our side is real: ``kfp.Client``, the compiled pipeline, the portal as ``stereo-spot portal``
wires it (``launcher_from`` with ``STEREO_SPOT_KFP_HOST`` set), S3 and DynamoDB on moto server.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from pipelines.kfp_launcher import KfpRunLauncher, RunSubmissionFailed, run_name
from portal.app import create_app
from portal.launcher import RunLauncher
from stereo_spot import keys
from stereo_spot.domain import Job, JobStatus, Layout, StereoParams
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from, storage_from
from tests.aws_fixtures import fresh_aws_settings
from tests.portal.kfp_api_stub import KfpApiStub

SERVICE_ACCOUNT = "stereo-spot-pipeline"
# What the component pods need on a cluster (pipelines/stereo_pipeline.py bakes them in).
CLUSTER_ENV = {
    "STEREO_SPOT_BACKEND": "aws",
    "STEREO_SPOT_BUCKET": "stereo-spot-media-123456789012",
    "STEREO_SPOT_JOBS_TABLE": "stereo-spot-jobs",
    "STEREO_SPOT_MODEL_URL": "http://stereo-predictor.stereo-spot.svc.cluster.local",
    "STEREO_SPOT_MODEL_NAME": "stereo",
    "AWS_DEFAULT_REGION": "eu-west-1",
}
COMPONENTS_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/stereo-spot/components:abc1234"


@pytest.fixture
def kfp_api() -> Iterator[KfpApiStub]:
    stub = KfpApiStub().start()
    yield stub
    stub.stop()


@pytest.fixture
def kfp_settings(moto_endpoint: str, kfp_api: KfpApiStub, tmp_path: Path) -> Settings:
    """The portal pod's settings: aws backend on moto server, KFP at the stub."""
    from stereo_spot.aws_setup import create_bucket_and_table

    settings = fresh_aws_settings(
        "kfp",
        data_dir=tmp_path / "data",
        kfp_host=kfp_api.url,
        kfp_service_account=SERVICE_ACCOUNT,
        model_url=CLUSTER_ENV["STEREO_SPOT_MODEL_URL"],
        segment_seconds=4,
    )
    create_bucket_and_table(settings)
    return settings


@pytest.fixture
def pod_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The projected service-account token manifests/base/portal.yaml mounts for kfp.Client."""
    token = f"token-{uuid.uuid4().hex}"
    path = tmp_path / "kfp-token"
    path.write_text(token)
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(path))
    return token


@pytest.fixture(scope="module")
def compiled_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``stereo-spot compile-pipeline`` as a release job runs it, with the cluster's settings."""
    target = tmp_path_factory.mktemp("kfp") / "stereo_pipeline.yaml"
    env = {**os.environ, **CLUSTER_ENV, "STEREO_SPOT_COMPONENTS_IMAGE": COMPONENTS_IMAGE}
    # As on EKS: no endpoint (this session's moto server is not the cluster's) and IRSA, not a
    # credentials Secret (tests/deploy checks the local overlay's package, which has both).
    for name in ("STEREO_SPOT_COMPONENT_IMAGE", "AWS_ENDPOINT_URL",
                 "STEREO_SPOT_PIPELINE_CREDENTIALS_SECRET", "STEREO_SPOT_PIPELINE_NODE_POOL"):  # fmt: skip
        env.pop(name, None)
    result = subprocess.run(
        ["stereo-spot", "compile-pipeline", "-o", str(target)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return target


def _queued_job(settings: Settings, **fields) -> Job:
    jobs = job_store_from(settings)
    job = jobs.create(Job(**fields))
    jobs.transition(job.job_id, JobStatus.UPLOADED)
    return jobs.transition(job.job_id, JobStatus.QUEUED)


def _assert_is_the_stereo_pipeline(spec: dict) -> None:
    assert spec["pipelineInfo"]["name"] == "stereo-spot"
    tasks = spec["root"]["dag"]["tasks"]
    assert "exit-handler-1" in tasks  # the failure exit handler wraps the work...
    assert tasks["finalize-op"]["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    loop = spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]["for-loop-2"]
    assert "parameterIterator" in loop  # ...and the ParallelFor over segments
    assert loop["iteratorPolicy"]["parallelismLimit"] > 0


def _assert_submits_the_stereo_pipeline(run: dict) -> None:
    """A created run carries the pipeline and its pods' placement (kfp-kubernetes' platform
    spec, which the API takes beside the pipeline in one document)."""
    _assert_is_the_stereo_pipeline(run["pipeline_spec"]["pipeline_spec"])
    executors = run["pipeline_spec"]["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]
    for name, executor in executors["executors"].items():
        assert executor["podMetadata"]["annotations"]["karpenter.sh/do-not-disrupt"] == "true", name


def test_compile_pipeline_bakes_cluster_settings_into_every_task(compiled_package: Path) -> None:
    spec, _placement = yaml.safe_load_all(compiled_package.read_text())
    executors = spec["deploymentSpec"]["executors"]
    assert set(executors) == {
        "exec-chunk-op", "exec-convert-op", "exec-reassemble-op", "exec-finalize-op",
    }  # fmt: skip
    for name, executor in executors.items():
        container = executor["container"]
        env = {item["name"]: item["value"] for item in container.get("env", [])}
        assert env == CLUSTER_ENV, name
        # The name the manifests' ConfigMaps and docs/DEPLOY.md use for the components image.
        assert container["image"] == COMPONENTS_IMAGE, name
    _assert_is_the_stereo_pipeline(spec)


def test_portal_submits_a_started_job_as_one_kfp_run(
    kfp_settings: Settings, kfp_api: KfpApiStub, pod_token: str, clip_mp4: Path
) -> None:
    """create → presigned upload → start: one run with the job's parameters, recorded on the job;
    starting again creates nothing."""
    from stereo_spot.cli.web import launcher_from

    with ExitStack() as stack:
        jobs = job_store_from(kfp_settings)
        launcher = launcher_from(kfp_settings, jobs, stack)  # what `stereo-spot portal` builds
        assert isinstance(launcher, KfpRunLauncher) and isinstance(launcher, RunLauncher)
        # Compiled on start, into the data dir (an emptyDir in the portal pod).
        assert launcher.pipeline_package == kfp_settings.data_dir / "kfp" / "stereo_pipeline.yaml"
        assert launcher.pipeline_package.is_file()
        assert kfp_api.requests == []  # the API is first called on the first submit
        app = create_app(kfp_settings, storage_from(kfp_settings), jobs, launcher)
        client = stack.enter_context(TestClient(app))

        created = client.post(
            "/api/jobs",
            json={"layout": "tab", "divergence": 2.5, "convergence": 0.5, "engine": "classical"},
        )
        assert created.status_code == 201, created.text
        job_id, upload = created.json()["job"]["job_id"], created.json()["upload"]
        with clip_mp4.open("rb") as handle:
            posted = httpx.post(
                upload["url"], data=upload["fields"],
                files={"file": ("clip.mp4", handle, "video/mp4")}, timeout=30,
            )  # fmt: skip
        assert posted.status_code in (200, 201, 204), posted.text

        started = client.post(f"/api/jobs/{job_id}/start")
        assert started.status_code == 202, started.text
        assert started.json()["status"] == "queued"
        run_id = started.json()["run_id"]

        (run,) = kfp_api.created_runs
        assert run_id == next(iter(kfp_api.runs))
        assert jobs.get(job_id).run_id == run_id
        _assert_submits_the_stereo_pipeline(run)
        parameters = run["runtime_config"]["parameters"]
        assert parameters["job_id"] == job_id
        assert parameters["source_uri"] == f"s3://{kfp_settings.bucket}/input/{job_id}/source.mp4"
        assert parameters["layout"] == Layout.TAB.value
        assert (parameters["divergence"], parameters["convergence"]) == (2.5, 0.5)
        assert parameters["engine"] == "classical"
        assert parameters["segment_seconds"] == 4
        assert parameters["model_url"] == kfp_settings.model_url
        assert run["service_account"] == SERVICE_ACCOUNT
        assert run["display_name"] == run_name(job_id)
        (experiment,) = kfp_api.experiments.values()
        assert experiment["display_name"] == "stereo-spot"
        assert run["experiment_id"] == experiment["experiment_id"]
        # kfp.Client sent the pod's token (KFP multi-user mode authorizes the portal by it).
        (post,) = kfp_api.received("POST", "/runs")
        assert post.headers.get("authorization") == f"Bearer {pod_token}"

        before = len(kfp_api.requests)
        again = client.post(f"/api/jobs/{job_id}/start")
        assert again.status_code == 202 and again.json()["run_id"] == run_id
        assert launcher.submit(job_id) == run_id
        assert len(kfp_api.created_runs) == 1
        assert len(kfp_api.requests) == before  # the recorded run id answers; no API call


def test_a_run_created_but_not_recorded_is_found_not_created_again(
    kfp_settings: Settings, kfp_api: KfpApiStub, compiled_package: Path
) -> None:
    job = _queued_job(kfp_settings, layout=Layout.SBS, params=StereoParams(divergence=2.0))
    jobs = job_store_from(kfp_settings)
    first = KfpRunLauncher(kfp_settings, jobs, pipeline_package=compiled_package)
    run_id = first.submit(job.job_id)
    assert jobs.get(job.job_id).run_id == run_id
    (run,) = kfp_api.created_runs
    assert run["runtime_config"]["parameters"]["layout"] == "sbs"
    assert run["runtime_config"]["parameters"]["source_uri"] == storage_from(kfp_settings).uri_for(
        keys.source_key(job.job_id)
    )

    # The portal stopped after creating the run and before recording it; a new one resubmits.
    jobs.update(job.job_id, run_id=None)
    second = KfpRunLauncher(kfp_settings, jobs, pipeline_package=compiled_package)
    assert second.submit(job.job_id) == run_id
    assert len(kfp_api.created_runs) == 1
    assert jobs.get(job.job_id).run_id == run_id


def test_a_restarted_portal_submits_the_jobs_left_queued_without_a_run(
    kfp_settings: Settings, kfp_api: KfpApiStub, compiled_package: Path
) -> None:
    # The portal stopped after queueing these and before creating their runs.
    jobs = job_store_from(kfp_settings)
    left = [_queued_job(kfp_settings, layout=Layout.SBS) for _ in range(2)]
    KfpRunLauncher(kfp_settings, jobs, pipeline_package=compiled_package).start()
    deadline = time.monotonic() + 60
    while not all(jobs.get(job.job_id).run_id for job in left):
        assert time.monotonic() < deadline, [jobs.get(job.job_id) for job in left]
        time.sleep(0.1)
    names = sorted(run["display_name"] for run in kfp_api.created_runs)
    assert names == sorted(run_name(job.job_id) for job in left)


def test_a_cancelled_job_has_its_run_terminated(
    kfp_settings: Settings, kfp_api: KfpApiStub, compiled_package: Path, tmp_path: Path
) -> None:
    from portal import services

    job = _queued_job(kfp_settings)
    jobs, storage = job_store_from(kfp_settings), storage_from(kfp_settings)
    launcher = KfpRunLauncher(kfp_settings, jobs, pipeline_package=compiled_package)
    run_id = launcher.submit(job.job_id)
    piece = tmp_path / "00000.mp4"
    piece.write_bytes(b"a converted segment")
    storage.put_file(piece, keys.converted_segment_key(job.job_id, 0))

    cancelled = services.cancel_job(jobs, storage, launcher, job.job_id)

    assert cancelled.status is JobStatus.FAILED and cancelled.cancelled
    assert len(kfp_api.received("POST", f"/runs/{run_id}:terminate")) == 1
    assert kfp_api.runs[run_id]["state"] == "CANCELING"
    assert not storage.exists(keys.converted_segment_key(job.job_id, 0)), "nothing resumes it"
    # The run's steps are out of sight here: the delete does not wait for them.
    services.delete_job(jobs, storage, launcher, job.job_id)
    assert not job_store_from(kfp_settings).list_all(limit=10)


def test_a_refused_run_fails_the_job_with_the_api_reason(
    kfp_settings: Settings, kfp_api: KfpApiStub, compiled_package: Path
) -> None:
    job = _queued_job(kfp_settings)
    jobs = job_store_from(kfp_settings)
    kfp_api.refuse_runs = (400, "Invalid input error: service account not found")
    launcher = KfpRunLauncher(kfp_settings, jobs, pipeline_package=compiled_package)

    with pytest.raises(RunSubmissionFailed, match="service account not found"):
        launcher.submit(job.job_id)

    after = jobs.get(job.job_id)
    assert after.status is JobStatus.FAILED
    assert "Kubeflow Pipelines" in after.error and "service account not found" in after.error
    assert after.run_id is None


@pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")
def test_the_sdk_call_in_deploy_md_creates_a_run(kfp_api: KfpApiStub, compiled_package: Path):
    """docs/DEPLOY.md's one-liner for users who submit runs themselves, as written there (its
    arguments, engine and segment length included), then ``get_run``."""
    import kfp

    from tests.deploy.test_docs import DOCS, _sdk_calls

    (call,) = _sdk_calls((DOCS / "DEPLOY.md").read_text())
    client = kfp.Client(host=kfp_api.url)
    result = client.create_run_from_pipeline_package(
        str(compiled_package),
        arguments=call["arguments"],
        experiment_name=call["experiment_name"],
        run_name=call["run_name"],
        service_account=call["service_account"],
    )

    assert client.get_run(result.run_id).state == "PENDING"
    (run,) = kfp_api.created_runs
    parameters = run["runtime_config"]["parameters"]
    assert parameters["layout"] == "sbs"
    assert (parameters["engine"], parameters["segment_seconds"]) == ("stereocrafter", 3)
    assert run["service_account"] == SERVICE_ACCOUNT
    _assert_submits_the_stereo_pipeline(run)
    assert kfp_api.received("GET", f"/runs/{result.run_id}")
