"""A still from the middle of a video, for the job page and the KFP UI."""

from __future__ import annotations

from pathlib import Path

from stereo_spot.cpus import decoder_threads
from stereo_spot.media.ffmpeg_run import run_ffmpeg, safe_input
from stereo_spot.media.probe import run_ffprobe


def write_preview(
    video: Path, target: Path, width: int = 960, duration: float | None = None
) -> Path:
    """A JPEG still from the middle of ``video`` (``duration``: its length, if already known)."""
    if duration is None:
        data = run_ffprobe(video, "-show_entries", "format=duration")
        duration = float(data["format"]["duration"])
    # Decoder threads counted on the CPUs the pod may use: ffmpeg counts the node's cores, and
    # each frame thread holds pictures of its own (an 8K still took 1.86 GiB with 17 threads,
    # 0.59 GiB with 3), which the reassemble step's memory limit does not hold.
    threads = decoder_threads()
    stream = safe_input(video, ss=f"{duration / 2:.3f}", threads=threads).output(
        str(target), vframes=1, vf=f"scale='min({width},iw)':-2", q=3
    )
    run_ffmpeg(stream)
    if not target.is_file():
        # Seeking to the middle of a very short video (one frame) lands after its last frame,
        # and ffmpeg then writes nothing without failing: take the first frame instead.
        run_ffmpeg(
            safe_input(video, threads=threads).output(
                str(target), vframes=1, vf=f"scale='min({width},iw)':-2", q=3
            )
        )
    return target
