"""Ending a child process once the process that started it has ended, however it ended.

The pipeline runner and the model server lead sessions of their own (a terminal's Ctrl-C reaches
only the command that started them, which stops them in turn), so a starter killed by SIGKILL
or the OOM killer, which cannot stop them, left them working for nobody: a runner converting
against a server gone with its parent for about an hour, holding the job's run lock; a model
server listening on its port for good.

A thread polls ``getppid()``, rather than the kernel's PR_SET_PDEATHSIG: that signal comes when
the parent *thread* that started the process ends (``up`` starts runners from its launcher's
worker thread, and servers again from a watcher thread), and it is an ordinary SIGTERM, which a
server starting up took for a shutdown of a server not yet running and went on to serve (kserve
installs its handler before uvicorn does). The kernel hands an orphan to init (or a subreaper)
the moment its parent process has died, whichever thread started it, so ``getppid()`` changing
is exact, and a pid reused by another process cannot pass for the parent.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

# How often a child looks whether the process that started it still runs: it ends within this
# of its starter (and its own stopping, a few ms).
PARENT_POLL_SECONDS = 0.5


def when_parent_ends(parent: int, end: Callable[[], object]) -> None:
    """Call ``end``, which ends this process, once process ``parent`` has ended: now, if it
    ended before this process looked, else from a thread that watches for it."""
    if os.getppid() != parent:
        end()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        end()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
