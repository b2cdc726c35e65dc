"""Probe a source with ffprobe and reject what we cannot convert, with one plain sentence.

Per-packet questions (frame counts, frame times, keyframes) are answered by demuxing in this
process through PyAV instead: an ffprobe process costs ~0.1 s to start here, and chunking and
reassembly ask them of every segment.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from stereo_spot.domain import SourceInfo, clock
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
    "mxf",  # what broadcast and professional cameras record (XDCAM, XAVC, P2, Canon XF)
    "dv",  # camcorder tapes captured over FireWire
    "yuv4mpegpipe",  # uncompressed .y4m, as editing and test tools hand video on
    "mpegvideo",  # MPEG-1/2 elementary streams (.m2v, .mpv)
    "gif",  # animated pictures
    "apng",
    "wtv",  # Windows Media Center's TV recordings
)
FORMAT_WHITELIST = ",".join(ALLOWED_FORMATS)
# Arguments every ffmpeg/ffprobe call on untrusted input gets: local files only, known demuxers.
SAFE_INPUT_ARGS = ("-protocol_whitelist", "file,pipe", "-format_whitelist", FORMAT_WHITELIST)
# The same limits for the files PyAV opens in this process.
SAFE_AV_OPTIONS = {"protocol_whitelist": "file", "format_whitelist": FORMAT_WHITELIST}
# Codecs of pictures, as a demuxer reports a picture file it can read, and what to call them.
STILL_IMAGE_CODECS = {
    "png": "PNG",
    "apng": "PNG",
    "mjpeg": "JPEG",
    "bmp": "BMP",
    "gif": "GIF",
    "webp": "WebP",
    "tiff": "TIFF",
    "jpeg2000": "JPEG 2000",
    "ppm": "PPM",
    "pgm": "PGM",
}
# How the picture files people mistake for videos begin: (offset, bytes) that must all match.
# ffprobe cannot name them, since the image demuxers are not on the format whitelist.
PICTURE_SIGNATURES = (
    ("JPEG", ((0, b"\xff\xd8\xff"),)),
    ("PNG", ((0, b"\x89PNG\r\n\x1a\n"),)),
    ("WebP", ((0, b"RIFF"), (8, b"WEBP"))),
    ("TIFF", ((0, b"II*\x00"),)),
    ("TIFF", ((0, b"MM\x00*"),)),
    # ISO BMFF stills, told by the brand after "ftyp"; HEIC is what iPhones take photos in.
    ("HEIC", ((4, b"ftypheic"),)),
    ("HEIC", ((4, b"ftypheix"),)),
    ("HEIF", ((4, b"ftypmif1"),)),
    ("AVIF", ((4, b"ftypavif"),)),
)
# Sound files whose formats the allowed demuxers leave out, told by how they open: refused as
# what they are, not as "damaged" (one dropped on the page instead of its video, say).
AUDIO_SIGNATURES = (
    ("MP3", ((0, b"ID3"),)),  # an ID3 tag first, as nearly every MP3 has
    ("WAV", ((0, b"RIFF"), (8, b"WAVE"))),
    ("WAV", ((0, b"RF64"), (8, b"WAVE"))),
    ("FLAC", ((0, b"fLaC"),)),
    ("AIFF", ((0, b"FORM"), (8, b"AIFF"))),
    ("AIFF", ((0, b"FORM"), (8, b"AIFC"))),
)
ONLY_AUDIO = "The file has no video stream: it contains only audio."
ONLY_AUDIO_OF_KIND = "The file has no video stream: it contains only audio ({kind})."
# Subtitle codecs that are text, which MP4 carries as mov_text; picture subtitles (Blu-ray PGS,
# DVD, DVB) have no place in MP4 and are left out of it. Closed captions as a track of their own
# (eia_608: a QuickTime c608 track, as Apple's and broadcast deliverables carry them) are text
# too: ffmpeg decodes them to it.
TEXT_SUBTITLE_CODECS = {"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text", "eia_608"}


def picture_subtitles(streams: list[dict]) -> list[str]:
    """The codecs of the picture subtitle tracks among ffprobe's ``streams``, in order."""
    return [
        str(s.get("codec_name"))
        for s in streams
        if s.get("codec_type") == "subtitle" and s.get("codec_name") not in TEXT_SUBTITLE_CODECS
    ]


