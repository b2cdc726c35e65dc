"""The Kubeflow pipeline: chunk -> ParallelFor(convert) -> reassemble, with a failure exit handler.

The same function runs locally through ``kfp.local`` (pipelines/local_runner.py) and compiles to
``stereo_pipeline.yaml`` for a cluster: the portal compiles it at start from its own environment
(pipelines/kfp_launcher.py, ``compile_pipeline``), as ``stereo-spot compile-pipeline`` does.
"""

import os
from collections.abc import Mapping

from kfp import dsl, kubernetes

from components.kfp_components import (
    chunk_op,
    convert_op,
    finalize_op,
    reassemble_op,
)
from stereo_spot.domain import StereoParams
from stereo_spot.errors import InvalidOption

_DEFAULT_PARAMS = StereoParams()
# How many segments convert at once on a cluster, each holding one request to the model server.
# At most the InferenceService's maxReplicas (one segment a replica): a request beyond it waits
# in Knative's activator for a replica that cannot come, and that wait counts against the convert
# step's 3600 s timeout. The aws overlay sets it to terraform's gpu_limit, as it does maxReplicas;
# the default is base/'s maxReplicas. kfp.local runs at most two at once whatever this says.
PARALLELISM_VARIABLE = "STEREO_SPOT_PARALLELISM"


def parallelism_from(environ: Mapping[str, str]) -> int:
    """``STEREO_SPOT_PARALLELISM`` (default 4): a whole number above 0. InvalidOption, one
    sentence naming the variable (``compile-pipeline`` and the portal's start exit 2 with it,
    as for the other STEREO_SPOT_* settings), otherwise: 0 would compile to no limit at all."""
    text = environ.get(PARALLELISM_VARIABLE) or "4"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise InvalidOption(
            f"Invalid setting {PARALLELISM_VARIABLE}={text!r}: how many segments convert at "
            "once must be a whole number above 0."
        )
    return value


PARALLELISM = parallelism_from(os.environ)
# The chunk step's mezzanine transcode (a source that cannot be split by copy) sizes its decoder,
# filter and x264 threads from the CPUs it may use, read from the pod's CPU quota
# (stereo_spot/cpus.py: ffmpeg and x264 count the node's cores, which a quota does not hide), and
# each x264 frame thread holds frames of its own. So the CPU limit bounds the memory: at 3840x2160
# a transcode took 2.74 GiB of RSS counting 16 cores, 0.91 GiB with 2 CPUs. With 2 CPUs the
# largest source the step accepts (7680x4320, the default STEREO_SPOT_MAX_WIDTH/HEIGHT) took
# 3.40 GiB, 5.17 GiB when HDR (tone-mapped in 32-bit float), plus ~0.13 GiB of Python: measured
# with ffmpeg 5.1 (docs/DEPLOY.md, "Task resources").
CHUNK_CPU_LIMIT, CHUNK_MEMORY = "2", "6Gi"
# Settings the component pods need on a cluster; baked in at compile time (local runs inherit
# the runner's environment instead). AWS_ENDPOINT_URL only where one is set: a laptop cluster's
# moto server (manifests/overlays/local); on EKS boto3 finds AWS's endpoints itself.
_CLUSTER_ENV_VARS = (
    "STEREO_SPOT_BACKEND",
    "STEREO_SPOT_BUCKET",
    "STEREO_SPOT_JOBS_TABLE",
    "STEREO_SPOT_MODEL_URL",
    "STEREO_SPOT_MODEL_NAME",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
)
# A Secret in the runs' namespace whose AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY every task
# gets as environment variables: for a cluster without IRSA (the local overlay names its moto
# credentials). Named, not copied, so no credential enters the compiled package. Unset on EKS,
# where the run's service account carries the pipeline's IAM role.
CREDENTIALS_SECRET = os.environ.get("STEREO_SPOT_PIPELINE_CREDENTIALS_SECRET", "")
_CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


# The Karpenter NodePool every task runs on (the aws overlay names terraform's "cpu" pool): chunk
# and reassemble hold a whole source and its segments on the node's disk, which the cluster's
# system nodes, running KFP, KServe and the portal on small disks, must not be filled with. Empty:
# wherever the scheduler puts them (kind, minikube).
NODE_POOL = os.environ.get("STEREO_SPOT_PIPELINE_NODE_POOL", "")


