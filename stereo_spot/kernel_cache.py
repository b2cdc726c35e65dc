"""Where numba keeps the compiled kernels (``NUMBA_CACHE_DIR``), chosen before numba is imported.

numba's own choice failed this project twice:

- **Nowhere to write.** numba caches next to the source, else under ``~/.cache``. In the model
  server's pod neither is writable (read-only root filesystem, non-root user), and every
  ``cache=True`` kernel then raises at import ("cannot cache function ...: no locator
  available"): the server could not start. ``tests/deploy/test_read_only_root.py`` reproduces
  it, and runs the server there with this module's choice.
- **Stale kernels.** numba keys a kernel's cache by the timestamp of the file that defines it.
  The fused anaglyph (``stereo/render.py``) inlines the splat of ``stereo/view_synthesis.py``
  and kept running the old splat after that file changed (seen while changing the splat).

So the kernels are cached in a directory named after a hash of every file that defines one: a
change to any of them compiles all of them afresh (~14 s on two cores, once). It lies under the
user's cache directory, or under the temporary directory where that is not writable (the pod's
``/tmp`` is an emptyDir).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

# Every module of the package that defines a numba kernel (a unit test keeps the list whole).
KERNEL_SOURCES = (
    "media/yuv.py",
    "stereo/layouts.py",
    "stereo/render.py",
    "stereo/view_synthesis.py",
)

_PACKAGE_DIR = Path(__file__).resolve().parent


def kernel_sources_digest(package_dir: Path = _PACKAGE_DIR) -> str:
    """A short hash of the kernel sources: the name of their cache directory."""
    digest = hashlib.sha256()
    for relative in KERNEL_SOURCES:
        digest.update(relative.encode())
        digest.update((package_dir / relative).read_bytes())
    return digest.hexdigest()[:16]


def default_cache_roots() -> list[Path]:
    """Where a cache may live, in order: the user's cache directory (``XDG_CACHE_HOME``, else
    ``~/.cache``), then a directory of this user's own in the temporary directory."""
    roots = []
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        roots.append(Path(xdg) / "stereo-spot")
    else:
        # Path.home() raises RuntimeError with no HOME and no password entry for this user.
        with contextlib.suppress(RuntimeError):
            roots.append(Path.home() / ".cache" / "stereo-spot")
    roots.append(Path(tempfile.gettempdir()) / f"stereo-spot-{os.getuid()}")
    return roots


def _private_dir(path: Path) -> bool:
    """Create ``path`` (owner-only) if needed; whether it is now a directory this user owns, no
    one else may write to, and a file can be written in. numba's cache files are pickles: a
    directory another user can write to must not be trusted with them."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()
        if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return False
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def kernel_cache_dir(
    roots: Iterable[Path] | None = None, package_dir: Path = _PACKAGE_DIR
) -> Path | None:
    """The first usable ``<root>/numba/<digest of the kernel sources>``, or None if no root is
    usable (numba then falls back to its own choice)."""
    digest = kernel_sources_digest(package_dir)
    for root in default_cache_roots() if roots is None else roots:
        if _private_dir(root):
            path = root / "numba" / digest
            if _private_dir(path):
                return path
    return None
