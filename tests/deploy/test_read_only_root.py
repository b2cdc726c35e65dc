"""The model server and the portal where their pods put them: a read-only root filesystem, an
unwritable HOME, a writable /tmp only, and for the model server the weights KServe put in
/mnt/models mounted read-only (manifests/base/inferenceservice.yaml, portal.yaml). Tests run as
root, for whom nothing is read-only, so each runs in a user and mount namespace (``unshare``) in
which the repository (the package and its virtualenv), HOME and the weights are bind-mounted
read-only. Each engine is served: the learned ones on tiny random weights, so torch,
transformers and diffusers are held to the same.

numba alone raised at import there ("no locator available"): every kernel is cached, and it had
nowhere to write. ``stereo_spot.kernel_cache`` gives it a directory under the temporary one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from inference_service.launcher import free_port, stop_process
from tests.engines.conftest import write_tiny
from tests.media import make_clip, probe, video_stream

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

# Bind-mount each argument read-only over itself, then run the command after "--".
_READ_ONLY = """
while [ "$1" != "--" ]; do
    mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 97
    shift
done
shift
exec "$@"
"""


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe_run = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"],
        capture_output=True,
        timeout=30,
    )
    return probe_run.returncode == 0


needs_namespaces = pytest.mark.skipif(
    not _namespaces_work(),
    reason="needs util-linux's unshare and a kernel that allows unprivileged user namespaces",
)


def in_read_only_root(command: list[str], read_only: list[Path]) -> list[str]:
    """``command`` as run with every path of ``read_only`` mounted read-only."""
    return [
        "unshare", "--user", "--map-root-user", "--mount",
        "sh", "-c", _READ_ONLY, "sh", *map(str, read_only), "--", *command,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def pod_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pod's writable /tmp, shared by this module's servers: the kernels compile once."""
    return tmp_path_factory.mktemp("pod-tmp")


def pod_environment(tmp_path: Path, temp: Path, **extra: str) -> tuple[dict[str, str], Path]:
    """The environment of the pod's model server, with its own read-only HOME."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env |= {
        "HOME": str(home),
        "TMPDIR": str(temp),
        "STEREO_SPOT_BACKEND": "local",
        "STEREO_SPOT_DATA_DIR": str(tmp_path / "data"),
        **extra,
    }
    return env, home


STEREO_SPOT = str(Path(sys.executable).parent / "stereo-spot")


def start_read_only(
    command: list[str], read_only: list[Path], env: dict[str, str], log_path: Path
) -> subprocess.Popen:
    """``command`` started with ``read_only`` mounted read-only, its output going to a file (a
    pipe nobody reads would block it once full)."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            in_read_only_root(command, read_only),
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip


def wait_until_ok(url: str, process: subprocess.Popen, log_path: Path, timeout: float) -> None:
    """Poll ``url`` until it answers 200; fail with the process's log if it exits or never does."""
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline and process.poll() is None and status != 200:
        with contextlib.suppress(httpx.HTTPError):  # not listening yet
            status = httpx.get(url, timeout=2).status_code
        time.sleep(0.3)
    assert status == 200, f"{url}: {status} (exit {process.poll()}):\n{log_path.read_text()}"


@needs_namespaces
def test_numba_alone_cannot_cache_there(tmp_path: Path, pod_tmp: Path) -> None:
    # The failure the pod had, reproduced: an empty NUMBA_CACHE_DIR is numba's own default.
    env, home = pod_environment(tmp_path, pod_tmp, NUMBA_CACHE_DIR="")
    done = subprocess.run(
        in_read_only_root(
            [sys.executable, "-c", "import stereo_spot.stereo.render"], [ROOT, home]
        ),
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "no locator available" in done.stderr


@needs_namespaces
@pytest.mark.parametrize("engine", ["classical", "depth-anything", "stereocrafter"])
def test_the_model_server_starts_and_converts_with_a_read_only_root(
    engine: str, tmp_path: Path, pod_tmp: Path
) -> None:
    extra = {"STEREO_SPOT_ENGINE": engine}
    read_only = [ROOT]
    if engine != "classical":
        pytest.importorskip("torch")
        weights = write_tiny(tmp_path / "weights", engine)
        extra["STEREO_SPOT_WEIGHTS"] = str(weights)
        read_only.append(weights)
    env, home = pod_environment(tmp_path, pod_tmp, **extra)
    read_only.append(home)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "model-server.log"
    server = start_read_only(
        [sys.executable, "-m", "inference_service", "--port", str(port)], read_only, env, log_path
    )
    try:
        # Ready only once the engine is loaded and warmed up: the kernels compiled and cached.
        wait_until_ok(f"{url}/v1/models/stereo", server, log_path, timeout=240)
        caches = list(pod_tmp.glob(f"stereo-spot-{os.getuid()}/numba/*"))
        assert len(caches) == 1 and any(caches[0].rglob("*.nbi")), "kernels not cached in /tmp"

        # Two segments through the classical engine; one short one through the learned ones,
        # which are slow on a CPU even with tiny weights (StereoCrafter's diffusion steps).
        if engine == "classical":
            source = make_clip(tmp_path / "clip.mp4", seconds=2)
        else:
            source = make_clip(tmp_path / "clip.mp4", seconds=1, size="64x48", rate=8)
        output = tmp_path / "clip_anaglyph.mp4"
        convert_env = {**env, "STEREO_SPOT_MODEL_URL": url}
        done = subprocess.run(
            [STEREO_SPOT, "convert", str(source),
             "-o", str(output), "--layout", "anaglyph", "--segment-seconds", "1",
             "--engine", engine],
            env=convert_env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    finally:
        stop_process(server)
    src, out = video_stream(probe(source)), video_stream(probe(output))
    assert int(out["nb_read_packets"]) == int(src["nb_read_packets"])
    assert (out["width"], out["height"]) == (src["width"], src["height"])


@needs_namespaces
def test_the_portal_serves_with_a_read_only_root(tmp_path: Path, pod_tmp: Path) -> None:
    # The portal's pod is read-only too (manifests/base/portal.yaml); with a model URL set it
    # starts no model server of its own, as in the cluster.
    env, home = pod_environment(tmp_path, pod_tmp, STEREO_SPOT_MODEL_URL="http://127.0.0.1:9")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "portal.log"
    portal = start_read_only(
        [STEREO_SPOT, "portal", "--host", "127.0.0.1", "--port", str(port)],
        [ROOT, home],
        env,
        log_path,
    )
    try:
        wait_until_ok(f"{url}/healthz", portal, log_path, timeout=60)
        page = httpx.get(f"{url}/", timeout=10)
        assert page.status_code == 200
        assert "<form" in page.text, "the upload page did not render"
    finally:
        stop_process(portal)
