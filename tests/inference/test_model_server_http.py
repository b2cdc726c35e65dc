"""What a caller of the real model server (HTTP, local storage) gets for requests it must refuse."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from inference_service.launcher import running_model_server
from stereo_spot import keys
from stereo_spot.settings import Settings
from stereo_spot.storage.local import LocalStorage
from tests.media import make_clip

pytestmark = pytest.mark.slow

JOB = "httpJob_0123456789abc"


@dataclass
class Server:
    url: str
    storage: LocalStorage

    def predict(self, **instance) -> httpx.Response:
        body = {"instances": [{"job_id": JOB, "segment_index": 0, **instance}]}
        return httpx.post(f"{self.url}/v1/models/stereo:predict", json=body, timeout=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("model-server")
    settings = Settings(data_dir=data_dir, backend="local")
    with running_model_server(settings) as url:
        yield Server(url, LocalStorage(data_dir / "media"))


def test_a_request_writing_over_the_jobs_upload_is_refused(server, tmp_path) -> None:
    storage = server.storage
    clip = make_clip(tmp_path / "segment.mp4", seconds=1, size="64x48", audio=False)
    segment = keys.source_segment_key(JOB, 0, 1, "anaglyph")
    storage.put_file(clip, segment)
    (tmp_path / "source.mp4").write_bytes(b"the uploaded video")
    storage.put_file(tmp_path / "source.mp4", keys.source_key(JOB))

    response = server.predict(
        input_uri=storage.uri_for(segment), output_uri=storage.uri_for(keys.source_key(JOB))
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"] == (
        f"The output of segment 0 of job {JOB} is {keys.converted_segment_key(JOB, 0)}, "
        f"not {keys.source_key(JOB)}."
    )
    stored = storage.get_file(keys.source_key(JOB), tmp_path / "after.mp4")
    assert stored.read_bytes() == b"the uploaded video"


def test_a_segment_index_past_any_number_of_segments_is_out_of_range(server) -> None:
    response = server.predict(segment_index=10**30, input_uri="x", output_uri="y")
    assert response.status_code == 400, response.text
    assert response.json()["error"] == (
        "Invalid request at 'instances.0.segment_index': The number is out of range."
    )


def test_a_segment_that_is_no_video_is_named_by_its_key(server, tmp_path) -> None:
    storage = server.storage
    segment = keys.source_segment_key(JOB, 0, 1, "sbs")
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all" * 100)
    storage.put_file(tmp_path / "bad.mp4", segment)

    response = server.predict(
        layout="sbs",
        input_uri=storage.uri_for(segment),
        output_uri=storage.uri_for(keys.converted_segment_key(JOB, 0)),
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"] == (
        f"The segment {segment} cannot be read: Invalid data found when processing input."
    )


def test_segments_of_another_data_folder_are_a_server_fault(server, tmp_path) -> None:
    elsewhere = LocalStorage(tmp_path / "other-data" / "media")
    response = server.predict(
        input_uri=elsewhere.uri_for(keys.source_segment_key(JOB, 0, 1, "anaglyph")),
        output_uri=elsewhere.uri_for(keys.converted_segment_key(JOB, 0)),
    )
    assert response.status_code == 500, response.text
    assert response.json()["error"].startswith(
        f"This model server reads and writes {server.storage.root.as_uri()}, not where"
    )


@pytest.mark.parametrize("action", ["unload", "load"])
def test_the_model_cannot_be_unloaded_or_loaded_by_a_caller(server, action) -> None:
    # A body-less POST, which any web page can send to 127.0.0.1 without a preflight, unloaded
    # the model: every segment then failed until the server was restarted by hand.
    answer = httpx.post(f"{server.url}/v2/repository/models/stereo/{action}", timeout=30)

    assert answer.status_code == 403
    assert answer.json()["error"] == (
        "This model server serves one model, loaded as it starts; it is not loaded or unloaded "
        "through the repository API."
    )
    listed = httpx.get(f"{server.url}/v1/models", timeout=30).json()
    assert listed["models"] == ["stereo"]
