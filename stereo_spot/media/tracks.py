"""What players call a track (its name and language, as ffprobe reports a stream's tags), when a
file's earliest track starts (what its other tracks are timed from), and the result's text
tracks written out one file each: WebVTT for the portal's player (a page's ``<video>`` shows no
text track from inside an MP4, only the ``<track>`` files it is handed), ASS for the copies laid
out for 3D TVs (``stereo_subtitles``)."""

from __future__ import annotations

import logging
from pathlib import Path

import ffmpeg

from stereo_spot.domain import SubtitleTrack
from stereo_spot.errors import InputRejected
from stereo_spot.media.captions import CAPTIONS_TRACK_NAME
from stereo_spot.media.ffmpeg_run import MediaError, run_ffmpeg, safe_input
from stereo_spot.media.probe import TEXT_SUBTITLE_CODECS, run_ffprobe

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


def disposition_flags(stream: dict) -> str:
    """A track's flags as ffprobe reports them (``stream_disposition``), written as ffmpeg's
    ``-disposition`` takes them: "default+forced", or "0" where none is set."""
    flags = [name for name, on in (stream.get("disposition") or {}).items() if on]
    return "+".join(flags) or "0"


def earliest_start(data: dict) -> tuple[float | None, float]:
    """From ffprobe's report of a file (its streams' kinds, codecs, start times and
    dispositions, the format's start time): when its earliest picture, sound or text subtitle
    starts (None: unknown), and how much later than ffmpeg would the file must be read for that
    to come out at 0 s. (Picture subtitles are left out: the MP4 result takes none, and a track
    it does not play should not put a gap before those it does.)"""
    file_start = reported_seconds((data.get("format") or {}).get("start_time"))
    if file_start is None:
        return None, 0.0
    starts = [
        reported_seconds(stream.get("start_time"))
        for stream in data.get("streams", [])
        if _timed(stream)
    ]
    earliest = min([file_start, *(start for start in starts if start is not None)])
    return earliest, file_start - earliest


def _timed(stream: dict) -> bool:
    """Whether other tracks are timed against this one: a picture (not a cover), a sound, a
    text subtitle."""
    if stream.get("codec_type") == "subtitle":
        return stream.get("codec_name") in TEXT_SUBTITLE_CODECS
    cover = (stream.get("disposition") or {}).get("attached_pic")
    return stream.get("codec_type") in ("video", "audio") and not cover


def read_from_the_earliest(shift: float) -> dict[str, str]:
    """Input options that read a file ``shift`` s later than ffmpeg would (``earliest_start``).

    ffmpeg starts reading a file at its earliest sound or picture, or at a subtitle track up to
    a second before them; a subtitle track earlier still came out before 0 s, and the muxer
    moved every track later to undo it: a cue 1.5 s before the picture put the sound 1.5 s late.
    """
    return {"itsoffset": f"{shift:.6f}"} if shift > 0 else {}


def reported_seconds(value: object) -> float | None:
    """A time ffprobe reports, or None where it has none ("N/A")."""
    return None if value in (None, "N/A") else float(value)  # type: ignore[arg-type]


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
            "-show_entries",
            "stream=index,codec_type,codec_name,start_time:stream_tags=language,handler_name,title"
            ":stream_disposition=attached_pic:format=start_time",
        )
        streams = [s for s in data.get("streams", []) if s.get("codec_type") == "subtitle"]
        if not streams:
            return []
        folder.mkdir(parents=True, exist_ok=True)
        written = [
            (folder / f"{number:02d}{suffix}", _described(stream, number))
            for number, stream in enumerate(streams)
        ]
        # Timed as the result's other tracks are (a player starts at its earliest track).
        video = safe_input(result, **read_from_the_earliest(earliest_start(data)[1]))
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
