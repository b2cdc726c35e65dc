"""The learned engines behind the real KServe model server and the real pipeline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from inference_service.launcher import free_port, running_model_server, stop_process
from stereo_spot.errors import StereoSpotError
from stereo_spot.settings import Settings
from tests.media import make_clip, probe, video_stream
from tests.processes import gone_within

pytestmark = pytest.mark.slow


def test_convert_through_kserve_with_depth_anything(tiny_depth_anything, tmp_path):
    data_dir = tmp_path / "data"
    settings = Settings(
        data_dir=data_dir,
        backend="local",
        engine="depth-anything",
        weights=str(tiny_depth_anything),
    )
    source = make_clip(tmp_path / "clip.mp4", seconds=2, size="64x48", rate=12)
    output = tmp_path / "clip_LR.mp4"
    with running_model_server(settings) as url:
        env = {
            **os.environ,
            "STEREO_SPOT_DATA_DIR": str(data_dir),
            "STEREO_SPOT_MODEL_URL": url,
            "STEREO_SPOT_BACKEND": "local",
        }
        result = subprocess.run(
            ["stereo-spot", "convert", str(source), "-o", str(output), "--layout", "sbs",
             "--engine", "depth-anything", "--segment-seconds", "1"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    src, out = video_stream(probe(source)), video_stream(probe(output))
    assert (int(out["width"]), int(out["height"])) == (128, 48)
    assert int(out["nb_read_packets"]) == int(src["nb_read_packets"])


def start_server(settings: Settings) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, **settings.as_environment()}
    env.pop("STEREO_SPOT_MODEL_URL", None)
    # A file, not a pipe nobody reads: a full pipe would block the server's logging.
    log_path = Path(settings.data_dir) / "model-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "inference_service", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    return process, f"http://127.0.0.1:{port}"


def wait_for_answer(url: str, process: subprocess.Popen, timeout: float = 60) -> httpx.Response:
    """The first HTTP answer from a starting server (any status), or fail if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return httpx.get(url, timeout=2)
        except httpx.HTTPError:
            time.sleep(0.3)
    pytest.fail(f"no answer from {url} (server exit code {process.poll()})")


def _serve_without_its_weights_file(tiny_model: Path, tmp_path: Path):
    """A model server over a copy of ``tiny_model`` whose model.safetensors is gone: the folder,
    the server's process and its URL; its log is data/model-server.log under tmp_path."""
    folder = Path(shutil.copytree(tiny_model, tmp_path / "bad"))
    (folder / "model.safetensors").unlink()
    settings = Settings(
        data_dir=tmp_path / "data", backend="local", engine="depth-anything", weights=str(folder)
    )
    return folder, *start_server(settings)


def test_bad_weights_leave_the_server_up_and_not_ready_with_the_reason(
    tiny_depth_anything, tmp_path
):
    folder, process, url = _serve_without_its_weights_file(tiny_depth_anything, tmp_path)
    try:
        status = wait_for_answer(f"{url}/v1/models/stereo", process)
        assert process.poll() is None, "the model server exited instead of reporting not-ready"
        # kserve answers a not-ready model with 503 (what the readinessProbe reads) and the
        # reason in the body.
        assert status.status_code == 503
        assert "model.safetensors is missing" in status.json()["error"]
        reply = httpx.post(f"{url}/v1/models/stereo:predict", json={"instances": []}, timeout=30)
        assert reply.status_code == 503
        reason = reply.json()["error"]
        assert f"{folder / 'model.safetensors'} is missing" in reason
        assert "copy the model's weights file there" in reason
        assert process.poll() is None, "a predict must not crash the server"
        assert httpx.get(f"{url}/", timeout=5).status_code == 200, "liveness must still answer"
    finally:
        stop_process(process)


