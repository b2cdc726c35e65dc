"""What players call a track: its name and language, as ffprobe reports a stream's tags."""

from __future__ import annotations

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
