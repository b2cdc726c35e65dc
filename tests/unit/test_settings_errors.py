"""A STEREO_SPOT_* variable that does not parse is named in one sentence, not a traceback; so
is what the system refuses, and an option out of its range is misuse (exit 2)."""

from __future__ import annotations

import pytest

from stereo_spot.cli import main


def test_a_bad_variable_is_named_with_its_value(monkeypatch, capsys):
    monkeypatch.setenv("STEREO_SPOT_MODEL_WAIT_SECONDS", "-1")
    monkeypatch.setenv("STEREO_SPOT_SEGMENT_SECONDS", "ten")
    assert main(["jobs", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stereo-spot: Invalid setting ")
    assert "STEREO_SPOT_MODEL_WAIT_SECONDS='-1': input should be greater than or equal to 0" in err
    assert "STEREO_SPOT_SEGMENT_SECONDS='ten': input should be a valid number" in err
    assert "Traceback" not in err


def test_a_data_folder_that_is_a_file_is_one_sentence(tmp_path, monkeypatch, capsys):
    a_file = tmp_path / "clip.mp4"
    a_file.write_text("")
    monkeypatch.setenv("STEREO_SPOT_DATA_DIR", str(a_file))
    assert main(["jobs", "list"]) == 1
    err = capsys.readouterr().err
    assert err == f"stereo-spot: File exists: {a_file}\n"


def test_a_port_out_of_range_is_misuse(capsys):
    with pytest.raises(SystemExit) as refused:
        main(["up", "--port", "99999"])
    assert refused.value.code == 2
    assert "'99999' is not a port number (0 to 65535)" in capsys.readouterr().err