def test_a_failed_load_is_logged_once_and_probes_add_no_tracebacks(tiny_depth_anything, tmp_path):
    # Each readiness probe (every few seconds, from the kubelet or the launcher) logged kserve's
    # ~28-line traceback of the not-ready error: the one line saying why was lost in them.
    folder, process, url = _serve_without_its_weights_file(tiny_depth_anything, tmp_path)
    try:
        wait_for_answer(f"{url}/v1/models/stereo", process)
        for _ in range(5):
            probe = httpx.get(f"{url}/v1/models/stereo", timeout=5)
            assert probe.status_code == 503
            assert "model.safetensors is missing" in probe.json()["error"]
        predict = httpx.post(f"{url}/v1/models/stereo:predict", json={"instances": []})
        assert predict.status_code == 503
    finally:
        stop_process(process)
    log = (tmp_path / "data" / "model-server.log").read_text()
    assert "Traceback" not in log, log
    failed = [line for line in log.splitlines() if "failed to load" in line]
    assert len(failed) == 1, log
    assert f"{folder / 'model.safetensors'} is missing" in failed[0]


def test_weights_missing_from_the_bucket_are_named_by_their_s3_uri(
    upload_weights, tiny_depth_anything, tmp_path
):
    partial = Path(shutil.copytree(tiny_depth_anything, tmp_path / "partial"))
    (partial / "preprocessor_config.json").unlink()
    uri = upload_weights(partial, "models/depth-anything/v1")
    settings = Settings(
        data_dir=tmp_path / "data", backend="local", engine="depth-anything", weights=uri
    )
    process, url = start_server(settings)
    try:
        status = wait_for_answer(f"{url}/v1/models/stereo", process)
        assert status.status_code == 503
        reason = status.json()["error"]
        # The fix is an upload to the bucket, not a copy into the pod's download cache.
        assert f"{uri}/preprocessor_config.json is missing; " in reason
        assert "model-cache" not in reason
    finally:
        stop_process(process)


def test_launcher_fails_fast_with_the_load_error(tiny_depth_anything, tmp_path):
    folder = Path(shutil.copytree(tiny_depth_anything, tmp_path / "bad"))
    (folder / "config.json").unlink()
    settings = Settings(
        data_dir=tmp_path / "data", backend="local", engine="depth-anything", weights=str(folder)
    )
    started = time.monotonic()
    with pytest.raises(StereoSpotError) as failure, running_model_server(settings):
        pass
    assert f"{folder / 'config.json'} is missing" in str(failure.value)
    # The launcher gives up on the 503, not after its 120 s start-up timeout.
    assert time.monotonic() - started < 60


def test_convert_stops_with_the_load_error_and_leaves_the_job_resumable(
    tiny_depth_anything, tmp_path
):
    # `stereo-spot convert` starts its own model server and, without waiting for it, the run;
    # a model that fails to load must still stop everything with the reason.
    folder = Path(shutil.copytree(tiny_depth_anything, tmp_path / "bad"))
    (folder / "config.json").unlink()
    data_dir = tmp_path / "data"
    source = make_clip(tmp_path / "clip.mp4", seconds=2, size="64x48", rate=12)
    output = tmp_path / "clip_LR.mp4"
    env = {
        **os.environ,
        "STEREO_SPOT_DATA_DIR": str(data_dir),
        "STEREO_SPOT_BACKEND": "local",
        "STEREO_SPOT_WEIGHTS": str(folder),
    }
    env.pop("STEREO_SPOT_MODEL_URL", None)
    result = subprocess.run(
        ["stereo-spot", "convert", str(source), "-o", str(output), "--engine", "depth-anything"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert f"{folder / 'config.json'} is missing" in result.stderr
    assert "stereo-spot jobs retry" in result.stderr
    assert not output.exists()
    from stereo_spot.wiring import job_store_from

    (job,) = job_store_from(Settings(data_dir=data_dir, backend="local")).list_all()
    assert not job.status.is_final, "fixing the weights and retrying resumes the job"
    assert f"{folder / 'config.json'} is missing" in (job.error or "")

    # No step of the run is left behind (a convert step would keep waiting for its server).
    assert gone_within(str(data_dir), 15)
