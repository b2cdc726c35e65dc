"""STEREO_SPOT_PARALLELISM: a bad value is one sentence naming the variable (exit 2, as for the
other STEREO_SPOT_* settings), not a traceback; 0 compiled to no limit at all."""

from __future__ import annotations

import os
import subprocess

import pytest

from pipelines.stereo_pipeline import parallelism_from
from stereo_spot.errors import InvalidOption


@pytest.mark.parametrize("value", ["abc", "-3", "0", "2.5"])
def test_a_parallelism_that_is_no_whole_number_above_0_is_refused(value) -> None:
    with pytest.raises(InvalidOption) as refused:
        parallelism_from({"STEREO_SPOT_PARALLELISM": value})
    assert str(refused.value) == (
        f"Invalid setting STEREO_SPOT_PARALLELISM={value!r}: how many segments convert at once "
        "must be a whole number above 0."
    )


def test_parallelism_defaults_to_4() -> None:
    assert parallelism_from({}) == 4 and parallelism_from({"STEREO_SPOT_PARALLELISM": "2"}) == 2


def test_compile_pipeline_says_which_setting_is_wrong(tmp_path) -> None:
    env = {**os.environ, "STEREO_SPOT_PARALLELISM": "abc", "STEREO_SPOT_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        ["stereo-spot", "compile-pipeline", "-o", str(tmp_path / "p.yaml")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        "stereo-spot: Invalid setting STEREO_SPOT_PARALLELISM='abc': how many segments convert "
        "at once must be a whole number above 0.\n"
    )
    assert not (tmp_path / "p.yaml").exists()
