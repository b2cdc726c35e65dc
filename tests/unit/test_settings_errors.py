"""A STEREO_SPOT_* variable that does not parse is named in one sentence, not a traceback."""

from __future__ import annotations

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
