"""A result's text tracks as WebVTT, the one subtitle format a browser shows beside a video: an
MP4's own text tracks (mov_text) are played by desktop players and headsets, but a page's
``<video>`` shows only the ``<track>`` files the page hands it."""

from __future__ import annotations

import logging
from pathlib import Path

import ffmpeg

from stereo_spot.domain import SubtitleTrack
from stereo_spot.errors import InputRejected
from stereo_spot.media.captions import CAPTIONS_TRACK_NAME
from stereo_spot.media.ffmpeg_run import MediaError, run_ffmpeg, safe_input
from stereo_spot.media.probe import run_ffprobe
from stereo_spot.media.tracks import track_language, track_name

log = logging.getLogger(__name__)

MAX_TRACKS = 100  # what the object keys number (keys.subtitles_key)


def web_subtitles(result: Path, folder: Path) -> list[tuple[Path, SubtitleTrack]]:
    """Each text track of the MP4 ``result`` as a WebVTT file in ``folder``, with what a
    player's menu says of it. None of them when they cannot be written: the result itself is
    whole, and plays in every player that reads its own tracks."""
    try:
        data = run_ffprobe(
            result,
            "-select_streams",
            "s",
            "-show_entries",
            "stream=index:stream_tags=language,handler_name,title",
        )
        streams = data.get("streams", [])[:MAX_TRACKS]
        if not streams:
            return []
        folder.mkdir(parents=True, exist_ok=True)
        video = safe_input(result)
        written = []
        for number, stream in enumerate(streams):
            path = folder / f"{number:02d}.vtt"
            written.append((path, _track(stream, number)))
        # One ffmpeg for all of them: the MP4 is read once.
        run_ffmpeg(
            ffmpeg.merge_outputs(
                *(
                    video[f"s:{number}"].output(str(path), scodec="webvtt", f="webvtt")
                    for number, (path, _) in enumerate(written)
                )
            )
        )
    except (MediaError, InputRejected) as error:
        log.warning("the result's subtitles could not be written as WebVTT (%s)", error)
        return []
    return written


def _track(stream: dict, number: int) -> SubtitleTrack:
    language = track_language(stream)
    name = track_name(stream)
    return SubtitleTrack(
        label=name or language or f"Subtitles {number + 1}",
        language=language,
        captions=name == CAPTIONS_TRACK_NAME,
    )
