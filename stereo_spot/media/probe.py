"""Probe a source with ffprobe and reject what we cannot convert, with one plain sentence."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

from stereo_spot.domain import SourceInfo
from stereo_spot.errors import InputRejected
from stereo_spot.settings import Settings

# Demuxers we accept. Everything else (playlists, image sequences, network formats...) is refused
# before ffmpeg opens it: an HLS playlist renamed .mp4 would otherwise make ffmpeg read whatever
# files it lists.
ALLOWED_FORMATS = (
    "mov,mp4,m4a,3gp,3g2,mj2",
    "matroska,webm",
    "avi",
    "mpegts",
    "mpeg",
    "flv",
    "ogg",
    "asf",
    "m4v",
    "h264",
    "hevc",
    "ivf",
    "nut",
)
FORMAT_WHITELIST = ",".join(ALLOWED_FORMATS)
# Arguments every ffmpeg/ffprobe call on untrusted input gets: local files only, known demuxers.
SAFE_INPUT_ARGS = ("-protocol_whitelist", "file,pipe", "-format_whitelist", FORMAT_WHITELIST)
STILL_IMAGE_CODECS = {"png", "mjpeg", "bmp", "gif", "webp", "tiff", "jpeg2000", "ppm", "pgm"}
PROBE_TIMEOUT_SECONDS = 120


def run_ffprobe(path: Path, *args: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> dict:
    """ffprobe's JSON for ``path``; raises InputRejected when ffprobe cannot read it."""
    command = ["ffprobe", "-v", "error", *SAFE_INPUT_ARGS, *args, "-of", "json", str(path)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise InputRejected("Reading the file took too long; it may be damaged.") from None
    if result.returncode != 0:
        raise InputRejected(
            "The file is not a video we can read: it is damaged or in an unsupported format."
        )
    return json.loads(result.stdout or "{}")


def probe_source(path: Path, settings: Settings) -> SourceInfo:
    """Describe a source video, or raise InputRejected saying why it cannot be converted."""
    path = Path(path)
    if not path.is_file():
        raise InputRejected(f"The file {path.name} does not exist.")
    if path.stat().st_size == 0:
        raise InputRejected("The file is empty (0 bytes).")
    data = run_ffprobe(
        path,
        "-count_packets",
        "-show_entries",
        "format=format_name,duration:stream=index,codec_type,codec_name,width,height,"
        "avg_frame_rate,r_frame_rate,nb_read_packets,duration:stream_disposition=attached_pic"
        ":stream_side_data=rotation",
    )
    streams = data.get("streams", [])
    videos = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
    ]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    if not videos:
        if audios:
            raise InputRejected("The file has no video stream: it contains only audio.")
        raise InputRejected("The file has no video stream.")
    video = videos[0]
    frames = int(video.get("nb_read_packets") or 0)
    if video.get("codec_name") in STILL_IMAGE_CODECS and frames <= 1:
        raise InputRejected("The file is a still image, not a video.")
    if frames < 1:
        raise InputRejected("The video stream holds no frames.")
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if _rotation(video) % 180:
        # A phone video stored sideways with a display matrix: it is converted upright, so the
        # limits and the reported size are those of the picture as it is shown.
        width, height = height, width
    if width < 16 or height < 16:
        raise InputRejected(f"The video is too small ({width}x{height}); 16x16 is the least.")
    if width > settings.max_width or height > settings.max_height:
        raise InputRejected(
            f"The video is {width}x{height}, larger than the limit of "
            f"{settings.max_width}x{settings.max_height}."
        )
    fps = _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
    duration = _float(video.get("duration")) or _float(data.get("format", {}).get("duration"))
    if duration <= 0 and fps > 0:
        duration = frames / fps
    if fps <= 0 and duration > 0:
        fps = frames / duration
    if duration > settings.max_duration_seconds:
        raise InputRejected(
            f"The video lasts {duration / 60:.0f} minutes, longer than the limit of "
            f"{settings.max_duration_seconds / 60:.0f} minutes."
        )
    return SourceInfo(
        width=width,
        height=height,
        frames=frames,
        duration=duration,
        fps=fps,
        video_codec=str(video.get("codec_name", "")),
        audio_codec=str(audios[0].get("codec_name")) if audios else None,
        container=str(data.get("format", {}).get("format_name", "")),
    )


def count_video_frames(path: Path) -> int:
    """Frames in the first video stream (packets; one per frame for the codecs we write)."""
    data = run_ffprobe(
        path, "-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets"
    )
    streams = data.get("streams") or [{}]
    return int(streams[0].get("nb_read_packets") or 0)


def video_frame_times(path: Path) -> list[float]:
    """Presentation times of every frame of the first video stream, in order; [] if any has none."""
    data = run_ffprobe(
        path, "-select_streams", "v:0", "-show_entries", "packet=pts_time", timeout=600
    )
    times = [packet.get("pts_time") for packet in data.get("packets", [])]
    if any(time in (None, "N/A") for time in times):
        return []
    return sorted(float(time) for time in times)


def display_rotation(path: Path) -> int:
    """Degrees (0, 90, 180, 270) the first video stream's display matrix turns it when shown."""
    data = run_ffprobe(path, "-select_streams", "v:0", "-show_entries", "stream_side_data=rotation")
    streams = data.get("streams") or [{}]
    return _rotation(streams[0])


def interlaced(path: Path) -> bool:
    """Whether the first video stream is coded as interlaced fields."""
    data = run_ffprobe(path, "-select_streams", "v:0", "-show_entries", "stream=field_order")
    streams = data.get("streams") or [{}]
    return streams[0].get("field_order") in ("tt", "bb", "tb", "bt")


def _rotation(stream: dict) -> int:
    for side_data in stream.get("side_data_list") or []:
        if "rotation" in side_data:
            return round(_float(side_data["rotation"])) % 360
    return 0


def keyframe_times(path: Path) -> list[float]:
    """Presentation times of the video keyframes (demuxing only, no decoding)."""
    data = run_ffprobe(
        path, "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags", timeout=600
    )
    times = []
    for packet in data.get("packets", []):
        if "K" in packet.get("flags", "") and packet.get("pts_time") not in (None, "N/A"):
            times.append(float(packet["pts_time"]))
    return sorted(times)


def _rate(value: str | None) -> float:
    try:
        rate = Fraction(value or "0")
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(rate) if rate > 0 else 0.0


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