PROBE_TIMEOUT_SECONDS = 120
# ffprobe's field orders of pictures coded as two interlaced fields ("progressive" is not; where
# it says "unknown", the first frame is asked: _stored_as_fields).
INTERLACED_FIELD_ORDERS = ("tt", "bb", "tb", "bt")
# Transfer functions of high-dynamic-range video: PQ (HDR10, Dolby Vision's base) and HLG
# (broadcast, and what phones record).
HDR_TRANSFERS = ("smpte2084", "arib-std-b67")


UNREADABLE = "The file is not a video we can read: it is damaged or in an unsupported format."
STILL_PICTURE = "The file is a still picture ({kind}), not a video."


class StillPicture(InputRejected):
    """A picture file given for a video: :data:`STILL_PICTURE`. Its own class so that the
    command line can add the command for pictures, which the portal's users do not have."""


DISC_IMAGE = (
    "The file is a disc image (ISO), not a video: rip the disc's titles to video files first."
)
# Neither the ffmpeg that splits (Debian's 5.1) nor PyAV's own decodes an animated WebP.
ANIMATED_WEBP = (
    "The file is an animated WebP, which cannot be read yet: save it as a GIF or a video first."
)


# What the MP4 demuxer reports for a sample whose data lies past the end of the file.
PARTIAL_FILE = ": partial file"
# What the Matroska (and WebM) demuxer reports when the file stops inside an element: a download
# or copy cut short, or a recording that was never finished. The frames before it convert.
ENDED_EARLY = "File ended prematurely"
CUT_SHORT = (
    "The file is cut short: it ends part-way through the video its index describes (was the "
    "download or copy complete?)."
)
UNKNOWN_SIZE = (
    "The video's pictures cannot be read, not even their size (a scrambled broadcast, or a "
    "file damaged from the start)."
)
# An MP4 or MOV without its index: cameras and phones write it last, so a recording that was
# never finished (the camera stopped, its battery died) or a copy of one cut short holds its
# pictures and no way to find them.
INDEX_MISSING = (
    "The file has no index (an MP4 or MOV's moov), as a recording that was never finished or "
    "a download cut short has none; a repair tool given a good file from the same camera "
    "(untrunc) can often rebuild it."
)


