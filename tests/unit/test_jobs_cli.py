"""``stereo-spot jobs`` finds the jobs ``convert --data-dir`` keeps, given the same folder."""

from __future__ import annotations

import json

from stereo_spot.cli import main
from stereo_spot.domain import Job
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from


def test_jobs_kept_in_another_data_dir_are_found_with_data_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STEREO_SPOT_DATA_DIR", str(tmp_path / "usual"))
    elsewhere = tmp_path / "elsewhere"
    job = job_store_from(Settings(data_dir=elsewhere, backend="local")).create(
        Job(source_name="holiday.mp4")
    )

    assert main(["jobs", "show", job.job_id]) == 1
    assert f"There is no job '{job.job_id}'" in capsys.readouterr().err
    assert main(["jobs", "show", "--data-dir", str(elsewhere), job.job_id]) == 0
    assert json.loads(capsys.readouterr().out)["source_name"] == "holiday.mp4"
    assert main(["jobs", "list", "--data-dir", str(elsewhere)]) == 0
    assert "holiday.mp4" in capsys.readouterr().out
