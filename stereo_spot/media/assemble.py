"""Join converted segments and put the source's audio back, without touching either."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import ffmpeg

from stereo_spot.media.ffmpeg_run import run_ffmpeg, safe_input
from stereo_spot.media.probe import run_ffprobe

# Audio codecs the MP4 muxer takes as they are; anything else (PCM from MOV/AVI, Vorbis from
# WebM) is encoded once, whole, to AAC — never per segment.
MP4_AUDIO_CODECS = {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}


def audio_codecs(source: Path) -> list[str]:
    data = run_ffprobe(source, "-select_streams", "a", "-show_entries", "stream=codec_name")
    return [str(s.get("codec_name")) for s in data.get("streams", [])]


def video_lead(source: Path) -> float:
    """How much later than the first audio sample the first video frame starts, in seconds."""
    data = run_ffprobe(source, "-show_entries", "stream=codec_type,start_time")
    starts: dict[str, list[float]] = {"video": [], "audio": []}
    for stream in data.get("streams", []):
        kind, start = stream.get("codec_type"), stream.get("start_time")
        if kind in starts and start not in (None, "N/A"):
            starts[kind].append(float(start))
    if not starts["video"] or not starts["audio"]:
        return 0.0
    return max(0.0, starts["video"][0] - min(starts["audio"]))


def concat_and_mux(segments: list[Path], source: Path, target: Path, workdir: Path) -> None:
    """``target`` := the segments joined by stream copy + every audio track of ``source``.

    The concat demuxer joins segments encoded with identical settings without re-encoding;
    ``+faststart`` moves the index to the front so playback starts before the download ends.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    listing = workdir / "segments.txt"
    # The list names only files we wrote ourselves, so absolute paths (safe 0) are fine.
    listing.write_text("".join(f"file '{p.resolve()}'\n" for p in segments))

    codecs = audio_codecs(source)
    concat_options: dict[str, object] = {}
    lead = video_lead(source) if codecs else 0.0
    if lead > 0:
        # Converted segments start at 0; keep the source's gap between audio and video start.
        concat_options["itsoffset"] = f"{lead:.6f}"
    video = ffmpeg.input(
        str(listing), f="concat", safe=0, protocol_whitelist="file", **concat_options
    )
    streams = [video["v:0"]]
    options: dict[str, object] = {"vcodec": "copy", "movflags": "+faststart"}
    if codecs:
        streams.append(safe_input(source)["a"])
        if all(codec in MP4_AUDIO_CODECS for codec in codecs):
            options["acodec"] = "copy"
        else:
            options.update(acodec="aac", audio_bitrate="192k")
    run_ffmpeg(ffmpeg.output(*streams, str(target), **options))


def describe_output(path: Path) -> dict:
    """Codec, size, frame count and duration of a finished file (for metrics and tests)."""
    result = subprocess.run(
        [
            "ffprobe", "-v", "error", "-count_packets", "-show_entries",
            "stream=codec_type,codec_name,width,height,pix_fmt,nb_read_packets:format=duration",
            "-of", "json", str(path),
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)
