"""``jobs retry`` resumes a job with the engine it was made for, whatever this shell says."""

from __future__ import annotations

import os
import subprocess

import pytest

from stereo_spot.cli.convert import submit_job
from stereo_spot.domain import Layout, StereoParams
from stereo_spot.media.probe import count_video_frames
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from, storage_from
from tests.media import make_clip

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_a_job_is_resumed_with_its_own_engine_not_the_shells(tmp_path):
    # `convert` says "fix that, then resume the job: stereo-spot jobs retry JOB"; retried under
    # another STEREO_SPOT_ENGINE, the server started was of that engine, refused every segment,
    # and the job failed for good.
    clip = make_clip(tmp_path / "clip.mp4", seconds=1)
    settings = Settings(backend="local", data_dir=tmp_path / "data")
    job = submit_job(
        clip, Layout.ANAGLYPH, StereoParams(), "classical",
        storage_from(settings), job_store_from(settings), settings,
    )  # fmt: skip
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STEREO_SPOT_")},
        "STEREO_SPOT_DATA_DIR": str(settings.data_dir),
        "STEREO_SPOT_ENGINE": "depth-anything",  # no weights: it could not even start
    }
    output = tmp_path / "3d.mp4"
    retried = subprocess.run(
        ["stereo-spot", "jobs", "retry", job.job_id, "-o", str(output)],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert retried.returncode == 0, retried.stderr
    assert count_video_frames(output) == count_video_frames(clip)
