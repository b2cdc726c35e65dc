"""The local model-server launcher as ``stereo-spot convert`` uses it: started, not awaited."""

from __future__ import annotations

import httpx
import psutil
import pytest

from inference_service.launcher import starting_model_server, startup_timeout
from stereo_spot.errors import StereoSpotError
from stereo_spot.settings import Settings

pytestmark = pytest.mark.slow


def test_the_url_is_known_at_once_and_answers_once_ready(tmp_path):
    with starting_model_server(Settings(data_dir=tmp_path, backend="local")) as server:
        server.raise_if_failed()  # still loading is not a failure
        server.wait()
        answer = httpx.get(f"{server.url}/v1/models/stereo", timeout=5)
        assert answer.status_code == 200 and answer.json()["ready"] is True


def test_a_server_released_before_it_was_ready_has_not_failed(tmp_path):
    # A resumed job whose segments are all converted reaches reassembly before the server it
    # started is ready; letting that server go must not fail the run.
    with starting_model_server(Settings(data_dir=tmp_path, backend="local")) as server:
        server.release()
        server.wait()  # the start-up watcher sees the process end: released, that is no failure
        server.raise_if_failed()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/v1/models/stereo", timeout=1)


def test_the_server_on_this_machine_listens_on_this_machine_only(tmp_path):
    # It converts any stored object into any key for whoever asks: on every interface (kserve's
    # own address), anyone on the network could overwrite a finished job's result.
    with starting_model_server(Settings(data_dir=tmp_path, backend="local")) as server:
        server.wait()
        port = int(server.url.rsplit(":", 1)[1])
        listening = {
            conn.laddr.ip
            for conn in psutil.net_connections(kind="inet")
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port
        }
    assert listening == {"127.0.0.1"}


def test_how_long_a_server_may_take_to_start_follows_its_engine_and_the_setting(tmp_path):
    # 120 s gave up on a learned engine still downloading its weights from S3.
    assert startup_timeout(Settings(data_dir=tmp_path)) == 120
    assert startup_timeout(Settings(data_dir=tmp_path, engine="stereocrafter")) == 1800
    quick = Settings(data_dir=tmp_path, model_start_seconds=0.2)
    with starting_model_server(quick) as server, pytest.raises(StereoSpotError) as gave_up:
        server.wait()
    assert str(gave_up.value) == (
        f"The model server at {server.url} did not become ready in 0.2 s "
        "(STEREO_SPOT_MODEL_START_SECONDS allows longer: a learned engine's first start "
        "downloads its weights)."
    )
