"""Join converted segments and put the source's audio back, without touching either."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import ffmpeg

from stereo_spot.domain import Layout, StereoParams, VideoCodec
from stereo_spot.errors import InputRejected
from stereo_spot.media.captions import CAPTIONS_TRACK_NAME, extract_captions
from stereo_spot.media.chapters import chapters_within, output_with_chapters, read_chapters
from stereo_spot.media.ffmpeg_run import MediaError, run_ffmpeg, safe_input
from stereo_spot.media.probe import (
    TEXT_SUBTITLE_CODECS,
    count_video_frames,
    picture_subtitles,
    run_ffprobe,
)
from stereo_spot.media.split import exact_frame_times, with_continuous_timestamps
from stereo_spot.media.stereo_subtitles import write_stereo_tracks
from stereo_spot.media.tracks import (
    disposition_flags,
    earliest_start,
    read_from_the_earliest,
    reported_seconds,
    track_language,
    track_name,
)

log = logging.getLogger(__name__)

# Audio codecs the MP4 muxer takes as they are (a film's DTS too, as its AC-3); anything else
# (PCM from MOV/AVI, Vorbis from WebM, TrueHD) is encoded once, whole, to AAC — never per segment.
MP4_AUDIO_CODECS = {"aac", "mp3", "ac3", "eac3", "dts", "alac", "opus", "flac"}
# What an AAC track gets for each of its channels: 192 kb/s for stereo, as before, and a 5.1
# mix the same per channel instead of sharing 192 between six.
AAC_KBITS_PER_CHANNEL = 96


def mp4_audio_options(codecs: list[str], channels: list[int] | None = None) -> dict[str, object]:
    """ffmpeg output options for audio tracks of ``codecs`` (with ``channels`` each, stereo
    when not known) going into an MP4: copied when the muxer takes them all, else encoded once
    to AAC."""
    if all(codec in MP4_AUDIO_CODECS for codec in codecs):
        if "flac" in codecs:
            # ffmpeg before 6.0 calls FLAC in MP4 experimental and refuses it without this.
            return {"acodec": "copy", "strict": "experimental"}
        return {"acodec": "copy"}
    return aac_options(channels or [2] * len(codecs))


def aac_options(channels: list[int]) -> dict[str, object]:
    """ffmpeg output options that encode audio tracks of ``channels`` each to AAC, each at
    :data:`AAC_KBITS_PER_CHANNEL` a channel."""
    options: dict[str, object] = {"acodec": "aac"}
    for number, count in enumerate(channels):
        options[f"b:a:{number}"] = f"{AAC_KBITS_PER_CHANNEL * max(1, count)}k"
    return options


def holds_source_audio(codecs: list[str], muxer: str) -> bool:
    """Whether a result rewrapped by ``muxer`` should take the source's audio tracks (of
    ``codecs``) as they are rather than the MP4's: the MP4 had to encode them to AAC, and
    ``muxer`` holds each of them. Matroska holds any sound (a film's TrueHD, Vorbis, PCM);
    QuickTime holds PCM, as cameras, recorders and tapes keep it."""
    if not codecs or mp4_audio_options(codecs)["acodec"] == "copy":
        return False
    if any(codec in PACKED_PCM_CODECS for codec in codecs):
        return False
    if muxer == "matroska":
        return True
    return muxer == "mov" and all(
        codec in MP4_AUDIO_CODECS or codec.startswith("pcm_") for codec in codecs
    )


# PCM packed as discs pack it (Blu-ray, DVD), which neither Matroska nor QuickTime takes.
PACKED_PCM_CODECS = {"pcm_bluray", "pcm_dvd"}
# Text subtitles Matroska does not hold as they are, which go into it as SubRip: MP4's mov_text
# and closed captions (ffmpeg decodes both to text).
MATROSKA_AS_SUBRIP = {"mov_text", "eia_608"}
# Subtitles an MP4 keeps only as plain text: styled ones (positions, fonts, colours, karaoke).
STYLED_SUBTITLE_CODECS = {"ass", "ssa"}


def holds_source_subtitles(tracks: SourceTracks, muxer: str) -> bool:
    """Whether a result rewrapped by ``muxer`` should take the source's subtitles, as they are,
    and its attached fonts rather than the MP4's: Matroska holds styled subtitles (which the MP4
    keeps as plain text) and picture subtitles (which it cannot keep at all)."""
    styled = any(codec in STYLED_SUBTITLE_CODECS for codec in tracks.subtitle_codecs)
    return muxer == "matroska" and bool(styled or tracks.picture_subtitles or tracks.attachments)


# Cover pictures an MP4 keeps (as iTunes writes them; a Matroska cover attachment reads the same),
# with the file name and type a Matroska cover attachment has (players look for "cover.*").
COVER_ART_FILES = {"mjpeg": ("cover.jpg", "image/jpeg"), "png": ("cover.png", "image/png")}


@dataclass(frozen=True)
class SourceTracks:
    """What the result takes from the source besides its picture."""

    audio_codecs: list[str]
    # How much later than the file's earliest track its first video frame starts, in seconds.
    lead: float
    text_subtitles: list[int]  # stream indexes
    picture_subtitles: list[str]  # codecs of the subtitle tracks left out
    # Each audio track's and each text subtitle track's name ("Director's commentary"), or None.
    audio_names: list[str | None] = field(default_factory=list)
    subtitle_names: list[str | None] = field(default_factory=list)
    # The cover pictures (a film's poster, an album's art): stream index -> codec of each picture
    # marked attached_pic in a format MP4 holds.
    cover_art: dict[int, str] = field(default_factory=dict)
    audio_channels: list[int] = field(default_factory=list)  # each audio track's
    subtitle_codecs: list[str] = field(default_factory=list)  # every subtitle track's, in order
    # Every subtitle track's language (ISO 639-2, "eng") or None, and its flags as ffmpeg's
    # -disposition takes them ("default+forced"; "0": none), in order.
    subtitle_languages: list[str | None] = field(default_factory=list)
    subtitle_dispositions: list[str] = field(default_factory=list)
    audio_dispositions: list[str] = field(default_factory=list)  # each audio track's, as above
    attachments: int = 0  # files a Matroska file carries (the fonts its styled subtitles use)
    # The timecode of the first frame (HH:MM:SS:FF, ";" before the frames when drop-frame), as
    # cameras and editing systems stamp a recording, or None.
    timecode: str | None = None
    # The reel (tape, camera clip: "A001C003") that timecode counts, which editing systems
    # conform and relink by together with it, or None.
    reel_name: str | None = None
    # How much later than ffmpeg would the file is read so that its earliest track starts at 0
    # (``tracks.read_from_the_earliest``), in seconds.
    shift: float = 0.0

    @property
    def text_subtitle_dispositions(self) -> list[str]:
        """The flags of each text subtitle track (``text_subtitles``), in order."""
        return [
            flags
            for flags, codec in zip(self.subtitle_dispositions, self.subtitle_codecs, strict=True)
            if codec in TEXT_SUBTITLE_CODECS
        ]


def source_tracks(source: Path, video_stream: int = 0) -> SourceTracks:
    """The source's audio and subtitle tracks, and the lead of its video stream number
    ``video_stream`` over its audio; one ffprobe."""
    data = run_ffprobe(
        source,
        "-show_entries",
        "stream=index,codec_type,codec_name,channels,start_time"
        ":stream_tags=title,handler_name,timecode,reel_name,language"
        ":stream_disposition:format=start_time:format_tags=timecode,reel_name",
    )
    streams = data.get("streams", [])
    videos = [s for s in streams if s.get("codec_type") == "video"]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    codecs = [str(s.get("codec_name")) for s in audios]
    subtitles = [s for s in streams if s.get("codec_type") == "subtitle"]
    texts = [s for s in subtitles if s.get("codec_name") in TEXT_SUBTITLE_CODECS]
    # The converted picture (which starts at 0) goes where the source's did, after the file's
    # earliest track, from which the file is read. Measured from the earliest sound instead, a
    # subtitle cue half a second before the picture put the sound half a second late.
    video = videos[video_stream] if video_stream < len(videos) else {}
    earliest, shift = earliest_start(data)
    video_start = reported_seconds(video.get("start_time"))
    lead = 0.0
    if earliest is not None and video_start is not None:
        lead = max(0.0, video_start - earliest)
    return SourceTracks(
        audio_codecs=codecs,
        lead=lead,
        text_subtitles=[int(s["index"]) for s in texts],
        picture_subtitles=picture_subtitles(streams),
        audio_names=[track_name(s) for s in audios],
        audio_channels=[int(s.get("channels") or 2) for s in audios],
        subtitle_names=[
            track_name(s) or (CAPTIONS_TRACK_NAME if s.get("codec_name") == "eia_608" else None)
            for s in texts
        ],
        subtitle_codecs=[str(s.get("codec_name")) for s in subtitles],
        subtitle_languages=[track_language(s) for s in subtitles],
        subtitle_dispositions=[disposition_flags(s) for s in subtitles],
        audio_dispositions=[disposition_flags(s) for s in audios],
        attachments=sum(1 for s in streams if s.get("codec_type") == "attachment"),
        cover_art={
            int(s["index"]): str(s["codec_name"])
            for s in streams
            if s.get("codec_type") == "video"
            and (s.get("disposition") or {}).get("attached_pic")
            and s.get("codec_name") in COVER_ART_FILES
        },
        timecode=_timecode(data, video),
        reel_name=_timecode(data, video, "reel_name"),
        shift=shift,
    )


def _timecode(data: dict, video: dict, tag: str = "timecode") -> str | None:
    """Where a source keeps its timecode (or the ``tag`` beside it, its reel_name): the
    container (MXF, DV, Matroska), the picture's own stream (MOV, MPEG-2's GOP headers, MXF's
    reel), or a timecode track (MOV's tmcd)."""
    data_tracks = [s for s in data.get("streams", []) if s.get("codec_type") == "data"]
    for tagged in (data.get("format", {}), video, *data_tracks):
        # Matroska's tag is TIMECODE: ffprobe matches tags in any case and keeps theirs.
        tags = {key.lower(): value for key, value in (tagged.get("tags") or {}).items()}
        if tags.get(tag):
            return str(tags[tag])
    return None


def track_name_options(tracks: SourceTracks, tag: str) -> dict[str, str]:
    """ffmpeg output options naming the result's audio and subtitle tracks as ``tracks`` are
    named, in the metadata ``tag`` the output container keeps a track's name in: MP4 and MOV
    keep it only as the handler name (the muxer drops a title), Matroska as the title."""
    options = {}
    for kind, names in (("a", tracks.audio_names), ("s", tracks.subtitle_names)):
        for number, name in enumerate(names):
            if name:
                options[f"metadata:s:{kind}:{number}"] = f"{tag}={name}"
    return options


# Matroska StereoMode of each packed layout (the half layouts are the same packing, squeezed).
# Anaglyph has no MP4 ``st3d`` type, so anaglyph outputs carry only their filename tag. (Matroska
# has anaglyph StereoModes, 10 cyan/red and 12 green/magenta, but ffmpeg 5.1's muxer drops both:
# a stereo_mode of either wrote no StereoMode element, measured.)
STEREO_MODES = {
    Layout.SBS: "left_right",
    Layout.HALF_SBS: "left_right",
    Layout.TAB: "top_bottom",
    Layout.HALF_TAB: "top_bottom",
}

# Files a result may be written as, by the name's suffix: the MP4 itself, or its streams copied
# into another container (the ffmpeg muxer named). Matroska carries the layout as StereoMode,
# which desktop players (VLC, mpv, Kodi) read; MP4 carries it as ``st3d``.
RESULT_CONTAINERS: dict[str, str | None] = {
    ".mp4": None,
    ".m4v": None,
    ".mkv": "matroska",
    ".mov": "mov",
}


@dataclass(frozen=True)
class _FromSource:
    """What a rewrap takes from the source itself rather than from the MP4 result."""

    path: Path
    tracks: SourceTracks
    audio: bool
    subtitles: bool  # and the attached fonts they use


def rewrap(
    result: Path,
    target: Path,
    muxer: str,
    layout: Layout | str,
    source: Path | None = None,
    params: StereoParams | None = None,
) -> None:
    """Copy the picture, audio and subtitles of the MP4 ``result`` into ``target`` with
    ``muxer`` (chapters and title come along), tagged with the layout's StereoMode where the
    container has one; nothing is re-encoded. (MP4's chapter text track is not a stream to
    copy: the chapters travel as chapters.) Given the ``source`` it was converted from, what
    the MP4 could not keep as it was and ``muxer`` can comes from there instead: sound the MP4
    encoded to AAC, styled and picture subtitles and their fonts. Given the ``params`` it was
    converted with, a Matroska side-by-side or top-bottom result also gets each text track
    laid out for a 3D TV (``stereo_subtitles``), in front of the scene's nearest depth."""
    flags: SourceTracks | None = None
    if source is not None:
        try:
            tracks = flags = source_tracks(source)
            if holds_source_audio(tracks.audio_codecs, muxer) or holds_source_subtitles(
                tracks, muxer
            ):
                with tempfile.TemporaryDirectory(prefix="stereo-spot-rewrap-") as scratch:
                    # Read across any jump of its timestamps, as the join read it.
                    continuous = with_continuous_timestamps(source, Path(scratch))
                    if continuous != source:
                        tracks = source_tracks(continuous)
                    taken = _FromSource(
                        continuous,
                        tracks,
                        audio=holds_source_audio(tracks.audio_codecs, muxer),
                        subtitles=holds_source_subtitles(tracks, muxer),
                    )
                    _rewrap(result, target, muxer, layout, params, taken, tracks)
                    return
        except (MediaError, InputRejected) as error:
            # The source moved or changed since: the MP4 still holds every track, as it could.
            log.warning("the source's own tracks could not be copied (%s); the MP4's", error)
            flags = None
    _rewrap(result, target, muxer, layout, params, flags=flags)


def _rewrap(
    result: Path,
    target: Path,
    muxer: str,
    layout: Layout | str,
    params: StereoParams | None,
    taken: _FromSource | None = None,
    flags: SourceTracks | None = None,
) -> None:
    # The MP4's title, dates and places, named: ffmpeg's default copy of them leaves out the
    # date the video was shot (creation_time), which photo libraries file a video under. Its
    # chapters, named too: by default ffmpeg takes a source's, which run on past a part's end,
    # where the MP4 has none.
    options: dict[str, object] = {
        "c": "copy",
        "f": muxer,
        "map_metadata": "0",
        "map_chapters": "0",
    }
    mode = STEREO_MODES.get(Layout(layout))
    tracks = source_tracks(result)
    wrapped = ffmpeg.input(
        str(result), f="mp4", protocol_whitelist="file", **read_from_the_earliest(tracks.shift)
    )
    audio, subtitles, attachments = wrapped["a?"], [wrapped["s?"]], []
    subtitle_count = len(tracks.subtitle_codecs)
    # The source's flags on its tracks (forced, hearing impaired...), which an MP4 keeps only
    # in part: the MP4's tracks were made from its sound and text subtitles, in their order.
    from_source = flags or (taken.tracks if taken else None)
    subtitle_flags = []
    if from_source is not None:
        options.update(disposition_options(from_source))
        subtitle_flags = from_source.text_subtitle_dispositions
    # Tracks taken from the source line up with the picture as the MP4's did (they were made
    # from them): ffmpeg starts each input at its first packet, and the join placed the picture
    # relative to the source's start.
    if taken:
        original = safe_input(taken.path, **read_from_the_earliest(taken.tracks.shift))
        if taken.audio:
            # The MP4's audio tracks were made from these, in this order, and are named as
            # they are.
            audio = original["a?"]
            tracks = replace(tracks, audio_codecs=taken.tracks.audio_codecs)
        if taken.subtitles:
            # Every subtitle track as the source has it, named there already (Matroska's title),
            # and the closed captions the join read out of its pictures, which it has as no
            # track: the MP4's text tracks past those made from the source's.
            read_out = range(len(taken.tracks.text_subtitles), len(tracks.subtitle_codecs))
            subtitles = [original["s?"], *(wrapped[f"s:{n}"] for n in read_out)]
            attachments = [original["t?"]]
            first = len(taken.tracks.subtitle_codecs)
            subtitle_count = first + len(read_out)
            options = {k: v for k, v in options.items() if not k.startswith("disposition:s:")}
            subtitle_flags = taken.tracks.subtitle_dispositions
            for number, value in enumerate(subtitle_flags):
                options[f"disposition:s:{number}"] = value
            for number in range(first, subtitle_count):
                options[f"c:s:{number}"] = "srt"
                options[f"metadata:s:s:{number}"] = f"title={CAPTIONS_TRACK_NAME}"
            tracks = replace(tracks, subtitle_names=[])
    if muxer == "matroska":
        options["c:s"] = "srt"  # MP4's mov_text subtitles are SubRip text in Matroska
        if taken and taken.subtitles:
            for number, codec in enumerate(taken.tracks.subtitle_codecs):
                options[f"c:s:{number}"] = "srt" if codec in MATROSKA_AS_SUBRIP else "copy"
        if mode:
            options["metadata:s:v:0"] = f"stereo_mode={mode}"
        options.update(track_name_options(tracks, "title"))
    if muxer == "mov":
        options["movflags"] = "+faststart"
        for number, codec in enumerate(tracks.audio_codecs):
            if codec == "flac":
                # QuickTime has no FLAC; ALAC is its lossless audio, decoded to the same samples.
                options[f"c:a:{number}"] = "alac"
    if tracks.timecode and tracks.reel_name:
        # The reel the MP4's timecode track names, which ffmpeg reads from there but writes
        # from a tag: the mov muxer into the timecode track it makes, from the picture's;
        # the Matroska muxer as the file's REEL_NAME, beside its TIMECODE.
        key = "metadata:s:v:0" if muxer == "mov" else "metadata"
        options[key] = f"reel_name={tracks.reel_name}"
    # The MP4's cover picture is not mapped as a stream: ffmpeg's mov muxer drops it, and its
    # Matroska muxer would make a second video track of it. Matroska gets it as the attachment
    # a Matroska cover is.
    streams = [wrapped["v:0"], audio, *subtitles]
    with tempfile.TemporaryDirectory(prefix="stereo-spot-rewrap-") as scratch:
        if muxer == "matroska" and mode and params is not None:
            # After every other subtitle track, with no language: a player choosing by language
            # takes the plain track, which is right everywhere but on a 3D TV.
            stereo = write_stereo_tracks(result, Path(scratch) / "3d", layout, params)
            for number, track in enumerate(stereo, start=subtitle_count):
                script = ffmpeg.input(str(track.script), f="ass", protocol_whitelist="file")
                streams.append(script["s"])
                options[f"c:s:{number}"] = "copy"
                options[f"metadata:s:s:{number}"] = f"title={track.title}"
        streams += attachments
        if muxer == "matroska" and tracks.cover_art:
            index, codec = next(iter(tracks.cover_art.items()))
            name, mimetype = COVER_ART_FILES[codec]
            cover = Path(scratch) / name
            run_ffmpeg(wrapped[str(index)].output(str(cover), c="copy", f="image2"))
            options["attach"] = str(cover)
            # After the source's attachments, if they are mapped.
            after = taken.tracks.attachments if taken and taken.subtitles else 0
            options[f"metadata:s:t:{after}"] = f"mimetype={mimetype}"
        run_ffmpeg(ffmpeg.output(*streams, str(target), **options))
    if muxer == "mov" and subtitle_flags:
        enable_subtitles(target, [_is_default(value) for value in subtitle_flags])


def concat_and_mux(
    segments: list[Path],
    source: Path,
    target: Path,
    workdir: Path,
    layout: Layout | str | None = None,
    codec: VideoCodec | str = VideoCodec.H264,
    video_stream: int = 0,
    picture_delay: float = 0.0,
) -> None:
    """``target`` := the segments joined by stream copy + every audio track of ``source``,
    tagged for players as ``layout`` (MP4 ``st3d`` box for side-by-side and top-bottom). The
    segments are of the source's video stream number ``video_stream``, and start
    ``picture_delay`` s after its first picture (``SourceInfo.first_picture_delay``).

    The concat demuxer joins segments encoded with identical settings without re-encoding;
    ``+faststart`` moves the index to the front so playback starts before the download ends.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    # Read as the split read it, across any jump of its timestamps: the segments' times and
    # the sound's then agree.
    source = with_continuous_timestamps(source, workdir)
    listing = workdir / "segments.txt"
    # The list names only files we wrote ourselves, so absolute paths (safe 0) are fine.
    spans = segment_spans(segments, source, video_stream)
    listing.write_text(
        "".join(
            f"file '{p.resolve()}'\n" + (f"duration {span:.6f}\n" if span else "")
            for p, span in zip(segments, spans, strict=True)
        )
    )

    tracks = source_tracks(source, video_stream)
    concat_options: dict[str, object] = {}
    lead = tracks.lead + picture_delay
    if lead > 0:
        # Converted segments start at 0; keep the source's gap between audio and video start.
        concat_options["itsoffset"] = f"{lead:.6f}"
    options: dict[str, object] = {"vcodec": "copy", "movflags": "+faststart"}
    if VideoCodec(codec) is VideoCodec.HEVC:
        # hvc1, not the muxer's hev1: Apple's players (and the browsers on their systems) play
        # HEVC in MP4 only under this tag, whose parameter sets live in the header alone.
        options["tag:v:0"] = "hvc1"
    mode = STEREO_MODES.get(Layout(layout)) if layout else None
    # The joined video goes into the MP4 as the concat demuxer reads it: each picture at its
    # time, with its duration, and the stream's pixel aspect ratio exact. (It once passed
    # through an MKV for the ``st3d`` box, which ffmpeg's MP4 muxer writes only from Matroska's
    # StereoMode: the MKV rounded a 176x144 SBS's 128:117 to 12:11, and a variable-frame-rate
    # video's last picture lost its duration, 55 ms. The box is written afterwards instead.)
    video = ffmpeg.input(
        str(listing), f="concat", safe=0, protocol_whitelist="file", **concat_options
    )
    # Every audio track (optional: a silent source has none), the text subtitles, and the
    # source's title, dates and chapters (input 1 is the source).
    original = safe_input(source, **read_from_the_earliest(tracks.shift))
    streams = [video["v:0"], original["a?"]]
    options.update(mp4_audio_options(tracks.audio_codecs, tracks.audio_channels))
    options.update(map_metadata="1")
    options.update(track_name_options(tracks, "handler_name"))
    options.update(disposition_options(tracks))
    if tracks.timecode:
        # The result's first frame is the source's, so it keeps its time of day; the MP4
        # muxer writes it as a tmcd track, which editing systems read.
        options["metadata"] = f"timecode={tracks.timecode}"
    streams += [original[str(index)] for index in tracks.text_subtitles]
    captions = extract_captions(source, workdir, video_stream)
    if captions:
        # Timed from the source's first picture, as the converted picture is.
        streams.append(
            ffmpeg.input(str(captions), f="srt", protocol_whitelist="file", **concat_options)["s"]
        )
        number = len(tracks.text_subtitles)
        options[f"metadata:s:s:{number}"] = f"handler_name={CAPTIONS_TRACK_NAME}"
    if tracks.text_subtitles or captions:
        options["scodec"] = "mov_text"
    streams += [original[str(index)] for index in tracks.cover_art]
    for number in range(1, 1 + len(tracks.cover_art)):
        # After the converted video, copied (vcodec) and marked as covers, not a second picture.
        options[f"disposition:v:{number}"] = "attached_pic"
    if tracks.picture_subtitles:
        log.info(
            "left out %d picture subtitle track(s) (%s): MP4 cannot carry them",
            len(tracks.picture_subtitles),
            ", ".join(tracks.picture_subtitles),
        )
    # The chapters end where the picture does: a part's source chapter ran on past it, and in
    # an MP4 the chapter track's end is the file's length.
    picture_end = lead + _joined_seconds(segments, spans)
    chapters = chapters_within(read_chapters(source), -tracks.shift, picture_end - tracks.shift)
    run_ffmpeg(output_with_chapters(streams, str(target), options, chapters, workdir))
    finish_index(
        target,
        ST3D_MODES[mode] if mode else None,
        [_is_default(flags) for flags in tracks.text_subtitle_dispositions],
        tracks.reel_name if tracks.timecode else None,
    )


def disposition_options(tracks: SourceTracks) -> dict[str, str]:
    """ffmpeg output options flagging the result's sound and text subtitle tracks as the
    source flags them (default, forced, hearing impaired, commentary...): by its own choice,
    ffmpeg made a subtitle track the source had switched off the default, which players then
    show unasked."""
    options = {}
    for kind, flags in (("a", tracks.audio_dispositions), ("s", tracks.text_subtitle_dispositions)):
        for number, value in enumerate(flags):
            options[f"disposition:{kind}:{number}"] = value
    return options


def _is_default(flags: str) -> bool:
    return "default" in flags.split("+")


def _joined_seconds(segments: list[Path], spans: list[float | None]) -> float:
    """How long the segments joined with ``spans`` (``segment_spans``) last."""
    return sum(
        span if span is not None else _format_seconds(segment)
        for segment, span in zip(segments, spans, strict=True)
    )


def _format_seconds(path: Path) -> float:
    duration = run_ffprobe(path, "-show_entries", "format=duration").get("format", {})
    return float(duration.get("duration") or 0.0)


# The MP4 ``st3d`` box's stereo_mode (Google's Spherical Video V2 RFC, which ffmpeg and
# YouTube follow) of each Matroska StereoMode of ``STEREO_MODES``.
ST3D_MODES = {"top_bottom": 1, "left_right": 2}
# The boxes from the moov down to the one that holds a track's sample entries.
_TO_SAMPLE_ENTRIES = (b"mdia", b"minf", b"stbl", b"stsd")
# The boxes from a track down to its sample durations (stts).
_TO_SAMPLE_DURATIONS = (b"mdia", b"minf", b"stbl", b"stts")


def finish_index(
    mp4: Path,
    stereo_mode: int | None,
    subtitle_defaults: list[bool] | None = None,
    reel_name: str | None = None,
) -> None:
    """What the join's MP4 index (moov) lacks, in one read and one write of it: the last
    picture's duration (:func:`_end_last_sample`), for a packed layout the ``st3d`` box of
    ``stereo_mode`` (:data:`ST3D_MODES`; :func:`_tag_st3d`), the text tracks switched
    on only where ``subtitle_defaults`` says (:func:`_enable_subtitles`), and the timecode
    track's ``reel_name`` (:func:`_name_reel`)."""
    moov, place, before_media = _read_moov(mp4)
    changed = _end_last_sample(moov, before_media)
    if reel_name:
        changed = _name_reel(moov, before_media, reel_name) or changed
    if subtitle_defaults:
        changed = _enable_subtitles(moov, subtitle_defaults) or changed
    if stereo_mode is not None:
        _tag_st3d(moov, before_media, stereo_mode)
        changed = True
    if changed:
        _write_moov(mp4, place, moov)


def enable_subtitles(mp4: Path, defaults: list[bool]) -> None:
    """:func:`_enable_subtitles` on ``mp4``'s index (an MP4 or a QuickTime movie)."""
    moov, place, _ = _read_moov(mp4)
    if _enable_subtitles(moov, defaults):
        _write_moov(mp4, place, moov)


# A track header's flag that a player shows the track unasked (ISO 14496-12's track_enabled),
# which ffmpeg reads back as the default disposition.
_TRACK_ENABLED = 0x1


def _enable_subtitles(moov: bytearray, defaults: list[bool]) -> bool:
    """Switch each text subtitle track (handler ``sbtl``: mov_text) of the index ``moov`` on
    or off as ``defaults`` says, in order; whether anything changed.

    ffmpeg's MP4 and QuickTime muxers switch on the first track of each kind when none is
    default, so a subtitle track the source had switched off came out shown unasked. (Its
    chapter track, handler ``text``, is left alone.)"""
    traks = [(a, b) for kind, a, b in _children(moov, 8, len(moov)) if kind == b"trak"]
    subtitles = [t for t in traks if _handler(moov, t) == b"sbtl"]
    changed = False
    for trak, default in zip(subtitles, defaults, strict=False):
        tkhd, _ = _descend(moov, trak, (b"tkhd",))
        flags = moov[tkhd + 11]  # the last byte of the FullBox's 24-bit flags
        wanted = flags | _TRACK_ENABLED if default else flags & ~_TRACK_ENABLED
        if wanted != flags:
            moov[tkhd + 11] = wanted
            changed = True
    return changed


def end_last_frame_with_the_track(mp4: Path) -> None:
    """:func:`_end_last_sample` on ``mp4``'s index, the file left as it is where nothing
    changes."""
    moov, place, before_media = _read_moov(mp4)
    if _end_last_sample(moov, before_media):
        _write_moov(mp4, place, moov)


def _tag_st3d(moov: bytearray, before_media: bool, stereo_mode: int) -> None:
    """Tag the first video track of the index ``moov`` (as ffmpeg's MP4 muxer writes it) with
    an ``st3d`` box of ``stereo_mode``, at the end of its sample entry, as ffmpeg writes it from
    stereo side data; where the index lies before the media data (``+faststart``), every chunk
    offset moves by the box's 13 bytes."""
    box = (13).to_bytes(4, "big") + b"st3d" + bytes(4) + bytes([stereo_mode])
    chain = [(0, len(moov)), _video_track(moov)]
    for kind in _TO_SAMPLE_ENTRIES:
        chain.append(_descend(moov, chain[-1], (kind,)))
    stsd_start, stsd_end = chain[-1]
    entry = next(iter(_children(moov, stsd_start + 16, stsd_end)), None)  # FullBox + count
    if entry is None:
        raise MediaError("the MP4 written has no sample entry")
    chain.append(entry[1:])
    _grow(moov, chain, len(box), before_media)
    moov[entry[2] : entry[2]] = box


def _name_reel(moov: bytearray, before_media: bool, reel_name: str) -> bool:
    """Give the timecode track (handler ``tmcd``) of the index ``moov`` the reel it counts,
    as the ``name`` box QuickTime puts at the end of its sample entry; whether anything changed.

    ffmpeg 5.1's muxer writes that box from the picture stream's ``reel_name`` into a .mov
    only: into an MP4 it writes its place as two zero bytes (and its demuxer reads the box
    from either). An entry that has a name already is left as it is."""
    name = reel_name.encode()
    traks = [(a, b) for kind, a, b in _children(moov, 8, len(moov)) if kind == b"trak"]
    timecode = next((t for t in traks if _handler(moov, t) == b"tmcd"), None)
    if timecode is None or len(name) >= 1 << 16:
        return False
    chain = [(0, len(moov)), timecode]
    for kind in _TO_SAMPLE_ENTRIES:
        chain.append(_descend(moov, chain[-1], (kind,)))
    stsd_start, stsd_end = chain[-1]
    entry = next(iter(_children(moov, stsd_start + 16, stsd_end)), None)  # FullBox + count
    # The entry as ffmpeg writes it: header, reserved and data reference (16 bytes), flags,
    # timecode flags, timescale, frame duration, frames a second and a reserved byte (18),
    # then the name's place.
    if entry is None or entry[0] != b"tmcd" or entry[2] - entry[1] != 36:
        return False
    if moov[entry[2] - 2 : entry[2]] != bytes(2):
        return False
    # size, type, the name's length, its language (0: as ffmpeg writes it), the name
    box = (12 + len(name)).to_bytes(4, "big") + b"name" + len(name).to_bytes(2, "big")
    box += bytes(2) + name
    chain.append(entry[1:])
    _grow(moov, chain, len(box) - 2, before_media)
    moov[entry[2] - 2 : entry[2]] = box
    return True


def _end_last_sample(moov: bytearray, before_media: bool) -> bool:
    """Make the last sample of the first video track of the index ``moov`` last until the
    track's duration (mdhd), where the samples end short of it; whether anything changed.

    ffmpeg 5.1's MP4 demuxer gives the packets of a video with B-frames no duration, so the
    concat join's have none and the muxer gives the last sample one nominal frame. The samples'
    durations are their decode times' steps, and x264's decode times run two frames behind the
    pictures: in a variable-frame-rate video the samples then end before the last picture does,
    and players and ffprobe end the track there (measured: 3.900 s of a 3.967 s track). A
    constant-frame-rate video's samples end with the track already, and its index is left as it
    is. Where the last duration is shared with earlier samples, its stts entry is split in two
    (8 bytes more: where the index lies before the media data, every chunk offset moves)."""
    video = _video_track(moov)
    mdhd, _ = _descend(moov, video, (b"mdia", b"mdhd"))
    at, width = (mdhd + 24, 4) if moov[mdhd + 8] == 0 else (mdhd + 32, 8)  # version 0 or 1
    duration = int.from_bytes(moov[at : at + width], "big")
    chain = [(0, len(moov)), video]
    for kind in _TO_SAMPLE_DURATIONS:
        chain.append(_descend(moov, chain[-1], (kind,)))
    stts, stts_end = chain[-1]
    entries = [
        (int.from_bytes(moov[p : p + 4], "big"), int.from_bytes(moov[p + 4 : p + 8], "big"))
        for p in range(stts + 16, stts_end - 7, 8)
    ][: int.from_bytes(moov[stts + 12 : stts + 16], "big")]
    short = duration - sum(count * step for count, step in entries)
    if not entries or short <= 0:
        return False
    count, step = entries[-1]
    if step + short >= 1 << 32:
        raise MediaError("the MP4 written has a last frame too long to write")
    entries[-1:] = [(count - 1, step), (1, step + short)] if count > 1 else [(1, step + short)]
    table = b"".join(n.to_bytes(4, "big") + d.to_bytes(4, "big") for n, d in entries)
    _grow(moov, chain, 16 + len(table) - (stts_end - stts), before_media)
    moov[stts + 12 : stts_end] = len(entries).to_bytes(4, "big") + table
    return True


def _grow(moov: bytearray, chain: list[tuple[int, int]], by: int, before_media: bool) -> None:
    """Make room for ``by`` more bytes in the last box of ``chain`` (the boxes from the moov
    down to it): each box's size grows, and where the index lies before the media data, every
    chunk offset moves."""
    if not by:
        return
    if before_media:
        _move_every_chunk_offset(moov, by)
    for start, _ in chain:
        size = int.from_bytes(moov[start : start + 4], "big")
        if size < 8:
            raise MediaError("the MP4 written has an index this cannot edit (64-bit boxes)")
        moov[start : start + 4] = (size + by).to_bytes(4, "big")


def _read_moov(mp4: Path) -> tuple[bytearray, tuple[int, int], bool]:
    """The index (moov) of ``mp4``, where it lies in the file, and whether it lies before the
    media data (``+faststart``)."""
    with open(mp4, "rb") as file:
        top = _box_headers(file, os.fstat(file.fileno()).st_size)
        (moov_start, moov_end), *_ = [(a, b) for kind, a, b in top if kind == b"moov"] or [
            (None, None)
        ]
        if moov_start is None:
            raise MediaError("the MP4 written has no index (moov)")
        file.seek(moov_start)
        moov = bytearray(file.read(moov_end - moov_start))
    before_media = any(kind == b"mdat" and start > moov_start for kind, start, _ in top)
    return moov, (moov_start, moov_end), before_media


def _write_moov(mp4: Path, place: tuple[int, int], moov: bytearray) -> None:
    """Put ``moov`` where the index of ``mp4`` lay (``place``): over it when as long, else in a
    copy of the file (the media data moves)."""
    moov_start, moov_end = place
    if len(moov) == moov_end - moov_start:
        with open(mp4, "r+b") as file:
            file.seek(moov_start)
            file.write(moov)
        return
    rewritten = mp4.with_name(mp4.name + ".moov")
    with open(mp4, "rb") as source, open(rewritten, "wb") as out:
        out.write(source.read(moov_start))
        out.write(moov)
        source.seek(moov_end)
        shutil.copyfileobj(source, out, 1 << 20)
    os.replace(rewritten, mp4)


def _video_track(moov: bytearray) -> tuple[int, int]:
    """Where the first video track (trak) of the index ``moov`` lies."""
    traks = [(a, b) for kind, a, b in _children(moov, 8, len(moov)) if kind == b"trak"]
    video = next((t for t in traks if _handler(moov, t) == b"vide"), None)
    if video is None:
        raise MediaError("the MP4 written has no video track")
    return video


def _move_every_chunk_offset(moov: bytearray, by: int) -> None:
    """Move the chunk offsets of every track of the index ``moov`` by ``by``."""
    for kind, start, end in _children(moov, 8, len(moov)):
        if kind == b"trak":
            _move_chunk_offsets(moov, *_descend(moov, (start, end), _TO_SAMPLE_ENTRIES[:3]), by)


def _box_headers(file: BinaryIO, end: int) -> list[tuple[bytes, int, int]]:
    """The top-level boxes of an MP4 file: (type, start, end)."""
    boxes, position = [], 0
    while position + 8 <= end:
        file.seek(position)
        header = file.read(16)
        size, kind = int.from_bytes(header[:4], "big"), header[4:8]
        if size == 1:
            size = int.from_bytes(header[8:16], "big")
        elif size == 0:
            size = end - position
        if size < 8:
            break
        boxes.append((kind, position, position + size))
        position += size
    return boxes


def _children(data: bytearray, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """The boxes in ``data[start:end]``: (type, start, end)."""
    boxes, position = [], start
    while position + 8 <= end:
        size, kind = (
            int.from_bytes(data[position : position + 4], "big"),
            bytes(data[position + 4 : position + 8]),
        )
        if size < 8 or position + size > end:
            raise MediaError("the MP4 written has a malformed index")
        boxes.append((kind, position, position + size))
        position += size
    return boxes


def _descend(data: bytearray, box: tuple[int, int], kinds: tuple[bytes, ...]) -> tuple[int, int]:
    """Where the box reached from ``box`` through children of ``kinds`` lies."""
    start, end = box
    for kind in kinds:
        found = [(a, b) for k, a, b in _children(data, start + 8, end) if k == kind]
        if not found:
            raise MediaError(f"the MP4 written has no {kind.decode()} box")
        start, end = found[0]
    return start, end


def _handler(data: bytearray, trak: tuple[int, int]) -> bytes:
    """A track's handler type (``vide``, ``soun``, ``text``, ``tmcd``...)."""
    start, _ = _descend(data, trak, (b"mdia", b"hdlr"))
    return bytes(data[start + 16 : start + 20])  # after the header, version, flags, pre_defined


def _move_chunk_offsets(data: bytearray, start: int, end: int, by: int) -> None:
    """Move every chunk offset (stco, co64) of the sample table ``data[start:end]`` by ``by``."""
    for kind, box_start, _ in _children(data, start + 8, end):
        if kind not in (b"stco", b"co64"):
            continue
        width = 4 if kind == b"stco" else 8
        count = int.from_bytes(data[box_start + 12 : box_start + 16], "big")
        for number in range(count):
            at = box_start + 16 + number * width
            offset = int.from_bytes(data[at : at + width], "big") + by
            if offset >= 1 << (8 * width):
                raise MediaError("the MP4 written is too large to tag")
            data[at : at + width] = offset.to_bytes(width, "big")


def segment_spans(segments: list[Path], source: Path, video_stream: int = 0) -> list[float | None]:
    """How long each segment lasts in the source's timeline (None: let the demuxer decide).

    The concat demuxer starts each file where the previous one's last frame ends, and a
    converted segment's last frame lasts one nominal frame. In a variable-frame-rate source it
    may last longer or shorter, so every later segment would move (measured: 42 ms per
    boundary, audio drifting away). The source's own frame times say where each segment
    starts; the concat ``duration`` directive then places the next one exactly.
    """
    counts = [count_video_frames(p) for p in segments]
    # On their exact grid where Matroska kept them to the millisecond, as the split put the
    # segments: a span a millisecond off moved each later segment off the frame rate's grid.
    times = exact_frame_times(source, video_stream)
    if len(segments) < 2 or len(times) != sum(counts):
        return [None] * len(segments)  # untimed sources (AVI) are retimed by index: nominal
    starts = list(itertools.accumulate(counts[:-1], initial=0))
    spans: list[float | None] = [times[b] - times[a] for a, b in itertools.pairwise(starts)]
    return [*spans, None]
