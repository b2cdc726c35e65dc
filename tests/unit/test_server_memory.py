"""The model server caps glibc's malloc arenas: each thread a segment starts would otherwise get
an arena of its own, and the server's memory crept up segment after segment."""

import subprocess
import sys

import pytest

# Six threads, each allocating while the others hold theirs; then glibc's own report of its
# arenas ("Arena N:" on stderr, one per arena).
PROGRAM = """
import ctypes, ctypes.util, sys, threading
from inference_service.server import limit_malloc_arenas
if sys.argv[1] == "limited":
    assert limit_malloc_arenas()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
barrier = threading.Barrier(6)
def work():
    block = libc.malloc(1 << 20)
    barrier.wait()
    libc.free(ctypes.c_void_p(block))
threads = [threading.Thread(target=work) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
libc.malloc_stats()
"""


def _arenas(mode: str) -> int:
    env = {"PATH": "/usr/bin:/bin"}  # no MALLOC_ARENA_MAX from the caller
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    return result.stderr.count("Arena ")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_the_server_keeps_two_malloc_arenas_however_many_threads_allocate():
    assert _arenas("free") >= 6  # glibc's default: a new arena for each new thread
    assert _arenas("limited") == 2
