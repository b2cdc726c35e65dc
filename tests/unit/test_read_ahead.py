"""The background stage runner the segment conversion chains decode, engine and encode with."""

from __future__ import annotations

import threading

import pytest

from inference_service.read_ahead import read_ahead


def test_items_arrive_in_order_from_another_thread():
    producers = set()

    def numbers():
        for n in range(100):
            producers.add(threading.current_thread().name)
            yield n

    assert list(read_ahead(numbers(), depth=3, name="numbers")) == list(range(100))
    assert producers == {"numbers"}


def test_an_error_surfaces_after_the_items_before_it():
    def failing():
        yield 1
        yield 2
        raise ValueError("frame 3 is broken")

    seen = []
    with pytest.raises(ValueError, match="frame 3 is broken"):
        for item in read_ahead(failing()):
            seen.append(item)
    assert seen == [1, 2]


def test_a_consumer_that_stops_early_stops_the_whole_chain():
    closed = []

    def endless(label):
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.append(label)

    def doubled(items):
        try:
            for item in items:
                yield 2 * item
        finally:
            closed.append("doubled")

    decoded = read_ahead(endless("source"), depth=2)
    engine = read_ahead(doubled(decoded), depth=2)
    assert [next(engine) for _ in range(5)] == [0, 2, 4, 6, 8]
    engine.close()
    decoded.close()
    assert sorted(closed) == ["doubled", "source"]
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth"):
        next(read_ahead([1], depth=0))
