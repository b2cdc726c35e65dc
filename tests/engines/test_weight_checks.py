"""Bad weights folders fail at check and load time with one sentence that says what to fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

from safetensors.torch import load_file, save_file

from inference_service.engines import engine_from_name
from stereo_spot.cli import main
from stereo_spot.errors import EngineError


def check(folder: Path, engine: str, capsys) -> tuple[int, str]:
    code = main(["models", "check", str(folder), "--engine", engine])
    return code, capsys.readouterr().out


def copy(source: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(source, tmp_path / source.name))


def edit_config(path: Path, **changes) -> None:
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def test_good_folders_pass(tiny_depth_anything, tiny_stereocrafter, capsys):
    assert check(tiny_depth_anything, "depth-anything", capsys) == (
        0,
        f"{tiny_depth_anything}: usable as depth-anything weights.\n",
    )
    assert check(tiny_stereocrafter, "stereocrafter", capsys)[0] == 0


def test_missing_weights_file(tiny_depth_anything, tmp_path, capsys):
    folder = copy(tiny_depth_anything, tmp_path)
    (folder / "model.safetensors").unlink()
    code, out = check(folder, "depth-anything", capsys)
    assert code == 1
    assert f"{folder / 'model.safetensors'} is missing; copy the model's weights file there." in out
    with pytest.raises(EngineError, match=r"model\.safetensors is missing"):
        engine_from_name("depth-anything", str(folder))


def test_a_weights_file_cut_short_is_said_to_be(tiny_stereocrafter, tmp_path, capsys):
    # A download that stopped part-way passed as "usable", and loading it then said to run
    # the check that had passed it.
    folder = copy(tiny_stereocrafter, tmp_path)
    vae = folder / "svd" / "vae" / "diffusion_pytorch_model.safetensors"
    whole = vae.stat().st_size
    vae.write_bytes(vae.read_bytes()[: whole // 2])
    code, out = check(folder, "stereocrafter", capsys)
    assert code == 1
    assert f"{vae} is cut short ({whole // 2} bytes of {whole}): download it again." in out


def test_missing_component_of_stereocrafter(tiny_stereocrafter, tmp_path, capsys):
    folder = copy(tiny_stereocrafter, tmp_path)
    shutil.rmtree(folder / "svd" / "vae")
    code, out = check(folder, "stereocrafter", capsys)
    assert code == 1
    assert "svd/vae is missing; it must hold the SVD temporal VAE" in out


def test_wrong_architecture(tiny_depth_anything, tiny_stereocrafter, tmp_path, capsys):
    folder = copy(tiny_depth_anything, tmp_path)
    edit_config(folder / "config.json", model_type="dpt", architectures=["DPTForDepthEstimation"])
    code, out = check(folder, "depth-anything", capsys)
    assert code == 1 and "describes a dpt model, not Depth Anything" in out
    # An SVD img2vid UNet where the StereoCrafter inpainting UNet belongs.
    folder = copy(tiny_stereocrafter, tmp_path)
    edit_config(folder / "stereocrafter" / "unet" / "config.json", in_channels=8)
    code, out = check(folder, "stereocrafter", capsys)
    assert code == 1 and "has in_channels 8, not 9" in out
    with pytest.raises(EngineError, match=r"has in_channels 8, not 9"):
        engine_from_name("stereocrafter", str(folder))


def test_wrong_dtype(tiny_depth_anything, tmp_path, capsys):
    folder = copy(tiny_depth_anything, tmp_path)
    tensors = load_file(folder / "model.safetensors")
    tensors = {name: tensor.to(__import__("torch").int8) for name, tensor in tensors.items()}
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    code, out = check(folder, "depth-anything", capsys)
    assert code == 1
    assert "tensors are stored as I8" in out and "re-export the model in float16 or float32" in out


@pytest.mark.parametrize("engine", ["depth-anything", "stereocrafter"])
def test_shape_mismatch(engine, tiny_depth_anything, tiny_stereocrafter, tmp_path, capsys):
    if engine == "depth-anything":
        folder = copy(tiny_depth_anything, tmp_path)
        edit_config(folder / "config.json", head_hidden_size=12)
    else:
        folder = copy(tiny_stereocrafter, tmp_path)
        edit_config(folder / "svd" / "vae" / "config.json", block_out_channels=[64, 64])
    code, out = check(folder, engine, capsys)
    assert code == 1
    assert "have the wrong shape" in out and "copy both from the same release" in out
    with pytest.raises(EngineError, match="have the wrong shape"):
        engine_from_name(engine, str(folder))


def test_no_weights_configured_says_which_variable_to_set():
    with pytest.raises(EngineError, match="set STEREO_SPOT_WEIGHTS"):
        engine_from_name("depth-anything", None)


@pytest.mark.parametrize(
    ("weights", "reason"),
    [
        (None, "The stereocrafter engine needs weights: set STEREO_SPOT_WEIGHTS to a weights "
               "directory or s3:// URI (see docs/MODELS.md)."),
        ("/nowhere/weights", "The weights directory /nowhere/weights does not exist; point "
                             "STEREO_SPOT_WEIGHTS at the folder laid out as in docs/MODELS.md."),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", ["convert", "up"])
def test_a_learned_engine_without_weights_is_refused_before_its_server_starts(
    command, weights, reason, clip_mp4, tmp_path, monkeypatch, capsys
):
    # Its model server said so once it had failed to load: `convert` had made a job by then,
    # left to resume though it could never run.
    monkeypatch.delenv("STEREO_SPOT_MODEL_URL", raising=False)
    monkeypatch.delenv("STEREO_SPOT_WEIGHTS", raising=False)
    monkeypatch.setenv("STEREO_SPOT_ENGINE", "stereocrafter")
    monkeypatch.setenv("STEREO_SPOT_DATA_DIR", str(tmp_path / "data"))
    if weights:
        monkeypatch.setenv("STEREO_SPOT_WEIGHTS", weights)
    arguments = {
        "convert": ["convert", str(clip_mp4), "-o", str(tmp_path / "3d.mp4")],
        "up": ["up", "--port", "0"],
    }

    code = main(arguments[command])

    assert code == 1
    assert capsys.readouterr().err == f"stereo-spot: {reason}\n"
    assert main(["jobs", "list"]) == 0
    assert capsys.readouterr().out == "", "no job was made"


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("STEREO_SPOT_BATCH_SIZE", "abc", "STEREO_SPOT_BATCH_SIZE must be a whole number >= 1, not 'abc'."),
        ("STEREO_SPOT_DEVICE", "gpu", "STEREO_SPOT_DEVICE='gpu' is not a torch device (auto, cpu, cuda, cuda:1, mps)."),
    ],
)  # fmt: skip
def test_a_learned_engine_s_knob_that_does_not_parse_is_misuse_before_any_job(
    variable, value, reason, clip_mp4, tmp_path, monkeypatch, capsys
):
    # Its model server said so once it had failed to load, after `convert` had made a job.
    monkeypatch.delenv("STEREO_SPOT_MODEL_URL", raising=False)
    monkeypatch.setenv("STEREO_SPOT_ENGINE", "depth-anything")
    monkeypatch.setenv("STEREO_SPOT_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("STEREO_SPOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(variable, value)

    assert main(["convert", str(clip_mp4), "-o", str(tmp_path / "3d.mp4")]) == 2
    assert capsys.readouterr().err == f"stereo-spot: {reason}\n"
    assert main(["jobs", "list"]) == 0
    assert capsys.readouterr().out == "", "no job was made"


def test_a_weights_uri_is_checked_as_the_model_server_reads_it(
    tiny_depth_anything, tmp_path, capsys
):
    # `models check file:///x` looked for a folder "file:/x"; `file://tmp/x` named "/x"; a
    # file said it "does not exist".
    uri = tiny_depth_anything.as_uri()
    assert check(uri, "depth-anything", capsys) == (
        0,
        f"{uri}: usable as depth-anything weights.\n",
    )
    code, out = check("file://tmp/weights", "depth-anything", capsys)
    assert (code, out) == (
        1,
        "file://tmp/weights names the host 'tmp'; a folder on this machine is "
        "file:///tmp/weights (three slashes).\n",
    )
    weights_file = tiny_depth_anything / "model.safetensors"
    with pytest.raises(
        EngineError, match=r"model\.safetensors is a file; point STEREO_SPOT_WEIGHTS"
    ):
        engine_from_name("depth-anything", str(weights_file))
