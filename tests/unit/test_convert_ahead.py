"""A batch ``convert`` starts the next video while the one before it is joined
(``stereo_spot.cli.convert._StartedAhead``): what it hands over, reports and stops.

The conversion is a stand-in that starts a real child process in a session of its own, as the
pipeline runner is started; the end-to-end batch runs in tests/pipeline/test_convert.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.local_runner import INTERRUPTED, stopped_part_way
from stereo_spot.cli.convert import _Started, _StartedAhead
from stereo_spot.domain import Job, JobStatus
from stereo_spot.errors import InputRejected
from stereo_spot.settings import Settings

OUT = Path("out") / "b_redcyan.mp4"


class StartingConversion:
    """Starts a sleeping child for each video (one that is not a video is refused)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.settings = Settings(backend="local", data_dir=logs / "data")
        self.started: list[Path] = []
        self.processes: list[subprocess.Popen] = []

    def start(self, source: Path, output: Path) -> _Started:
        if source.suffix != ".mp4":
            raise InputRejected("The file is not a video.")
        self.started.append(source)
        process = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
        )
        self.processes.append(process)
        return _Started(
            self.job_id(source.name), source.name, process, self.logs / f"run-{source.stem}.log"
        )

    @staticmethod
    def job_id(name: str) -> str:
        return f"job-{Path(name).stem:_<16}"  # a valid id: 16 characters at least


def test_the_video_started_ahead_is_handed_over_and_not_started_again(tmp_path) -> None:
    conversion = StartingConversion(tmp_path)
    ahead = _StartedAhead(conversion)
    ahead.start(Path("b.mp4"), OUT)

    started = ahead.take(Path("b.mp4"), OUT)

    assert started.job_id == conversion.job_id("b.mp4") and started.process.poll() is None
    assert conversion.started == [Path("b.mp4")]
    started.process.kill()  # followed to its end
    started.process.wait()
    ahead.stop()  # as the command does once its last video is written
    assert not (tmp_path / "run-b.log").exists(), "a run that ended is left as it ended"


def test_a_run_handed_over_but_not_yet_followed_is_stopped_with_the_command(tmp_path) -> None:
    # Ctrl-C (or SIGTERM) in the moment between the hand-over and the follower's own handling
    # of it, which a loaded machine makes longer: the run went on converting after the command
    # had ended.
    ahead = _StartedAhead(StartingConversion(tmp_path))
    ahead.start(Path("b.mp4"), OUT)
    started = ahead.take(Path("b.mp4"), OUT)

    ahead.stop()

    assert started.process.poll() is not None
    assert (tmp_path / "run-b.log").read_text().strip().endswith(INTERRUPTED)


def test_a_video_that_cannot_start_is_reported_at_its_turn(tmp_path) -> None:
    ahead = _StartedAhead(StartingConversion(tmp_path))
    ahead.start(Path("notes.txt"), OUT)  # refused now, said nothing yet

    with pytest.raises(InputRejected, match="not a video"):
        ahead.take(Path("notes.txt"), OUT)


def test_a_run_started_ahead_that_nobody_follows_is_stopped(tmp_path, capsys) -> None:
    conversion = StartingConversion(tmp_path)
    ahead = _StartedAhead(conversion)
    ahead.start(Path("b.mp4"), OUT)
    (process,) = conversion.processes

    ahead.stop()  # what the command does when Ctrl-C or a failed server ends it early

    assert process.poll() is not None, "the runner and its process group were stopped"
    assert (tmp_path / "run-b.log").read_text().strip().endswith(INTERRUPTED)
    # Its job was left queued for a run nobody would start, and the command said nothing of it.
    job_id = conversion.job_id("b.mp4")
    queued = Job(job_id=job_id, status=JobStatus.QUEUED, output_path=str(OUT.resolve()))
    assert stopped_part_way(conversion.settings, queued), "listed as stopped"
    assert capsys.readouterr().err == (
        f"job {job_id} (b.mp4, the next video) stopped before it was converted; resume it "
        f"with: stereo-spot jobs retry {job_id}\n"
    )


def test_without_a_run_ahead_the_video_starts_at_its_turn(tmp_path) -> None:
    conversion = StartingConversion(tmp_path)
    ahead = _StartedAhead(conversion)

    started = ahead.take(Path("a.mp4"), OUT)

    assert conversion.started == [Path("a.mp4")] and started.name == "a.mp4"
    started.process.kill()
    started.process.wait()
