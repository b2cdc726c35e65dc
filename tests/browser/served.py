"""A portal's app served in this process for the browser to drive."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def served(app) -> Iterator[str]:
    """``app`` (the portal's, from ``portal.app.create_app``) served on a free port in a thread
    of this process; yields its URL."""
    import uvicorn

    from tests.aws_fixtures import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(10)
