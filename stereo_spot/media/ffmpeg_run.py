"""Run ffmpeg commands built with ffmpeg-python, safely and with readable failures."""

from __future__ import annotations

import subprocess
from pathlib import Path

import ffmpeg

from stereo_spot.errors import StereoSpotError
from stereo_spot.media.probe import FORMAT_WHITELIST

DEFAULT_TIMEOUT_SECONDS = 3600


class MediaError(StereoSpotError):
    """ffmpeg failed on a file we produced or were given."""


def safe_input(path: Path | str, **options: object) -> ffmpeg.nodes.FilterableStream:
    """An ffmpeg input that may only read local files through the demuxers we allow."""
    return ffmpeg.input(
        str(path), protocol_whitelist="file,pipe", format_whitelist=FORMAT_WHITELIST, **options
    )


def run_ffmpeg(stream: ffmpeg.nodes.OutputStream, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
    """Run an ffmpeg graph; raise MediaError with ffmpeg's last words if it fails."""
    command = stream.global_args("-nostdin", "-hide_banner", "-v", "error").overwrite_output()
    args = command.compile()
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise MediaError(f"ffmpeg took longer than {timeout:.0f} s and was stopped.") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise MediaError(f"ffmpeg failed: {last}")
