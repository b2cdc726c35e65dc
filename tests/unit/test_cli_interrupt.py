"""Ctrl-C at any moment of a command: one line and exit code 130, never a traceback. The first
half second of every command imports the verbs' modules (pydantic, the settings, the media
code); a Ctrl-C then printed a traceback, as a QA pass found."""

from __future__ import annotations

import subprocess
import sys

import pytest

import stereo_spot.cli as cli


def test_ctrl_c_while_the_verbs_are_imported_says_interrupted(monkeypatch, capsys) -> None:
    def interrupted_import() -> None:
        raise KeyboardInterrupt  # as the terminal's Ctrl-C lands in the middle of an import

    monkeypatch.setattr(cli, "build_parser", interrupted_import)

    assert cli.main(["jobs", "list"]) == 130
    assert capsys.readouterr().err == "stereo-spot: interrupted.\n"


@pytest.mark.parametrize("heavy", ["pydantic", "numpy", "av"])
def test_the_command_line_catches_ctrl_c_before_it_imports_anything_heavy(heavy: str) -> None:
    # What runs before main() can catch a Ctrl-C is the console script's own import of this
    # module: it stays quick.
    imported = subprocess.run(
        [sys.executable, "-c", f"import sys, stereo_spot.cli; print({heavy!r} in sys.modules)"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert imported.stdout.strip() == "False"