def _cluster_env() -> dict[str, str]:
    if os.environ.get("STEREO_SPOT_BACKEND") != "aws":
        return {}
    return {name: os.environ[name] for name in _CLUSTER_ENV_VARS if os.environ.get(name)}


def _configure(
    task: dsl.PipelineTask,
    name: str,
    cpu: str,
    memory: str,
    retries: int = 0,
    cpu_limit: str | None = None,
):
    task.set_display_name(name)
    task.set_cpu_request(cpu)
    if cpu_limit:
        task.set_cpu_limit(cpu_limit)
    task.set_memory_request(memory)
    task.set_memory_limit(memory)
    if retries:
        task.set_retry(num_retries=retries, backoff_duration="10s", backoff_factor=2.0)
    for variable, value in _cluster_env().items():
        task.set_env_variable(variable, value)
    _place(task)
    return task


def _place(task: dsl.PipelineTask) -> None:
    """Pod placement, and credentials where there is no IRSA, on a cluster; ``kfp.local`` runs
    ignore it."""
    # Karpenter consolidates under-used CPU nodes by evicting their pods: chunk and reassemble
    # (no retries) would fail the run, and a convert task would convert its segment again. A
    # node running one of them is left alone until the task ends.
    kubernetes.add_pod_annotation(task, "karpenter.sh/do-not-disrupt", "true")
    if NODE_POOL:
        kubernetes.add_node_selector(task, "karpenter.sh/nodepool", NODE_POOL)
    if CREDENTIALS_SECRET:
        kubernetes.use_secret_as_env(
            task, CREDENTIALS_SECRET, {key: key for key in _CREDENTIAL_KEYS}
        )


@dsl.pipeline(
    name="stereo-spot",
    description="Convert a 2D video to stereoscopic 3D: chunk, convert each segment, reassemble.",
)
def stereo_pipeline(
    job_id: str,
    source_uri: str,
    layout: str = "anaglyph",
    divergence: float = _DEFAULT_PARAMS.divergence,
    convergence: float = _DEFAULT_PARAMS.convergence,
    anaglyph_mode: str = "dubois",
    edges_at_screen: bool = False,
    chroma: str = "420",
    codec: str = _DEFAULT_PARAMS.codec.value,
    crf: int = _DEFAULT_PARAMS.crf,
    preset: str = _DEFAULT_PARAMS.preset,
    max_height: int = 0,
    engine: str = "classical",
    segment_seconds: float = 10.0,
    model_url: str = "",
):
    finalize = finalize_op(job_id=job_id)
    _configure(finalize, "mark job failed if the run failed", "100m", "256Mi")
    finalize.set_caching_options(False)
    with dsl.ExitHandler(finalize, name="convert video"):
        # The chunk step refuses a run whose parameters are invalid or differ from the job's
        # record (the join tags the result by the record), before anything is split.
        # What the chunk step checks against the job's record, and the convert step asks for.
        run_settings = {
            "layout": layout,
            "divergence": divergence,
            "convergence": convergence,
            "anaglyph_mode": anaglyph_mode,
            "edges_at_screen": edges_at_screen,
            "chroma": chroma,
            "codec": codec,
            "crf": crf,
            "preset": preset,
            "max_height": max_height,
            "engine": engine,
        }
        chunk = chunk_op(
            job_id=job_id, source_uri=source_uri, segment_seconds=segment_seconds, **run_settings
        )
        # No KFP retries for chunk and reassemble: their faults are bad input (retrying only
        # delays the reason by the backoff) or storage, whose clients the steps build to try
        # each request PIPELINE_STORE_TRIES times (Settings.for_pipeline_steps).
        _configure(chunk, "split into segments", "1", CHUNK_MEMORY, cpu_limit=CHUNK_CPU_LIMIT)
        with dsl.ParallelFor(chunk.output, parallelism=PARALLELISM, name="segments") as segment:
            convert = convert_op(
                job_id=job_id, segment=segment, model_url=model_url, **run_settings
            )
            _configure(convert, "convert segment to 3D", "100m", "512Mi", retries=3)
        reassemble = reassemble_op(
            job_id=job_id, source_uri=source_uri, converted=dsl.Collected(convert.output)
        )
        # Its video is copied, not encoded; the preview still's decoder threads follow this limit.
        _configure(reassemble, "join segments and mux audio", "1", "2Gi", cpu_limit="2")
