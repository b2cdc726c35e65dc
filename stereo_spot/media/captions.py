"""Closed captions carried inside the picture, brought out as a subtitle track.

Broadcast recordings (ATSC, cable), DVDs and many camcorders carry their captions (CEA-608/708)
in the video stream itself, as user data of each coded picture, not as a track of their own.
The conversion re-encodes the picture, so they would be lost with it; the join instead takes
them out of the source once, as text, and gives the result a subtitle track of them. ffmpeg
hands them over only when it decodes the pictures (they are side data of each decoded frame):
its ``movie`` source decodes the video and puts them out on a subtitle pad of their own.
"""

from __future__ import annotations

import logging
from pathlib import Path

import ffmpeg

from stereo_spot.errors import InputRejected
from stereo_spot.media.ffmpeg_run import MediaError, run_ffmpeg_watched
from stereo_spot.media.probe import run_ffprobe

log = logging.getLogger(__name__)

# The codecs whose pictures carry captions as user data ffmpeg hands over: H.264 and HEVC (SEI
# messages), MPEG-2 (picture user data: ATSC, DVD, SCTE-20).
CAPTION_CARRYING_CODECS = {"h264", "hevc", "mpeg2video"}
# How ffprobe names the side data a decoded frame carries its captions in.
CAPTION_SIDE_DATA = "ATSC A53 Part 4 Closed Captions"
# Decoded to find out whether a video carries captions: a broadcast repeats caption data (or its
# padding) in every picture, so a second's worth tells (0.25 s of decoding at 1080p here).
FRAMES_LOOKED_AT = 30
# What the result's caption track is called (players list it by this name).
CAPTIONS_TRACK_NAME = "Closed captions"


def carries_captions(source: Path, stream_index: int) -> bool:
    """Whether the video stream ``stream_index`` (ffprobe's absolute index) of ``source``
    carries closed captions in its pictures, by decoding its first frames."""
    data = run_ffprobe(
        source,
        "-select_streams",
        str(stream_index),
        "-read_intervals",
        f"%+#{FRAMES_LOOKED_AT}",
        "-show_entries",
        "frame=side_data_list:side_data=side_data_type",
    )
    # ffprobe lists the packets' side data beside the frames' (under "packets_and_frames"):
    # the captions' type is a frame's alone.
    entries = data.get("frames", []) + data.get("packets_and_frames", [])
    return any(
        side.get("side_data_type") == CAPTION_SIDE_DATA
        for entry in entries
        for side in entry.get("side_data_list", [])
    )


def extract_captions(source: Path, workdir: Path, video_stream: int = 0) -> Path | None:
    """The closed captions inside the source's video stream number ``video_stream`` as a SubRip
    file in ``workdir``, timed from the stream's first picture; None when it carries none. A
    failure to read them is logged and gives None: the result then goes without captions, as it
    did before, rather than without everything else."""
    try:
        data = run_ffprobe(
            source,
            "-show_entries",
            "stream=index,codec_type,codec_name:format=format_name,duration",
        )
        videos = [s for s in data.get("streams", []) if s.get("codec_type") == "video"]
        if video_stream >= len(videos):
            return None
        index = int(videos[video_stream]["index"])
        if videos[video_stream].get("codec_name") not in CAPTION_CARRYING_CODECS:
            return None  # nothing to decode for
        if not carries_captions(source, index):
            return None
        fmt = data.get("format", {})
        target = workdir / "captions.srt"
        workdir.mkdir(parents=True, exist_ok=True)
        # The demuxer is named, as the one the probe allowed: the movie source takes no
        # whitelist, and a named demuxer opens only the file it is given.
        demuxer = str(fmt.get("format_name", "")).split(",")[0]
        path = _graph_value(str(source.resolve()))
        decoded = ffmpeg.input(f"movie={path}:f={demuxer}:si={index}[out0+subcc]", f="lavfi")
        run_ffmpeg_watched(
            ffmpeg.merge_outputs(
                decoded["s"].output(str(target), scodec="srt", f="srt"),
                # The pictures go nowhere; their output lets the run's progress (and stall
                # watch) follow the video where no caption is shown for minutes.
                decoded["v"].output("-", f="null"),
            ),
            duration=float(fmt.get("duration") or 0),
        )
    except (MediaError, InputRejected) as error:
        log.warning("the closed captions in the picture could not be read (%s); left out", error)
        return None
    if not target.exists() or not target.read_text(errors="replace").strip():
        return None  # caption data, but nothing ever shown (padding alone)
    return target


def _graph_value(text: str) -> str:
    """``text`` as one filter option's value inside a ``-f lavfi`` graph: escaped once for the
    option (``:`` and quotes end a value) and once more for the graph around it (``[ ] , ;``
    end a filter), as ffmpeg unescapes it twice. A path may hold any of them."""
    for special in ("\\", "'", ":"):
        text = text.replace(special, "\\" + special)
    for special in ("\\", "'", "[", "]", ",", ";"):
        text = text.replace(special, "\\" + special)
    return text