def run_ffprobe(path: Path, *args: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> dict:
    """ffprobe's JSON for ``path``; raises InputRejected when ffprobe cannot read it."""
    return _ffprobe(path, *args, timeout=timeout)[0]


def _ffprobe(path: Path, *args: str, timeout: float) -> tuple[dict, str]:
    """ffprobe's JSON for ``path`` and what it reported on the way (its stderr)."""
    # The absolute path: a relative name starting with "-" would be read as an option.
    command = ["ffprobe", "-v", "error", *SAFE_INPUT_ARGS, *args, "-of", "json"]
    command.append(os.path.abspath(path))
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise InputRejected("Reading the file took too long; it may be damaged.") from None
    if result.returncode != 0:
        raise InputRejected(UNREADABLE)
    if PARTIAL_FILE in result.stderr:
        # An MP4 whose index comes first but whose data stops early (a download or copy cut
        # short): its last frames would not decode, and the join would fail after all the work.
        raise InputRejected(CUT_SHORT)
    return json.loads(result.stdout or "{}"), result.stderr


@dataclass(frozen=True)
class VideoPacket:
    time: float | None  # presentation time in seconds
    keyframe: bool
    # False for a picture the file holds but does not show: an MP4 whose edit list starts
    # after its first keyframe (a clip trimmed without re-encoding, by ffmpeg's -ss with -c
    # copy, LosslessCut or QuickTime) keeps the GOP before its start, to decode from.
    shown: bool = True
    decode_time: float | None = None  # seconds, as ``time``


def video_packets(path: Path, stream_number: int = 0) -> list[VideoPacket]:
    """Each packet of video stream ``stream_number`` (the first unless told), in file order:
    demuxed, not decoded (what ``ffprobe -show_packets`` reads)."""
    try:
        with av.open(str(path), options=SAFE_AV_OPTIONS) as container:
            if len(container.streams.video) <= stream_number:
                return []
            stream = container.streams.video[stream_number]
            base = stream.time_base
            return [
                VideoPacket(
                    None if packet.pts is None else float(packet.pts * base),
                    packet.is_keyframe,
                    not packet.is_discard,
                    None if packet.dts is None else float(packet.dts * base),
                )
                for packet in container.demux(stream)
                if packet.size  # PyAV ends with an empty packet that only flushes decoders
            ]
    except av.FFmpegError:
        raise InputRejected(UNREADABLE) from None


def probe_source(path: Path, settings: Settings) -> SourceInfo:
    """Describe a source video, or raise InputRejected saying why it cannot be converted."""
    path = Path(path)
    if not path.is_file():
        raise InputRejected(f"The file {path.name} does not exist.")
    if path.stat().st_size == 0:
        raise InputRejected("The file is empty (0 bytes).")
    try:
        data, report = _ffprobe(
            path,
            "-count_packets",
            "-show_entries",
            "format=format_name,duration:stream=index,codec_type,codec_name,width,height,"
            "avg_frame_rate,r_frame_rate,nb_read_packets,duration,start_time,field_order,"
            "color_transfer,pix_fmt"
            ":stream_disposition=attached_pic,default"
            ":stream_side_data=rotation",
            timeout=PROBE_TIMEOUT_SECONDS,
        )
    except InputRejected:
        _refuse_what_is_not_a_video(path)
        raise
    streams = data.get("streams", [])
    every_video = [s for s in streams if s.get("codec_type") == "video"]
    videos = [s for s in every_video if not s.get("disposition", {}).get("attached_pic")]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    if not videos:
        _refuse_what_is_not_a_video(path)
        if audios:
            raise InputRejected(ONLY_AUDIO)
        raise InputRejected("The file has no video stream.")
    # The stream a player shows: the one marked default (Matroska marks every track default
    # unless told otherwise, so a file that says nothing keeps its first).
    video = next((s for s in videos if s.get("disposition", {}).get("default")), videos[0])
    frames = int(video.get("nb_read_packets") or 0)
    if frames <= 1:
        # One picture: a video of one frame converts, a picture file (an AVIF or HEIC photo read
        # as a one-frame track, a GIF that does not move) is refused as what it is.
        kind = STILL_IMAGE_CODECS.get(str(video.get("codec_name"))) or _still_picture(path)
        if kind:
            raise StillPicture(STILL_PICTURE.format(kind=kind))
    if frames < 1:
        raise InputRejected("The video stream holds no frames.")
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    rotation = _rotation(video)
    if rotation % 180:
        # A phone video stored sideways with a display matrix: it is converted upright, so the
        # limits and the reported size are those of the picture as it is shown.
        width, height = height, width
    if not width or not height:
        # ffprobe found the stream and could not read one picture of it.
        raise InputRejected(UNKNOWN_SIZE)
    if width < 16 or height < 16:
        raise InputRejected(f"The video is too small ({width}x{height}); 16x16 is the least.")
    if width > settings.max_width or height > settings.max_height:
        raise InputRejected(
            f"The video is {width}x{height}, larger than the limit of "
            f"{settings.max_width}x{settings.max_height}."
        )
    fps = _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
    stated = _float(video.get("duration")) or _float(data.get("format", {}).get("duration"))
    duration = stated
    start = _float(video.get("start_time"))
    if not _float(video.get("duration")) and start > 0:
        # Matroska and NUT give no stream durations, and ffmpeg writes their container's as
        # where the last timestamp ends, counted from 0: a 6 s MKV whose timestamps start at
        # 10 s (a TV recording remuxed with -copyts) "lasted" 16 s, and at 30000 s, 500
        # minutes. What the video shows is measured instead, from its end to its start, as
        # MPEG-TS's durations are (mkvmerge writes the span itself: measured, it agrees).
        end = _last_picture_end(path, every_video.index(video), start + duration, fps)
        if end is not None and end > start:
            duration = end - start
    if fps > 0 and abs(duration - frames / fps) > 1 and timestamps_jump(path):
        # As long as the ffmpeg command line (and a player) reads it, not from its first raw
        # time to its last (only looked for where the two disagree: it reads the whole file).
        duration = _continuous_seconds(path, every_video.index(video), fps)
    stated_duration = None
    if ENDED_EARLY in report and fps > 0 and frames / fps < stated - 1 / fps:
        # The header's duration is the whole video's; the frames present last this long.
        stated_duration, duration = stated, frames / fps
    if duration <= 0 and fps > 0:
        duration = frames / fps
    if fps <= 0 and duration > 0:
        fps = frames / duration
    if duration > settings.max_duration_seconds:
        # As clocks, not whole minutes: 4:00:20 over a 4-hour limit read "240 ... of 240".
        raise InputRejected(
            f"The video lasts {clock(duration)}, longer than the limit of "
            f"{clock(settings.max_duration_seconds)}."
        )
    return SourceInfo(
        width=width,
        height=height,
        frames=frames,
        duration=duration,
        fps=fps,
        video_codec=str(video.get("codec_name", "")),
        audio_codec=str(audios[0].get("codec_name")) if audios else None,
        audio_codecs=[str(audio.get("codec_name")) for audio in audios],
        picture_subtitles=picture_subtitles(streams),
        container=str(data.get("format", {}).get("format_name", "")),
        rotation=rotation,
        interlaced=_stored_as_fields(path, video, every_video.index(video)),
        hdr=video.get("color_transfer") in HDR_TRANSFERS,
        alpha=_has_alpha(video.get("pix_fmt")),
        video_streams=len(videos),
        video_stream=every_video.index(video),
        chosen_as_default=video is not videos[0],
        stated_duration=stated_duration,
    )


def _has_alpha(pix_fmt: object) -> bool:
    """Whether pictures of the pixel format ffprobe names ``pix_fmt`` carry transparency (ProRes
    4444's yuva444p12le, a PNG's rgba, gbrap, ya8...): its descriptor says so, not its name."""
    try:
        return any(c.is_alpha for c in av.VideoFormat(str(pix_fmt)).components)
    except ValueError:  # none given, or one this FFmpeg does not know
        return False


def _last_picture_end(path: Path, stream_number: int, after: float, fps: float) -> float | None:
    """When the last picture of video stream ``stream_number`` stops being shown (its time plus
    its duration), read from the keyframe before ``after`` s (the file's end or later) to the
    file's end; None when it cannot be read so."""
    try:
        with av.open(str(path), options=SAFE_AV_OPTIONS) as container:
            stream = container.streams.video[stream_number]
            base, frame = stream.time_base, (1 / fps if fps > 0 else 0.0)
            container.seek(int(after / base), backward=True, stream=stream)
            ends = [
                float((packet.pts + packet.duration) * base)
                if packet.duration
                else float(packet.pts * base) + frame
                for packet in container.demux(stream)
                if packet.size and packet.pts is not None
            ]
    except (av.FFmpegError, IndexError):
        return None
    return max(ends) if ends else None


def _still_picture(path: Path) -> str | None:
    """What kind of picture file ``path`` is (JPEG, PNG, HEIC...), told by how it begins, or
    None when it is not one we know."""
    with open(path, "rb") as file:
        return _picture_kind(file.read(16))


def _picture_kind(head: bytes) -> str | None:
    return _kind(head, PICTURE_SIGNATURES)


def _audio_kind(head: bytes) -> str | None:
    if (kind := _kind(head, AUDIO_SIGNATURES)) is not None:
        return kind
    # Untagged: the first frame's header, its reserved values ruled out so that data that merely
    # starts with 0xFF is not taken for sound. AAC's ADTS: 12 sync bits, layer 00, a sampling
    # rate index up to 12. MPEG audio: 11 sync bits, a version and a layer that exist, a bitrate
    # index other than 15 and a sampling rate index other than 3; its layer names it.
    if len(head) < 3 or head[0] != 0xFF:
        return None
    if head[1] & 0xF6 == 0xF0 and (head[2] >> 2) & 0x0F <= 12:
        return "AAC"
    version, layer = (head[1] >> 3) & 0x03, (head[1] >> 1) & 0x03
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0x03
    if head[1] & 0xE0 == 0xE0 and version != 1 and layer and bitrate != 0x0F and rate != 3:
        return {1: "MP3", 2: "MP2", 3: "MP1"}[layer]
    return None


def _kind(head: bytes, signatures: tuple) -> str | None:
    for kind, marks in signatures:
        if all(head[offset : offset + len(mark)] == mark for offset, mark in marks):
            return kind
    return None


def _refuse_what_is_not_a_video(path: Path) -> None:
    """Say so when ``path`` is a picture, a sound file or a disc image rather than a video."""
    with open(path, "rb") as file:
        head = file.read(21)
        # A DVD or Blu-ray image: after 32 KiB of system area, the first volume descriptor
        # names its standard (ISO 9660's CD001, UDF's BEA01).
        file.seek(32769)
        disc = file.read(5) in (b"CD001", b"BEA01")
    kind = _picture_kind(head)
    # An animated WebP's extended header (VP8X) says so in a flag.
    if kind == "WebP" and head[12:16] == b"VP8X" and len(head) == 21 and head[20] & 0x02:
        raise InputRejected(ANIMATED_WEBP) from None
    if kind:
        raise StillPicture(STILL_PICTURE.format(kind=kind)) from None
    if sound := _audio_kind(head):
        raise InputRejected(ONLY_AUDIO_OF_KIND.format(kind=sound)) from None
    if disc:
        raise InputRejected(DISC_IMAGE) from None
    if _mp4_without_index(path):
        raise InputRejected(INDEX_MISSING) from None


# The boxes an MP4 or MOV file may open with (old QuickTime files have no ftyp).
MP4_FIRST_BOXES = (b"ftyp", b"wide", b"free", b"skip", b"mdat")


def _mp4_without_index(path: Path) -> bool:
    """Whether ``path`` is an MP4 or MOV whose top-level boxes hold no index (moov); read box
    header by box header, not through the data."""
    kinds = []
    with open(path, "rb") as file:
        end, position = os.fstat(file.fileno()).st_size, 0
        while position + 8 <= end:
            file.seek(position)
            header = file.read(16)
            size, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if size == 1 and len(header) == 16:
                size = int.from_bytes(header[8:16], "big")  # a 64-bit size follows the type
            elif size == 0:
                size = end - position  # to the end of the file
            if size < 8 or not kind.isascii() or not kind.isalnum():
                break  # not a box: this is no MP4, or it is damaged past here
            kinds.append(kind)
            position += size
    return bool(kinds) and kinds[0] in MP4_FIRST_BOXES and b"moov" not in kinds


def _stored_as_fields(path: Path, stream: dict, stream_number: int) -> bool:
    """Whether the pictures of video stream ``stream_number`` are coded as interlaced fields."""
    order = stream.get("field_order")
    if order in INTERLACED_FIELD_ORDERS:
        return True
    if order == "progressive":
        return False
    # Some demuxers leave the field order unsaid where the codec says it in each frame: DV
    # tapes are interlaced, and ffprobe calls their field order "unknown". Ask the first frame.
    try:
        with av.open(str(path), options=SAFE_AV_OPTIONS) as container:
            frame = next(container.decode(container.streams.video[stream_number]), None)
    except (av.FFmpegError, IndexError):
        return False  # the split decodes it again and says what is wrong
    return bool(frame is not None and frame.interlaced_frame)


def count_video_frames(path: Path) -> int:
    """Frames the first video stream shows (packets; one per frame for the codecs we write)."""
    return sum(packet.shown for packet in video_packets(path))


def starting_size(path: Path) -> tuple[int, int]:
    """Width and height of the first video stream's first picture (what its opening says; a
    stream may change size later)."""
    try:
        with av.open(str(path), options=SAFE_AV_OPTIONS) as container:
            codec = container.streams.video[0].codec_context
            return codec.width, codec.height
    except (av.FFmpegError, IndexError):
        raise InputRejected(UNREADABLE) from None


@dataclass(frozen=True)
class FirstPicture:
    """Where the first picture a decoder gives lies against the stream's start."""

    delay: float  # seconds after the stream's first picture (0: it is the first)
    skipped: int  # pictures before it that do not decode


def first_decodable(path: Path, stream_number: int = 0) -> FirstPicture:
    """The first picture video stream ``stream_number`` decodes to, against the stream's start
    as the join reads it (ffprobe's ``start_time``). A TV recording starts wherever the tuner
    did, part-way through a group of pictures: the pictures before its first keyframe refer to
    one before the recording began, and decode to nothing. (0, 0) where it cannot tell."""
    sent: list[int] = []
    try:
        with av.open(str(path), options=SAFE_AV_OPTIONS) as container:
            stream = container.streams.video[stream_number]
            for packet in container.demux(stream):
                if packet.size and packet.pts is not None and not packet.is_discard:
                    sent.append(packet.pts)
                try:
                    pictures = packet.decode()
                except av.error.InvalidDataError:
                    continue
                for picture in pictures:
                    if picture.pts is None or stream.start_time is None:
                        return FirstPicture(0.0, 0)
                    delay = float((picture.pts - stream.start_time) * stream.time_base)
                    return FirstPicture(max(0.0, delay), sum(pts < picture.pts for pts in sent))
    except av.FFmpegError:
        pass  # the split has read it whole already; this only places its first picture
    return FirstPicture(0.0, 0)


def video_frame_times(path: Path, stream_number: int = 0) -> list[float]:
    """Presentation times of every frame of video stream ``stream_number``, in order; [] if any
    has none."""
    times = [p.time for p in video_packets(path, stream_number) if p.shown]
    known = [time for time in times if time is not None]
    return sorted(known) if len(known) == len(times) else []


# The formats whose timestamps may jump (ffmpeg's AVFMT_TS_DISCONT demuxers, PyAV's names): a TV
# recording whose clock was reset, camcorder .MTS pieces joined with cat. The ffmpeg command
# line reads across a jump as if there were none: a step of a picture's or a sound's decode
# time of more than 10 s forward (its -dts_delta_threshold) or 0.1 s back moves every later
# time of the file by the step. PyAV, in this process, gives the raw times: a 24 s recording
# from two pieces 100 s apart "lasted" 112 s, and its pictures were joined 88 s apart.
DISCONTINUOUS_FORMATS = ("mpegts", "mpeg", "ogg")
DTS_DELTA_THRESHOLD = 10.0
DTS_BACKWARD_STEP = 0.1


def timestamps_jump(path: Path) -> str | None:
    """The format (PyAV's name) of ``path`` when the decode times of its pictures or sounds
    jump where the ffmpeg command line reads across (:data:`DISCONTINUOUS_FORMATS`); None when
    they do not, or it cannot tell. Demuxed only; stops at the first jump."""
    try:
        with av.open(str(path), options=SAFE_AV_OPTIONS) as container:
            name = container.format.name
            if name not in DISCONTINUOUS_FORMATS:
                return None
            last: dict[int, float] = {}
            streams = [*container.streams.video, *container.streams.audio]
            for packet in container.demux(streams):
                if packet.dts is None or not packet.size:
                    continue
                time = float(packet.dts * packet.time_base)
                before = last.get(packet.stream.index, time)
                if not -DTS_BACKWARD_STEP <= time - before <= DTS_DELTA_THRESHOLD:
                    return name
                last[packet.stream.index] = time
    except av.FFmpegError:
        pass
    return None


def _continuous_seconds(path: Path, stream_number: int, fps: float) -> float:
    """How long video stream ``stream_number`` of ``path`` lasts read as the ffmpeg command line
    reads it across jumps of its timestamps (:func:`timestamps_jump`): the sum of how long each
    run between jumps lasts."""
    frame = 1 / fps if fps > 0 else 0.0
    total, run, decoded = 0.0, [], None
    for packet in video_packets(path, stream_number):
        step = None
        if packet.decode_time is not None and decoded is not None:
            step = packet.decode_time - decoded
        if step is not None and not -DTS_BACKWARD_STEP <= step <= DTS_DELTA_THRESHOLD and run:
            total += max(run) - min(run) + frame
            run = []
        decoded = packet.decode_time if packet.decode_time is not None else decoded
        if packet.time is not None and packet.shown:
            run.append(packet.time)
    if run:
        total += max(run) - min(run) + frame
    return total


def _rotation(stream: dict) -> int:
    for side_data in stream.get("side_data_list") or []:
        if "rotation" in side_data:
            return round(_float(side_data["rotation"])) % 360
    return 0


@dataclass(frozen=True)
class Keyframes:
    """Where the video stream can be cut by stream copy."""

    times: list[float]  # presentation times of the keyframes shown, in order
    # Pictures that follow a keyframe in the file but are shown before it: the leading pictures
    # of an open GOP (x265's default, x264's open-gop), which refer to the GOP before. A decoder
    # that starts at that keyframe, as it does in a segment cut there, drops them.
    open_gop: bool
    # Pictures held but not shown (an edit list's trim, ``VideoPacket.shown``), which a cut by
    # stream copy would show.
    hidden: int = 0
    # When the first picture shown is shown (None: none is timed).
    start: float | None = None
    # For each keyframe of ``times``: how many pictures are shown before it, and a decode time
    # between its packet's and the one before it in the file (None for the first, or untimed),
    # at which a cut by stream copy ends just before it (ffmpeg stops a copy by decode times).
    shown_before: tuple[int, ...] = ()
    ends_before: tuple[float | None, ...] = ()


def scan_keyframes(path: Path, stream_number: int = 0) -> Keyframes:
    """The keyframes of video stream ``stream_number``, whether their GOPs are open and how
    many pictures it hides (demuxing only, no decoding)."""
    found: list[tuple[float, int, float | None]] = []
    open_gop, later_keyframe, hidden, shown = False, None, 0, 0
    first: float | None = None
    decoded: float | None = None  # the decode time of the packet before
    for packet in video_packets(path, stream_number):
        hidden += not packet.shown
        before, decoded = decoded, packet.decode_time
        if packet.time is None or not packet.shown:
            continue
        first = packet.time if first is None else min(first, packet.time)
        if packet.keyframe:
            later_keyframe = packet.time if found else None  # the first has no GOP before it
            between = None
            if before is not None and decoded is not None:
                between = (before + decoded) / 2
            found.append((packet.time, shown, between))
        elif later_keyframe is not None and packet.time < later_keyframe:
            open_gop = True
        shown += 1
    found.sort()
    return Keyframes(
        [time for time, _, _ in found],
        open_gop,
        hidden,
        first,
        tuple(number for _, number, _ in found),
        tuple(end for _, _, end in found),
    )


def timeline_start(path: Path) -> float:
    """Where the file's timeline starts: its earliest track's start (ffprobe's format
    ``start_time``), from which ffmpeg's input ``-ss`` counts; 0 where it gives none."""
    data = run_ffprobe(path, "-show_entries", "format=start_time")
    return _float(data.get("format", {}).get("start_time"))


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
