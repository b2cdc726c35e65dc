"""``python -m inference_service`` refuses options nobody takes (a mistyped ``--prot 8081`` was
ignored, the server listening on 8080) and still passes kserve its own."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from inference_service.__main__ import _refuse_unknown


def test_a_mistyped_option_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "inference_service", "--prot", "8081"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.endswith(
        "python -m inference_service: error: unrecognized arguments: --prot 8081\n"
    )


@pytest.mark.parametrize(
    "arguments", [["--max_threads", "4"], ["--enable_docs_url=true"], ["--workers", "1"]]
)
def test_kserve_options_are_left_to_kserve(arguments) -> None:
    _refuse_unknown(argparse.ArgumentParser(), arguments)  # no SystemExit
