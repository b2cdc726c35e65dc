"""Where the learned engines' weights come from, and whether a weights folder is usable.

Weights are named by ``STEREO_SPOT_WEIGHTS``: a local directory (in a KServe pod, the
``storageUri`` mounted at ``/mnt/models``), a ``file://`` URI of one, or an ``s3://bucket/prefix``
URI, which is downloaded once through the storage port into a cache under the data dir.

The checks here read only ``config.json`` files and safetensors headers (no tensor data), so
``stereo-spot models check`` and the model server's ``load()`` say the same one-sentence thing
about a bad folder before any multi-GB load starts. torch, transformers and diffusers are imported
lazily: the classical engine and the rest of the project work without them.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from stereo_spot.errors import EngineError, InvalidOption, StereoSpotError, StoreUnavailable

ML_INSTALL_HINT = "install stereo-spot[ml] (torch, transformers, diffusers)"

# Floating dtypes a checkpoint may hold (safetensors header names). Anything else (int8
# quantised exports, float64) cannot be loaded by from_pretrained as-is.
FLOAT_DTYPES = frozenset({"F32", "F16", "BF16"})


# What each learned engine imports: depth-anything runs without diffusers (a GPU image built for
# it alone, or a benchmark machine, may lack it).
ENGINE_PACKAGES = {
    "depth-anything": ("torch", "transformers", "safetensors"),
    "stereocrafter": ("torch", "transformers", "diffusers", "safetensors"),
}


def require_ml(engine: str, *, load: bool = True) -> None:
    """Raise EngineError with the install hint when a package ``engine`` needs is missing;
    without ``load``, only whether it is installed (no import: torch's alone takes seconds)."""
    missing = [module for module in ENGINE_PACKAGES[engine] if not _usable(module, load)]
    if missing:
        raise EngineError(
            f"The {engine} engine needs {', '.join(missing)}, which this build lacks; "
            f"{ML_INSTALL_HINT}."
        )


def refuse_what_cannot_load(engine: str, weights: str | None) -> None:
    """Before a model server is started for ``engine`` on this machine: its packages installed,
    its weights named and, where they are a folder here, there. Cheap (nothing imported or
    read), so a command says it at once rather than once the server has failed to load; what is
    inside the folder, and weights in S3, the server checks as it loads them."""
    if engine not in ENGINE_PACKAGES:
        return  # classical: nothing to load
    _refuse_bad_options()
    if not (weights or "").startswith("s3://"):
        resolve_weights(weights, engine)
    require_ml(engine, load=False)


# The devices STEREO_SPOT_DEVICE names, as torch spells them; read without importing torch.
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def _refuse_bad_options() -> None:
    """A learned engine's ``STEREO_SPOT_*`` knob that does not parse is misuse, said before a
    job is made (exit 2), as any other variable's is; its server said it once it had failed."""
    try:
        options = LearnedEngineOptions.from_environment()
    except EngineError as error:
        raise InvalidOption(str(error)) from None
    if not _DEVICE.fullmatch(options.device):
        raise InvalidOption(
            f"STEREO_SPOT_DEVICE={options.device!r} is not a torch device (auto, cpu, cuda, "
            "cuda:1, mps)."
        )


def _usable(module: str, load: bool) -> bool:
    if not load:
        return importlib.util.find_spec(module) is not None
    try:
        __import__(module)
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class LearnedEngineOptions:
    """Knobs of the learned engines, read from ``STEREO_SPOT_*`` variables (DESIGN.md,
    Configuration; see docs/MODELS.md for each)."""

    device: str = "auto"  # auto | cpu | cuda | cuda:N
    batch_size: int = 8
    diffusion_steps: int = 8
    window_frames: int = 16
    window_overlap: int = 3
    tile_size: int = 1024
    allow_cpu_diffusion: bool = False
    seed: int = 0
    cache_dir: Path | None = None

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> LearnedEngineOptions:
        env = os.environ if environ is None else environ

        def number(name: str, default: int, low: int) -> int:
            raw = env.get(f"STEREO_SPOT_{name}")
            if raw is None or raw == "":
                return default
            try:
                value = int(raw)
            except ValueError:
                value = low - 1
            if value < low:
                raise EngineError(
                    f"STEREO_SPOT_{name} must be a whole number >= {low}, not {raw!r}."
                )
            return value

        data_dir = env.get("STEREO_SPOT_DATA_DIR")
        return cls(
            device=env.get("STEREO_SPOT_DEVICE", "auto") or "auto",
            batch_size=number("BATCH_SIZE", cls.batch_size, 1),
            diffusion_steps=number("DIFFUSION_STEPS", cls.diffusion_steps, 1),
            window_frames=number("WINDOW_FRAMES", cls.window_frames, 2),
            window_overlap=number("WINDOW_OVERLAP", cls.window_overlap, 0),
            tile_size=number("TILE_SIZE", cls.tile_size, 64),
            allow_cpu_diffusion=env.get("STEREO_SPOT_ALLOW_CPU_DIFFUSION", "") in ("1", "true"),
            seed=number("SEED", cls.seed, 0),
            cache_dir=(
                Path(env["STEREO_SPOT_MODEL_CACHE"])
                if env.get("STEREO_SPOT_MODEL_CACHE")
                else (Path(data_dir) / "model-cache" if data_dir else None)
            ),
        )


def torch_device(name: str) -> Any:
    """The torch device for an option value (``auto``: CUDA when there is one)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise EngineError(
            f"STEREO_SPOT_DEVICE={name!r} is not a torch device (cpu, cuda, cuda:1)."
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EngineError(f"STEREO_SPOT_DEVICE={name} but this machine has no usable CUDA GPU.")
    return device


# -- where the weights are ------------------------------------------------------------------------


def resolve_weights(weights: str | None, engine: str, cache_dir: Path | None = None) -> Path:
    """A local directory holding the weights named by ``weights`` (downloaded when remote)."""
    if not weights:
        raise EngineError(
            f"The {engine} engine needs weights: set STEREO_SPOT_WEIGHTS to a weights directory "
            "or s3:// URI (see docs/MODELS.md)."
        )
    parsed = urlparse(weights)
    if parsed.scheme == "s3":
        return download_weights(weights, cache_dir)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            # file://tmp/weights reads "tmp" as a host and /weights as the folder.
            raise EngineError(
                f"{weights} names the host {parsed.netloc!r}; a folder on this machine is "
                f"file:///{parsed.netloc}{unquote(parsed.path)} (three slashes)."
            )
        path = Path(unquote(parsed.path))
    elif parsed.scheme in ("", "c", "d") or len(parsed.scheme) == 1:
        path = Path(weights)
    else:
        raise EngineError(
            f"STEREO_SPOT_WEIGHTS={weights!r} is neither a directory, a file:// URI nor an s3:// URI."
        )
    if path.is_file():
        raise EngineError(
            f"{path} is a file; point STEREO_SPOT_WEIGHTS at the folder that holds the weights, "
            "laid out as in docs/MODELS.md."
        )
    if not path.is_dir():
        raise EngineError(
            f"The weights directory {path} does not exist; point STEREO_SPOT_WEIGHTS at the "
            "folder laid out as in docs/MODELS.md."
        )
    return path


def download_weights(uri: str, cache_dir: Path | None) -> Path:
    """Copy every object under an ``s3://bucket/prefix`` to the cache through the storage port.

    Objects already in the cache with the same size are not fetched again, so a restarted pod
    with a persistent cache starts quickly; what a download killed part-way left there is
    deleted (:func:`downloading_into`).
    """
    from stereo_spot.settings import Settings
    from stereo_spot.wiring import storage_from

    parsed = urlparse(uri)
    bucket, prefix = parsed.netloc, parsed.path.strip("/")
    if not bucket:
        raise EngineError(f"The weights URI {uri} names no bucket.")
    settings = Settings(backend="aws", bucket=bucket)
    target = download_folder(uri, cache_dir)
    storage = storage_from(settings)
    try:
        keys = storage.list_prefix(f"{prefix}/" if prefix else "")
        if not keys:
            raise EngineError(f"There are no weights under {uri}; upload the folder there first.")
        with downloading_into(target):
            for key in keys:
                relative = key[len(prefix) :].lstrip("/") if prefix else key
                if not relative or relative.endswith("/"):
                    continue
                local = target / relative
                if local.is_file() and local.stat().st_size == storage.size(key):
                    continue
                storage.get_file(key, local)
    except StoreUnavailable as error:  # the bucket missing, the endpoint down: said as a load
        raise EngineError(f"Downloading the weights from {uri} failed: {error}") from None
    except StereoSpotError:
        raise
    except Exception as error:  # botocore's errors: no credentials, endpoint down, access denied
        raise EngineError(f"Downloading the weights from {uri} failed: {error}.") from None
    return target


# Held (shared) by every download into a cache folder while it runs; beside the weights, where
# no check or loader looks (they read the files docs/MODELS.md names).
DOWNLOAD_LOCK = ".downloading.lock"
# The temporary names a download writes under before renaming into place: the storage port's
# (S3Storage.get_file), and s3transfer's own beside it (the same name plus a random suffix).
DOWNLOAD_TEMPORARIES = ".download-*"


@contextlib.contextmanager
def downloading_into(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s download lock while downloading into it, first deleting the temporary
    files of downloads into it that were killed part-way, when no other download runs there.

    A model server stopped mid-download (a pod evicted, SIGKILL, the OOM killer) never gets to
    delete its temporary file, and nothing else would: gigabytes left in the cache for good.
    The lock tells a dead download's temporaries from a live one's: the kernel lets go of a
    process's flock when the process ends, however it ends, so a download that gets the lock
    exclusively knows that none is running there and that every temporary left is stale. An age
    limit could not tell a slow multi-GB download (or one paused by a stalled network) from a
    dead one, and would delete the file under it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / DOWNLOAD_LOCK, "a+b") as lock:
        if _flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB):
            for stale in folder.rglob(DOWNLOAD_TEMPORARIES):
                if stale.is_file():
                    stale.unlink(missing_ok=True)
        # Shared, so that downloads started together by several servers run together; taking it
        # from the exclusive lock lets go first, which is harmless: this one wrote nothing yet.
        _flock(lock, fcntl.LOCK_SH)
        yield


def _flock(file: Any, how: int) -> bool:
    """Lock ``file`` as ``how`` says; False when another process holds it (another download
    runs), or where the file system has no locks (some network ones): no temporary is deleted
    then, and the download goes on as it did before there were locks."""
    try:
        fcntl.flock(file, how)
    except OSError:  # BlockingIOError, ENOLCK
        return False
    return True


def download_folder(uri: str, cache_dir: Path | None) -> Path:
    """Where :func:`download_weights` copies the objects under ``uri``."""
    from stereo_spot.settings import Settings

    parsed = urlparse(uri)
    cache_root = cache_dir or Settings().data_dir / "model-cache"
    return cache_root / parsed.netloc / parsed.path.strip("/")


def in_storage_terms(message: str, weights: str | None) -> str:
    """A load error about downloaded weights, naming the s3:// objects instead of their cached
    copies: the fix (upload the missing file) belongs in the bucket, which the next start copies
    again, not in the cache."""
    if not weights or urlparse(weights).scheme != "s3":
        return message
    try:
        folder = download_folder(weights, LearnedEngineOptions.from_environment().cache_dir)
    except StereoSpotError:  # a bad STEREO_SPOT_* number: the message is about that already
        return message
    return message.replace(str(folder), weights.rstrip("/"))


# -- checking a component folder ------------------------------------------------------------------


def read_config(folder: Path) -> tuple[dict | None, list[str]]:
    """``folder/config.json`` as a dict, or the problem with it."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        return None, [f"{config_path} is missing; save the model there with save_pretrained."]
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as error:
        return None, [
            f"{config_path} is not valid JSON ({error}); re-save it with save_pretrained."
        ]
    if not isinstance(config, dict):
        return None, [
            f"{config_path} does not hold a JSON object; re-save it with save_pretrained."
        ]
    return config, []


class CutShort(ValueError):
    """A safetensors file shorter than its header says: a download that stopped part-way."""


def safetensors_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (dtype, shape) of every tensor in a safetensors file, from its header only; the
    file's length is checked against where the header says its last tensor ends."""
    with open(path, "rb") as file:
        size = int.from_bytes(file.read(8), "little")
        if size <= 0 or size > 100 * 1024**2:
            raise ValueError("not a safetensors file")
        header = json.loads(file.read(size))
    ends = [entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"]
    if 8 + size + max(ends, default=0) > path.stat().st_size:
        raise CutShort(f"{path.stat().st_size} bytes of {8 + size + max(ends)}")
    return {
        name: (entry["dtype"], tuple(entry["shape"]))
        for name, entry in header.items()
        if name != "__metadata__"
    }


def weight_tensors(
    folder: Path, weights_name: str
) -> tuple[dict[str, tuple[str, tuple[int, ...]]] | None, list[str]]:
    """Every tensor of a component (single file or sharded with an index), or the problem."""
    single = folder / weights_name
    index = folder / f"{weights_name}.index.json"
    files: list[Path]
    if single.is_file():
        files = [single]
    elif index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError):
            return None, [f"{index} is not a valid shard index; re-save the model."]
        files = [folder / shard for shard in shards]
        for file in files:
            if not file.is_file():
                return None, [f"{file} (listed in {index.name}) is missing; copy every shard."]
    else:
        legacy = [
            name
            for name in ("pytorch_model.bin", "diffusion_pytorch_model.bin")
            if (folder / name).is_file()
        ]
        if legacy:
            return None, [
                f"{folder / legacy[0]} is a pickle checkpoint; convert it to {weights_name} "
                "(save_pretrained with safe_serialization) so it loads without running pickled code."
            ]
        return None, [f"{single} is missing; copy the model's weights file there."]
    tensors: dict[str, tuple[str, tuple[int, ...]]] = {}
    for file in files:
        try:
            tensors.update(safetensors_header(file))
        except CutShort as short:
            return None, [f"{file} is cut short ({short}): download it again."]
        except (OSError, ValueError, KeyError, TypeError):
            return None, [f"{file} is not a readable safetensors file; download it again."]
    return tensors, []


def dtype_problems(folder: Path, found: dict[str, tuple[str, tuple[int, ...]]]) -> list[str]:
    """A sentence when tensors are stored in a dtype from_pretrained would silently cast."""
    wrong = sorted((name, dtype) for name, (dtype, _) in found.items() if dtype not in FLOAT_DTYPES)
    if not wrong:
        return []
    name, dtype = wrong[0]
    return [
        f"{folder}: {len(wrong)} tensors are stored as {dtype} (e.g. {name}); re-export the "
        "model in float16 or float32 (quantised and float64 checkpoints are not supported)."
    ]


def compare_tensors(
    folder: Path,
    expected: dict[str, tuple[int, ...]],
    found: dict[str, tuple[str, tuple[int, ...]]],
) -> list[str]:
    """Sentences for wrong dtypes, shape mismatches, missing and unexpected tensors."""
    problems = dtype_problems(folder, found)
    mismatched = [n for n, s in expected.items() if n in found and tuple(found[n][1]) != tuple(s)]
    if mismatched:
        name = mismatched[0]
        problems.append(
            f"{folder}: {len(mismatched)} tensors have the wrong shape ({name} is "
            f"{list(found[name][1])} in the weights but {list(expected[name])} in config.json); "
            "the weights and config.json come from different model sizes, copy both from the "
            "same release."
        )
    missing = [name for name in expected if name not in found]
    if missing:
        problems.append(
            f"{folder}: {len(missing)} tensors that config.json needs are missing from the "
            f"weights (e.g. {missing[0]}); the download is incomplete or for another model."
        )
    unexpected = [name for name in found if name not in expected]
    if unexpected and not missing:
        problems.append(
            f"{folder}: the weights hold {len(unexpected)} tensors this architecture does not "
            f"use (e.g. {unexpected[0]}); they belong to another model."
        )
    return problems


@dataclass(frozen=True)
class Component:
    """One ``from_pretrained`` folder of an engine and what it must be.

    ``expected_shapes`` (diffusers models, whose checkpoint names are the module names) lets the
    header check compare every tensor; transformers renames checkpoint keys while loading, so
    its models are compared by :func:`load_transformers_model` from the library's loading report.
    """

    subfolder: str
    description: str
    weights_name: str
    config_check: Callable[[dict], str | None]
    expected_shapes: Callable[[dict], dict[str, tuple[int, ...]]] | None = None

    def folder(self, root: Path) -> Path:
        return root / self.subfolder if self.subfolder else root

    def problems(self, root: Path) -> list[str]:
        folder = self.folder(root)
        if not folder.is_dir():
            return [f"{folder} is missing; it must hold the {self.description} (docs/MODELS.md)."]
        config, problems = read_config(folder)
        if config is None:
            return problems
        wrong = self.config_check(config)
        if wrong:
            return [f"{folder / 'config.json'} {wrong}"]
        found, problems = weight_tensors(folder, self.weights_name)
        if found is None:
            return problems
        if self.expected_shapes is None:
            return dtype_problems(folder, found)
        try:
            expected = self.expected_shapes(config)
        except Exception as error:  # a config that the library itself rejects
            return [
                f"{folder / 'config.json'} cannot be turned into the {self.description} "
                f"({type(error).__name__}: {error}); re-save it with save_pretrained."
            ]
        return compare_tensors(folder, expected, found)


def load_transformers_model(model_class: Any, folder: Path, description: str, dtype: Any) -> Any:
    """``model_class.from_pretrained(folder)``, refusing missing, unexpected or mis-shaped
    tensors with a sentence (transformers itself would re-initialise them at random)."""
    try:
        model, info = model_class.from_pretrained(
            folder, dtype=dtype, output_loading_info=True, ignore_mismatched_sizes=True
        )
    except Exception as error:
        raise load_problems(error, folder, description) from None
    problems = []
    mismatched = sorted(info.get("mismatched_keys") or [], key=str)
    if mismatched:
        first = mismatched[0]
        detail = (
            f"{first[0]} is {list(first[1])} in the weights but {list(first[2])} in config.json"
            if isinstance(first, tuple) and len(first) == 3
            else str(first[0] if isinstance(first, tuple) else first)
        )
        problems.append(
            f"{folder}: {len(mismatched)} tensors have the wrong shape ({detail}); the weights "
            "and config.json come from different model sizes, copy both from the same release."
        )
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        problems.append(
            f"{folder}: {len(missing)} tensors that config.json needs are missing from the "
            f"weights (e.g. {missing[0]}); the download is incomplete or for another model."
        )
    unexpected = sorted(info.get("unexpected_keys") or [])
    if unexpected and not missing:
        problems.append(
            f"{folder}: the weights hold {len(unexpected)} tensors this architecture does not "
            f"use (e.g. {unexpected[0]}); they belong to another model."
        )
    if problems:
        raise EngineError(" ".join(problems))
    return model


def meta_state_shapes(build: Callable[[], Any]) -> dict[str, tuple[int, ...]]:
    """Parameter shapes of a model built on the meta device (no memory, no initialisation)."""
    import torch

    with torch.device("meta"):
        model = build()
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def load_problems(error: Exception, folder: Path, description: str) -> EngineError:
    """An EngineError sentence for a from_pretrained failure the header checks did not foresee."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return EngineError(
        f"Loading the {description} from {folder} failed ({message}): its files do not hold "
        "the model its config describes; copy that folder again as docs/MODELS.md lays it out."
    )
