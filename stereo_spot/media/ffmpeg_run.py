"""Run ffmpeg commands built with ffmpeg-python, safely and with readable failures."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import ffmpeg

from stereo_spot.errors import StereoSpotError
from stereo_spot.media.probe import FORMAT_WHITELIST

DEFAULT_TIMEOUT_SECONDS = 3600
# A transcode of a whole video may rightly take hours (a 4-hour interlaced film on two cores);
# one whose output has not moved on for this long is stuck, whatever the video's length.
STALL_SECONDS = 300.0
# How often a long transcode reports its progress (each report may be a job-store write).
PROGRESS_INTERVAL_SECONDS = 2.0


class MediaError(StereoSpotError):
    """ffmpeg failed on a file we produced or were given."""


def safe_input(path: Path | str, **options: object) -> ffmpeg.nodes.FilterableStream:
    """An ffmpeg input that may only read local files through the demuxers we allow.

    Named by its absolute path: a relative name that starts with "-" (``./-clip.mp4`` is
    ``-clip.mp4`` to pathlib) would be read as an option.
    """
    return ffmpeg.input(
        os.path.abspath(path),
        protocol_whitelist="file,pipe",
        format_whitelist=FORMAT_WHITELIST,
        **options,
    )


def _command(stream: ffmpeg.nodes.OutputStream, *extra: str) -> list[str]:
    return (
        stream.global_args("-nostdin", "-hide_banner", "-v", "error", *extra)
        .overwrite_output()
        .compile()
    )


# ffmpeg's closing lines that only say that something above failed.
_GENERIC_ENDINGS = (
    "Error initializing output stream",
    "Conversion failed",
    "Could not write header",
)
# The "[mp4 @ 0x55d0c1a2b3c0] " that names the component: an address, no help to a reader.
_COMPONENT = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\] ")


def _failure(stderr: str) -> MediaError:
    """ffmpeg's last telling words, as the sentence a job records."""
    lines = [_COMPONENT.sub("", line).strip() for line in stderr.splitlines() if line.strip()]
    telling = [line for line in lines if not line.startswith(_GENERIC_ENDINGS)]
    return MediaError(f"ffmpeg failed: {(telling or lines or ['no message'])[-1]}")


def run_ffmpeg(stream: ffmpeg.nodes.OutputStream, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
    """Run an ffmpeg graph; raise MediaError with ffmpeg's last words if it fails."""
    try:
        result = subprocess.run(_command(stream), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise MediaError(f"ffmpeg took longer than {timeout:.0f} s and was stopped.") from None
    if result.returncode != 0:
        raise _failure(result.stderr)


def run_ffmpeg_watched(
    stream: ffmpeg.nodes.OutputStream,
    duration: float,
    on_progress: Callable[[float], None] | None = None,
    stall_seconds: float = STALL_SECONDS,
) -> None:
    """Run a long ffmpeg graph with no limit on its length, only on its standing still.

    ffmpeg reports how far its output has got (``-progress``); the run is stopped when that
    has not advanced for ``stall_seconds``. ``on_progress`` gets the fraction of ``duration``
    (the source's, in seconds) written so far, every ``PROGRESS_INTERVAL_SECONDS``.
    """
    command = _command(stream, "-nostats", "-progress", "pipe:1")
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
        assert process.stdout is not None
        output = _OutputClock(process.stdout)
        try:
            reported = time.monotonic()
            while process.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=0.5)
                now = time.monotonic()
                if now - output.advanced_at > stall_seconds:
                    raise MediaError(
                        f"ffmpeg made no progress for {stall_seconds:.0f} s and was stopped."
                    )
                if on_progress and now - reported >= PROGRESS_INTERVAL_SECONDS:
                    on_progress(min(1.0, output.seconds / duration) if duration > 0 else 0.0)
                    reported = now
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            output.join()
        if process.returncode != 0:
            errors.seek(0)
            raise _failure(errors.read())
    if on_progress:
        on_progress(1.0)


class _OutputClock(threading.Thread):
    """Reads ffmpeg's ``-progress`` report: how many seconds of output it has written, and
    when that last advanced."""

    def __init__(self, report: IO[str]) -> None:
        super().__init__(name="ffmpeg-progress", daemon=True)
        self._report = report
        self.seconds = 0.0
        self.advanced_at = time.monotonic()
        self.start()

    def run(self) -> None:
        for line in self._report:
            key, _, value = line.strip().partition("=")
            # out_time_us, or out_time_ms in older ffmpeg, which is microseconds as well.
            if key in ("out_time_us", "out_time_ms") and value.lstrip("-").isdigit():
                seconds = int(value) / 1e6
                if seconds > self.seconds:
                    self.seconds = seconds
                    self.advanced_at = time.monotonic()
