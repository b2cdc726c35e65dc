"""What players call a track (its name and language, as ffprobe reports a stream's tags), and
the result's text tracks written out one file each: WebVTT for the portal's player (a page's
``<video>`` shows no text track from inside an MP4, only the ``<track>`` files it is handed),
ASS for the copies laid out for 3D TVs (``stereo_subtitles``)."""

from __future__ import annotations

import logging
from pathlib import Path

import ffmpeg

from stereo_spot.domain import SubtitleTrack
from stereo_spot.errors import InputRejected
from stereo_spot.media.captions import CAPTIONS_TRACK_NAME
from stereo_spot.media.ffmpeg_run import MediaError, run_ffmpeg, safe_input
from stereo_spot.media.probe import run_ffprobe

log = logging.getLogger(__name__)

# The track names ffmpeg's MP4 muxer writes when it is given none: not names a person chose.
GENERIC_TRACK_NAMES = {"SoundHandler", "SubtitleHandler", "VideoHandler", "ClosedCaptionHandler"}


def track_name(stream: dict) -> str | None:
    """A track's name: Matroska's title, or MP4's handler name unless it is the muxer's own."""
    tags = stream.get("tags") or {}
    name = tags.get("title") or tags.get("handler_name")
    return None if not name or name in GENERIC_TRACK_NAMES else str(name)


def track_language(stream: dict) -> str | None:
    """A track's language as the file holds it (ISO 639-2, "eng"); None where it is unsaid."""
    language = (stream.get("tags") or {}).get("language")
    return None if language in (None, "", "und") else str(language)


def export_text_tracks(
    result: Path, folder: Path, fmt: str, suffix: str
) -> list[tuple[Path, SubtitleTrack]]:
    """Each text track of the MP4 ``result`` as a file of ffmpeg's format ``fmt`` in
    ``folder`` (``00{suffix}``, ``01{suffix}``...), with what a player's menu says of it. None
    of them when they cannot be written: the result itself is whole, and plays in every player
    that reads its own tracks."""
    try:
        data = run_ffprobe(
            result,
            "-select_streams",
            "s",
            "-show_entries",
            "stream=index:stream_tags=language,handler_name,title",
        )
        streams = data.get("streams", [])
        if not streams:
            return []
        folder.mkdir(parents=True, exist_ok=True)
        written = [
            (folder / f"{number:02d}{suffix}", _described(stream, number))
            for number, stream in enumerate(streams)
        ]
        video = safe_input(result)
        # One ffmpeg for all of them: the MP4 is read once.
        run_ffmpeg(
            ffmpeg.merge_outputs(
                *(
                    video[f"s:{number}"].output(str(path), f=fmt)
                    for number, (path, _) in enumerate(written)
                )
            )
        )
    except (MediaError, InputRejected) as error:
        log.warning("the result's text tracks could not be written as %s (%s)", fmt, error)
        return []
    return written


def _described(stream: dict, number: int) -> SubtitleTrack:
    language = track_language(stream)
    name = track_name(stream)
    return SubtitleTrack(
        label=name or language or f"Subtitles {number + 1}",
        language=language,
        captions=name == CAPTIONS_TRACK_NAME,
    )
