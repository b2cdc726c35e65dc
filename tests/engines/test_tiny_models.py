"""``stereo-spot models tiny`` over a folder that already holds something."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

from stereo_spot.cli import main


def files_in(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def test_a_tiny_model_written_over_an_earlier_one_holds_only_its_own_files(
    tiny_stereocrafter, tmp_path, capsys
):
    folder = tmp_path / "tiny"
    assert main(["models", "tiny", str(folder), "--engine", "depth-anything"]) == 0
    capsys.readouterr()

    assert main(["models", "tiny", str(folder), "--engine", "stereocrafter"]) == 0

    # Depth Anything's config.json and model.safetensors stayed at the top, beside the
    # StereoCrafter folders.
    assert files_in(folder) == files_in(tiny_stereocrafter)
    assert "(replacing the tiny model that was there)" in capsys.readouterr().err
    assert main(["models", "check", str(folder), "--engine", "stereocrafter"]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tiny"], "nothing left beside it"


def test_a_folder_holding_other_files_is_refused_untouched(tmp_path, capsys):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"someone's real weights")

    assert main(["models", "tiny", str(folder), "--engine", "depth-anything"]) == 1

    assert capsys.readouterr().err.strip() == (
        f"stereo-spot: {folder} already holds files that `stereo-spot models tiny` did not "
        "write; name a new or empty folder (nothing was written)."
    )
    assert files_in(folder) == ["model.safetensors"]
    assert (folder / "model.safetensors").read_bytes() == b"someone's real weights"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["weights"]
