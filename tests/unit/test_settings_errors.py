"""A STEREO_SPOT_* variable that does not parse is named in one sentence, not a traceback; so
is what the system refuses, and an option out of its range is misuse (exit 2)."""

from __future__ import annotations

import pytest

from stereo_spot.cli import main
from tests.media import make_clip


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
    assert main(["jobs", "list"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"stereo-spot: Invalid setting STEREO_SPOT_DATA_DIR='{a_file}': it is a file, not a "
        "folder.\n"
    )
    for verb in (["jobs", "list"], ["convert", str(a_file)]):
        with pytest.raises(SystemExit) as refused:
            main([*verb, "--data-dir", str(a_file)])
        assert refused.value.code == 2
        assert f"argument --data-dir: {a_file} is a file, not a folder" in capsys.readouterr().err


def test_a_mistyped_data_folder_is_not_made_empty_to_say_there_are_no_jobs(tmp_path, capsys):
    for verb in ("list", "show", "retry", "cancel", "delete"):
        args = ["jobs", verb] + ([] if verb == "list" else ["abcd"])
        with pytest.raises(SystemExit) as refused:
            main([*args, "--data-dir", str(tmp_path / "convertd")])
        assert refused.value.code == 2, verb
        assert f"there is no folder {tmp_path / 'convertd'}" in capsys.readouterr().err
    assert not (tmp_path / "convertd").exists()


def test_a_limit_below_one_is_misuse_not_an_empty_list(capsys):
    for limit in ("0", "-5", "many"):
        with pytest.raises(SystemExit) as refused:
            main(["jobs", "list", "--limit", limit])
        assert refused.value.code == 2
        assert f"'{limit}' is not a count of 1 or more" in capsys.readouterr().err


def test_an_engine_that_does_not_exist_is_refused_before_any_job(tmp_path, monkeypatch, capsys):
    # Once, a job was made for it and failed at the model server; retried with the variable
    # put right, that job still named the engine that does not exist, and failed for good.
    clip = make_clip(tmp_path / "clip.mp4", seconds=1)
    monkeypatch.setenv("STEREO_SPOT_ENGINE", "foo")
    monkeypatch.setenv("STEREO_SPOT_DATA_DIR", str(tmp_path / "data"))
    assert main(["convert", str(clip), "-o", str(tmp_path / "3d.mp4")]) == 2
    assert capsys.readouterr().err == (
        "stereo-spot: Invalid setting STEREO_SPOT_ENGINE='foo': input should be 'classical', "
        "'depth-anything' or 'stereocrafter'.\n"
    )
    assert not (tmp_path / "data").exists(), "no job, nothing stored"


def test_a_port_out_of_range_is_misuse(capsys):
    with pytest.raises(SystemExit) as refused:
        main(["up", "--port", "99999"])
    assert refused.value.code == 2
    assert "'99999' is not a port number (0 to 65535)" in capsys.readouterr().err


def test_a_key_or_password_that_cannot_work_is_refused_without_being_shown(monkeypatch, capsys):
    # A short key crashed the portal with a traceback (and `up` blamed its model server).
    monkeypatch.setenv("STEREO_SPOT_SECRET_KEY", "short")
    monkeypatch.setenv("STEREO_SPOT_BASIC_AUTH", "studio")
    assert main(["jobs", "list"]) == 2
    err = capsys.readouterr().err
    assert (
        "STEREO_SPOT_SECRET_KEY=(not shown): a key signs URLs and forms: it must be at least 16 "
        in err
    )
    assert "STEREO_SPOT_BASIC_AUTH=(not shown): it is user:password, both given" in err
    assert "short" not in err and "studio" not in err


def test_limits_that_would_refuse_every_video_or_none_are_refused(monkeypatch, capsys):
    monkeypatch.setenv("STEREO_SPOT_MAX_UPLOAD_BYTES", "-5")
    monkeypatch.setenv("STEREO_SPOT_MAX_DURATION_SECONDS", "nan")
    assert main(["jobs", "list"]) == 2
    err = capsys.readouterr().err
    assert "STEREO_SPOT_MAX_UPLOAD_BYTES='-5': input should be greater than 0" in err
    assert "STEREO_SPOT_MAX_DURATION_SECONDS='nan': input should be a finite number" in err
