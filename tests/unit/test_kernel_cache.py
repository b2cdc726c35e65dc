"""Where the compiled kernels are cached: writable wherever the package runs, and never stale."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import stereo_spot
from stereo_spot.kernel_cache import KERNEL_SOURCES, kernel_cache_dir, kernel_sources_digest

PACKAGE = Path(stereo_spot.__file__).parent


def test_every_module_that_defines_a_kernel_is_hashed() -> None:
    defining = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if "@njit" in path.read_text() or "@numba.njit" in path.read_text()
    }
    assert defining == set(KERNEL_SOURCES)


def test_changing_any_kernel_source_changes_the_cache_directory(tmp_path: Path) -> None:
    for relative in KERNEL_SOURCES:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PACKAGE / relative, tmp_path / relative)
    assert kernel_sources_digest(tmp_path) == kernel_sources_digest()
    seen = {kernel_sources_digest(tmp_path)}
    for relative in KERNEL_SOURCES:
        with (tmp_path / relative).open("a") as source:
            source.write("\n# edited\n")
        seen.add(kernel_sources_digest(tmp_path))
    assert len(seen) == len(KERNEL_SOURCES) + 1


def test_an_unusable_root_is_skipped_for_the_next(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    fallback = tmp_path / "fallback"
    chosen = kernel_cache_dir([blocker / "cache", fallback])
    assert chosen == fallback / "numba" / kernel_sources_digest()
    assert chosen.is_dir()
    assert chosen.stat().st_mode & 0o777 == 0o700


def test_a_root_others_may_write_to_is_not_trusted(tmp_path: Path) -> None:
    # numba's cache files are pickles: loading one another user planted runs their code.
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert kernel_cache_dir([shared]) is None
    assert not (shared / "numba").exists()


def _run_a_kernel(env: dict[str, str]) -> str:
    script = (
        "import os, numpy as np, stereo_spot\n"
        "from stereo_spot.media.yuv import rgb_to_yuv420p\n"
        "rgb_to_yuv420p(np.zeros((4, 4, 3), np.uint8))\n"
        "print(os.environ['NUMBA_CACHE_DIR'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_kernels_cache_under_the_temporary_directory_when_home_is_not_writable(
    tmp_path: Path,
) -> None:
    # The model server's pod: HOME cannot be written (there, a read-only root filesystem), the
    # temporary directory can (an emptyDir). numba alone raised at import there.
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env |= {"HOME": str(home), "TMPDIR": str(temp)}
    cache = Path(_run_a_kernel(env))
    assert cache == temp / f"stereo-spot-{os.getuid()}" / "numba" / kernel_sources_digest()
    assert any(cache.rglob("*yuv*.nbi")), "the colour conversion kernel was not cached there"


def test_a_users_cache_directory_wins(tmp_path: Path) -> None:
    env = dict(os.environ) | {"NUMBA_CACHE_DIR": str(tmp_path)}
    assert _run_a_kernel(env) == str(tmp_path)
    assert any(tmp_path.rglob("*yuv*.nbi"))
