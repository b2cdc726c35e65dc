"""How a run's progress is shown: a bar whose time left counts only this run's converting, and
plain lines where there is no terminal."""

from __future__ import annotations

import io
import os
import pty

from stereo_spot.cli.progress import run_progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _on_a_clock(stream, start: float = 0.0):
    """The progress view ``stream`` gets, and the clock a test moves for it (``now[0]``)."""
    progress = run_progress(stream)
    now = [start]
    if isinstance(stream, _Terminal):
        progress._bar._time = lambda: now[0]
    else:
        progress._clock = lambda: now[0]
    return progress, now


def test_time_left_on_a_resumed_job_counts_only_the_segments_this_run_converts() -> None:
    stream = _Terminal()
    progress, now = _on_a_clock(stream, 1000.0)

    progress.show("chunking", 136, 300, converting=False)  # 136 converted by the run before
    now[0] += 40  # the split and a model server starting take their time too
    progress.show("processing", 136, 300, converting=True)
    now[0] += 30
    progress.show("processing", 137, 300, converting=True)
    progress.close()

    last = stream.getvalue().split("\r")[-1]
    # One segment in 30 s: 163 more take 81 min 30 s (it said 37 s, counting the 136 as just done).
    assert "137/300 [00:30<1:21:30" in last, last


def test_without_a_terminal_a_line_for_each_phase_and_tenth_of_the_segments() -> None:
    stream = io.StringIO()
    progress, now = _on_a_clock(stream)

    progress.show("queued", 0, 0, converting=False)
    progress.show("chunking", 0, 0, converting=False)
    progress.show("chunking", 0, 0, converting=False)  # nothing new: nothing said
    for done in range(0, 101):
        progress.show("processing", done, 100, converting=True)
        now[0] += 2
    progress.show("reassembling", 100, 100, converting=False)
    progress.close()

    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[:3] == ["queued", "chunking", "processing 0/100 segments"]
    assert lines[3] == "processing 10/100 segments, about 3:00 left"
    assert len(lines) == 3 + 10 + 1
    assert lines[-2] == "processing 100/100 segments"
    assert lines[-1] == "reassembling 100/100 segments"


def test_the_bar_ends_its_line_so_what_follows_starts_a_line_of_its_own() -> None:
    # What a convert says next ("wrote out.mp4", "job X stopped; resume it ...") was glued onto
    # the bar: "3/3 [00:07<00:00, 2.34s/segment]wrote tty.mp4".
    stream = _Terminal()
    progress = run_progress(stream)
    progress.show("chunking", 0, 3, converting=False)
    progress.show("processing", 1, 3, converting=True)
    progress.show("completed", 3, 3, converting=False)
    progress.close()
    print("wrote tty.mp4", file=stream)

    assert stream.getvalue().splitlines()[-1] == "wrote tty.mp4"


def test_a_terminal_of_no_width_gets_lines_not_a_bar_that_draws_nothing() -> None:
    # A pty nobody sized (some wrappers, `docker exec` without -t's size): 45 s of a conversion
    # showed nothing at all.
    controller, terminal = pty.openpty()
    try:
        with os.fdopen(terminal, "w", closefd=False) as stream:
            assert stream.isatty() and os.get_terminal_size(terminal).columns == 0
            progress = run_progress(stream)
            progress.show("processing", 3, 10, converting=True)
            progress.close()
        shown = os.read(controller, 4096).decode()
    finally:
        os.close(controller)
        os.close(terminal)

    assert "processing 3/10 segments" in shown


def test_time_left_leaves_out_the_first_segments_one_time_costs() -> None:
    # A first run on a machine compiles the engine's kernels inside its first segment (~14 s):
    # counted in, a 2-minute run of 15 segments said "about 6:55 left" at 2 of them.
    stream = io.StringIO()
    progress, now = _on_a_clock(stream)
    progress.show("processing", 0, 15, converting=True)
    now[0] += 14 + 2  # the kernels, then the segment
    progress.show("processing", 1, 15, converting=True)
    now[0] += 2
    progress.show("processing", 2, 15, converting=True)  # a tenth more: a line

    assert stream.getvalue().splitlines()[-1] == "processing 2/15 segments, about 0:26 left"


def test_the_bar_leaves_out_the_first_segments_one_time_costs_too() -> None:
    stream = _Terminal()
    progress, now = _on_a_clock(stream, 1000.0)
    progress.show("processing", 0, 15, converting=True)
    now[0] += 16
    progress.show("processing", 1, 15, converting=True)
    now[0] += 2
    progress.show("processing", 2, 15, converting=True)
    progress.close()

    last = stream.getvalue().split("\r")[-1]
    assert "2/15 [00:18<00:26" in last, last  # elapsed since converting began; 13 more at 2 s


def test_a_run_that_has_ended_says_no_time_left() -> None:
    # A convert whose job was cancelled from another terminal ended with "failed 5/15 segments,
    # about 0:10 left".
    stream = io.StringIO()
    progress, now = _on_a_clock(stream)
    for done in range(0, 6):
        progress.show("processing", done, 15, converting=True)
        now[0] += 2
    progress.show("failed", 5, 15, converting=False)
    progress.close()

    assert stream.getvalue().splitlines()[-1] == "failed 5/15 segments"


def test_the_bar_of_a_run_that_has_ended_says_no_time_left() -> None:
    stream = _Terminal()
    progress, now = _on_a_clock(stream, 1000.0)
    for done in range(0, 6):
        progress.show("processing", done, 15, converting=True)
        now[0] += 2
    progress.show("failed", 5, 15, converting=False)
    progress.close()

    last = stream.getvalue().split("\r")[-1]
    assert "failed" in last and "5/15 [00:12]" in last, last
    assert "<" not in last and "/segment" not in last, last
