"""Run an iterator in a background thread, a few items ahead of its consumer.

A segment conversion is three stages (decode, engine, encode) that each spend most of their
time in code that releases the GIL (libav's decoder and x264 through PyAV, OpenCV, numba
kernels). Chained through :func:`read_ahead` they overlap on a multi-core machine instead of
taking turns, while the code of each stage stays a plain loop.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_ITEM, _END, _FAILED = range(3)
# How often a blocked producer looks whether its consumer has gone away.
_POLL_SECONDS = 0.05


def read_ahead(items: Iterable[T], depth: int = 4, *, name: str = "read-ahead") -> Iterator[T]:
    """Yield what ``items`` yields, in order, produced by a background thread at most ``depth``
    items ahead. An exception raised by ``items`` is raised here, at the point in the sequence
    where it happened. When the consumer stops early (closes this generator, or raises), the
    producer stops too and ``items`` is closed in its own thread, so chained stages unwind."""
    if depth < 1:
        raise ValueError("depth must be at least 1")
    handoff: queue.Queue[tuple[int, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(entry: tuple[int, object]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not offer((_ITEM, item)):
                    return
            offer((_END, None))
        except BaseException as error:  # handed to the consumer, which raises it
            offer((_FAILED, error))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == _ITEM:
                yield value  # type: ignore[misc]
            elif kind == _FAILED:
                raise value  # type: ignore[misc]
            else:
                return
    finally:
        stop.set()
        thread.join()
