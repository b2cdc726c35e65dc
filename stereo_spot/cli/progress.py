"""How ``convert`` and ``jobs retry`` show a run's progress: a bar on a terminal, lines in a log.

A run is followed by polling its job record, so the view is told where the job stands (its
phase and segments done) rather than counting updates itself. Two things follow:

* The speed and time left count only the segments this run converts, from when converting
  began: segments a resumed job had already converted arrive all at once in the first poll, and
  the split (and a model server starting) comes before the first segment, so counting from the
  command's start promised minutes for hours of work, or seconds for minutes. Once a second
  segment is done they count from the first one done (:class:`_Pace`): the first holds one-time
  costs, the engine's kernels compiled on a machine that never ran it (~14 s), which made a
  2-minute first run say "about 6:55 left".
* Time left is said only while segments are being converted: a run that has failed, been
  cancelled or been joined has none ("failed 5/15 segments, about 0:10 left" promised ten more
  seconds of a job that had ended).
* A terminal gets a bar redrawn in place; anything else (a file, a CI log, journald) gets one
  line when the phase changes and one each tenth of the segments, not a redraw twice a second
  (a 15-minute film wrote 1,800 of them).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Protocol, TextIO

# A line for each this fraction of the segments, where there is no terminal to redraw.
LINE_EVERY = 0.1


class RunProgress(Protocol):
    def show(self, phase: str, done: int, total: int, converting: bool) -> None:
        """Where the run stands: its phase in words, segments done of ``total`` (0: not known
        yet), and whether segments are being converted now (the speed counts from then)."""

    def close(self) -> None: ...


def run_progress(stream: TextIO | None = None) -> RunProgress:
    stream = stream or sys.stderr
    if stream.isatty() and not _has_no_width(stream):
        return _Bar(stream)
    return _Lines(stream)


def _has_no_width(stream: TextIO) -> bool:
    """A terminal that says it is 0 columns wide (a pty nobody sized, as some wrappers and
    ``docker exec`` give): a bar drawn to fit it drew nothing at all."""
    try:
        return os.get_terminal_size(stream.fileno()).columns == 0
    except (OSError, ValueError):  # no file behind it, or not a terminal after all
        return False


class _Pace:
    """Segments a second this run converts, once it has converted one: counted from the first
    segment done once there is a second, else from when converting began."""

    def __init__(self, clock) -> None:
        self._clock = clock
        self._began: tuple[float, int] | None = None  # when converting began, and done then
        self._first: tuple[float, int] | None = None  # when this run's first segment was done

    def seen(self, done: int, converting: bool) -> None:
        if converting and self._began is None:
            self._began = (self._clock(), done)
        elif self._began is not None and self._first is None and done > self._began[1]:
            self._first = (self._clock(), done)

    def per_second(self, done: int) -> float | None:
        for since in (self._first, self._began):
            if since is not None and done > since[1]:
                elapsed = self._clock() - since[0]
                return (done - since[1]) / elapsed if elapsed > 0 else None
        return None


class _Bar:
    def __init__(self, stream: TextIO) -> None:
        from tqdm import tqdm

        pace = _Pace(lambda: self._bar._time())  # tqdm's own clock

        class PacedBar(tqdm):
            """A bar whose speed and time left are the run's pace (the elapsed time stays
            tqdm's, from when converting began)."""

            @property
            def format_dict(self):
                shown = super().format_dict
                shown["rate"] = pace.per_second(self.n)
                return shown

        # The bar once converting has stopped (joined, failed, cancelled): no time left.
        self._ended_format = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}]"

        self._pace = pace
        self._bar = PacedBar(total=1, unit="segment", desc="queued", file=stream, leave=True)
        self._converting_since: int | None = None

    def show(self, phase: str, done: int, total: int, converting: bool) -> None:
        bar = self._bar
        if total and bar.total != total:
            bar.total = total
        if converting and self._converting_since is None:
            self._converting_since = done
            bar.initial = done
            bar.start_t = bar._time()
            # close() takes a bar last drawn before its start for one never drawn, and leaves
            # its line unended: what comes next ("wrote out.mp4") was glued onto the bar.
            bar.last_print_t = bar.start_t
        self._pace.seen(done, converting)
        if not converting and self._converting_since is not None:
            bar.bar_format = self._ended_format
        bar.set_description(phase, refresh=False)
        bar.n = done if total else 0
        bar.refresh()

    def close(self) -> None:
        self._bar.close()


class _Lines:
    def __init__(self, stream: TextIO, clock=time.monotonic) -> None:
        self._stream = stream
        self._pace = _Pace(lambda: self._clock())
        self._clock = clock
        self._said: tuple[str, int] | None = None
        self._step = -1

    def show(self, phase: str, done: int, total: int, converting: bool) -> None:
        self._pace.seen(done, converting)
        step = int(done / total / LINE_EVERY) if total else -1
        if self._said is not None and self._said[0] == phase and step == self._step:
            return
        self._step = step
        self._said = (phase, done)
        counted = f" {done}/{total} segments" if total else ""
        left = self._time_left(done, total) if converting else ""
        print(f"{phase}{counted}{left}", file=self._stream, flush=True)

    def _time_left(self, done: int, total: int) -> str:
        rate = self._pace.per_second(done)
        if not rate or not total or done >= total:
            return ""
        minutes, seconds = divmod(round((total - done) / rate), 60)
        return f", about {minutes}:{seconds:02d} left"

    def close(self) -> None:
        pass
