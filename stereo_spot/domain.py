"""Domain models: jobs, their status machine, layouts and stereo strength.

Pure pydantic, no I/O: every deployable (CLI, pipeline components, model server, portal) exchanges
these shapes, and the job stores persist them.
"""

from __future__ import annotations

import math
import secrets
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    import numpy as np


class Layout(StrEnum):
    """How the two eyes are packed into one frame."""

    ANAGLYPH = "anaglyph"
    SBS = "sbs"
    HALF_SBS = "half-sbs"
    TAB = "tab"
    HALF_TAB = "half-tab"

    @property
    def filename_tag(self) -> str:
        """Suffix players look for in a file name to switch to 3D playback."""
        return {
            Layout.ANAGLYPH: "_redcyan",
            Layout.SBS: "_LR",
            Layout.HALF_SBS: "_3dh_LR",
            Layout.TAB: "_TB",
            Layout.HALF_TAB: "_3dh_TB",
        }[self]

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """Frame size of the packed output for a ``width`` x ``height`` source."""
        if self is Layout.SBS:
            return 2 * width, height
        if self is Layout.TAB:
            return width, 2 * height
        return width, height


class AnaglyphMode(StrEnum):
    """How an anaglyph mixes the two eyes, and for which glasses: red-cyan (red over the left
    eye) in four ways, or Dubois' matrices for green-magenta glasses (green over the left eye,
    as TrioScopics) and for amber-blue ones (amber over the left eye, as ColorCode 3-D)."""

    DUBOIS = "dubois"
    COLOR = "color"
    HALF_COLOR = "half-color"
    GRAY = "gray"
    GREEN_MAGENTA = "green-magenta"
    AMBER_BLUE = "amber-blue"

    @property
    def glasses(self) -> str:
        """The glasses an anaglyph is for: "red-cyan", "green-magenta" or "amber-blue"."""
        if self in (AnaglyphMode.GREEN_MAGENTA, AnaglyphMode.AMBER_BLUE):
            return self.value
        return "red-cyan"

    @property
    def filename_tag(self) -> str:
        """The glasses an anaglyph is for, as its file name says them."""
        return "_" + self.glasses.replace("-", "")


# Dubois' least-squares anaglyph matrices for linear-light RGB (E. Dubois, "A projection method
# to generate anaglyph stereo images", ICASSP 2001; the three sets from his site), by the
# anaglyph mode that uses them: (left eye's, right eye's), each row an output channel (R, G, B),
# each column an input one. Here, as plain numbers, for the engines' kernels and the portal's
# in-browser view alike.
DUBOIS_MIXES = {
    # Red over the left eye, cyan over the right.
    AnaglyphMode.DUBOIS: (
        ((0.437, 0.449, 0.164), (-0.062, -0.062, -0.024), (-0.048, -0.050, -0.017)),
        ((-0.011, -0.032, -0.007), (0.377, 0.761, 0.009), (-0.026, -0.093, 1.234)),
    ),
    # Green over the left eye, magenta over the right.
    AnaglyphMode.GREEN_MAGENTA: (
        ((-0.062, -0.158, -0.039), (0.284, 0.668, 0.143), (-0.015, -0.027, 0.021)),
        ((0.529, 0.705, 0.024), (-0.016, -0.015, -0.065), (0.009, 0.075, 0.937)),
    ),
    # Amber over the left eye, blue over the right.
    AnaglyphMode.AMBER_BLUE: (
        ((1.062, -0.205, 0.299), (-0.026, 0.908, 0.068), (-0.038, -0.173, 0.022)),
        ((-0.016, -0.123, -0.017), (0.006, 0.062, -0.017), (0.094, 0.185, 0.911)),
    ),
}


def result_tag(layout: Layout | str, anaglyph_mode: AnaglyphMode | str = "dubois") -> str:
    """The suffix of a result's file name that players look for: the layout's, and for an
    anaglyph the glasses it is made for."""
    layout = Layout(layout)
    if layout is Layout.ANAGLYPH:
        return AnaglyphMode(anaglyph_mode).filename_tag
    return layout.filename_tag


class VideoCodec(StrEnum):
    """The result's video codec: H.264 plays everywhere; HEVC is somewhat smaller, and headsets
    decode it at sizes few H.264 decoders take (full side by side of a 4K video)."""

    H264 = "h264"
    HEVC = "hevc"


# What each codec is for, in the words the CLI's help, the API's schema and the portal's form
# all use (short: the form shows them in its list).
CODEC_NOTES = {
    VideoCodec.H264: "plays everywhere",
    VideoCodec.HEVC: "for headsets and TVs, somewhat smaller, slower to encode; "
    "some browsers cannot play it",
}


# The constant rate factor a codec gets unless one is asked for. x264 at 18 is close to
# transparent; x265 at 20 measured the same luma SSIM within 0.001 at 0.84 of x264's size
# (benchmarks/codec_tradeoff.py).
DEFAULT_CRF = {VideoCodec.H264: 18, VideoCodec.HEVC: 20}
# x264's and x265's presets, fastest first; slower ones make smaller files at the same crf.
EncoderPreset = Literal[
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
]
ENCODER_PRESETS: tuple[str, ...] = get_args(EncoderPreset)


# How much a preview converts (``convert --preview``, the portal's "Preview only"), from the
# middle of the video.
PREVIEW_SECONDS = 5.0

# The stereo engines a job may name (inference_service/engines builds them); the learned ones
# need weights (docs/MODELS.md).
EngineName = Literal["classical", "depth-anything", "stereocrafter"]
ENGINE_NAMES: tuple[str, ...] = get_args(EngineName)
LEARNED_ENGINES: tuple[str, ...] = tuple(name for name in ENGINE_NAMES if name != "classical")


# What :func:`parse_time` reads, as an HTML input's pattern: the portal's browser checks a time
# before a file is uploaded.
TIME_PATTERN = r"\s*(\d+(\.\d*)?|\.\d+|\d+(:[0-5]?\d){1,2}(\.\d*)?)\s*"


def parse_time(text: str) -> float:
    """A time in a video as people write it: seconds (``90``, ``90.5``) or a clock
    (``1:30``, ``01:02:03.5``). Raises ValueError with what was wrong."""
    fields = text.strip().split(":")
    try:
        numbers = [float(field) for field in fields]
        if len(fields) > 3 or not all(math.isfinite(number) for number in numbers):
            raise ValueError
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: give seconds (90.5) or a clock ([HH:]MM:SS[.fff])"
        ) from None
    if any(number < 0 for number in numbers):
        raise ValueError(f"{text!r} is not a time: it must be 0 or more")
    *larger, _ = numbers
    if any(number != int(number) for number in larger) or any(n >= 60 for n in numbers[1:]):
        raise ValueError(
            f"{text!r} is not a clock: minutes and seconds run from 0 to 59, and only the "
            "seconds may have a fraction"
        )
    seconds = 0.0
    for number in numbers:
        seconds = seconds * 60 + number
    return seconds


def not_a_boolean(value: Any) -> Any:
    """Refuse ``True``/``False`` where a number is meant (a validator's helper, here and in the
    portal's requests): pydantic reads them as 1 and 0 (a script's ``"crf": true`` would make
    a near-lossless, huge video)."""
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "Input should be a number, not true or false")
    return value


def _clock_tag(seconds: float) -> str:
    """``1h02m03s``, ``0m30s``, ``0m30.5s``: a time for a file name (no colons, which Windows
    refuses)."""
    hours, minutes, second = _clock_fields(seconds)
    return (f"{hours}h{minutes:02d}m" if hours else f"{minutes}m") + f"{second}s"


def _clock_fields(seconds: float) -> tuple[int, int, str]:
    """Hours, minutes, and the seconds written out (``05``, ``05.25``), to the millisecond."""
    whole, fraction = divmod(round(seconds, 3), 1)
    hours, rest = divmod(int(whole), 3600)
    minutes, secs = divmod(rest, 60)
    return hours, minutes, f"{secs:02d}" + (f"{fraction:.3f}".rstrip("0")[1:] if fraction else "")


def clock(seconds: float) -> str:
    """``1:30``, ``1:02:03.5``: a time in a video as players show it."""
    hours, minutes, second = _clock_fields(seconds)
    return f"{hours}:{minutes:02d}:{second}" if hours else f"{minutes}:{second}"


class Part(BaseModel):
    """The part of a video to convert (``convert --start/--end``): from ``start`` seconds to
    ``end`` (None: the video's end), frame-exact."""

    model_config = ConfigDict(frozen=True)

    start: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    end: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _numbers(cls, value: Any) -> Any:
        return not_a_boolean(value)

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> Part:
        if self.end is not None and self.end <= self.start:
            raise ValueError(
                f"the end ({self.end:g} s) must come after the start ({self.start:g} s)"
            )
        return self

    @property
    def label(self) -> str:
        """``from 0:30 to 1:00``, ``from 1:30 to the end``."""
        end = "the end" if self.end is None else clock(self.end)
        return f"from {clock(self.start)} to {end}"

    def in_video_of(self, duration: float) -> Part:
        """This part of a video ``duration`` seconds long: an end at or past the video's end is
        its end (converted so), and named and labelled so, not after the time asked for."""
        if self.end is None or self.end < duration:
            return self
        return Part(start=self.start)

    @property
    def filename_tag(self) -> str:
        """What a result's name says of the part: ``_0m30s-1m00s``, ``_1m30s-end``."""
        end = "end" if self.end is None else _clock_tag(self.end)
        return f"_{_clock_tag(self.start)}-{end}"


class JobStatus(StrEnum):
    CREATED = "created"
    UPLOADED = "uploaded"
    QUEUED = "queued"
    CHUNKING = "chunking"
    PROCESSING = "processing"
    REASSEMBLING = "reassembling"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED)


# The forward path; FAILED is reachable from every non-final state.
STATUS_ORDER: tuple[JobStatus, ...] = (
    JobStatus.CREATED,
    JobStatus.UPLOADED,
    JobStatus.QUEUED,
    JobStatus.CHUNKING,
    JobStatus.PROCESSING,
    JobStatus.REASSEMBLING,
    JobStatus.COMPLETED,
)


def can_transition(current: JobStatus, new: JobStatus) -> bool:
    """Status only moves forward; a final state never changes.

    Skipping ahead is allowed (a re-run may jump from ``queued`` to ``processing``), staying in
    the same non-final state is allowed (idempotent re-runs), moving back never is.
    """
    if current.is_final:
        return False
    if new is JobStatus.FAILED:
        return True
    return STATUS_ORDER.index(new) >= STATUS_ORDER.index(current)


# The picture heights a result may be limited to: from 144p video to 8K.
MIN_HEIGHT, MAX_HEIGHT = 144, 4320
# The picture heights the portal offers to limit a result to.
OUTPUT_HEIGHTS = (2160, 1440, 1080, 720)


def scaled_size(width: int, height: int, max_height: int | None) -> tuple[int, int]:
    """A ``width`` x ``height`` picture's size once no taller than ``max_height``: the same
    shape, both sides even (4:2:0 needs them so); as it is when it is not taller."""
    if not max_height or height <= max_height:
        return width, height
    new_height = max_height - max_height % 2
    new_width = max(2, round(width * new_height / height / 2) * 2)
    return new_width, new_height


class StereoParams(BaseModel):
    """Stereo strength and rendering options, shared by every engine.

    ``divergence`` is the largest parallax in percent of the frame width; ``convergence`` is the
    normalised depth (0 = farthest, 1 = nearest) that sits on the screen plane. Disparity in pixels
    is ``divergence / 100 * width * (depth - convergence)``; positive disparity is crossed (in front
    of the screen). The defaults spend the ~3 % broadcast comfort budget as it recommends: about
    1 % in front of the screen (the nearest depth) and 2 % behind it (the farthest).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    divergence: float = Field(default=3.0, ge=0.0, le=10.0, allow_inf_nan=False)
    convergence: float = Field(default=0.65, ge=0.0, le=1.0, allow_inf_nan=False)
    anaglyph_mode: AnaglyphMode = AnaglyphMode.DUBOIS
    edges_at_screen: bool = False
    # Chroma subsampling of the encoded output: "420" plays everywhere; "444" keeps full colour
    # resolution, which red-cyan anaglyphs need to avoid ghosting (DESIGN.md, Stereo engine notes).
    chroma: Literal["420", "444"] = "420"
    # How the result is encoded. Every segment of a job is encoded alike (the join copies them),
    # so these are the job's, not the engine's. crf: lower is better and larger; when not
    # given, the codec's own default (DEFAULT_CRF). veryfast: the speed figures' preset.
    codec: VideoCodec = VideoCodec.H264
    crf: int = Field(default=DEFAULT_CRF[VideoCodec.H264], ge=1, le=51)
    preset: EncoderPreset = "veryfast"
    # The tallest picture the result may have, each eye's before packing: a taller source is
    # scaled down to it (a 4K phone video for a 1080p 3D TV, whose full side by side would
    # otherwise be 7680 x 2160), keeping its shape; never up. None: the source's size.
    max_height: int | None = Field(default=None, ge=MIN_HEIGHT, le=MAX_HEIGHT)

    def disparity(self, depth: float | np.ndarray, width: int) -> float | np.ndarray:
        """Disparity in pixels, in a picture ``width`` wide, of what lies at ``depth`` (0 =
        farthest, 1 = nearest): for one depth, or a float32 depth map (kept float32). The one
        place the formula above is written: the engines' maps and the 3D subtitles' depth agree."""
        return (depth - self.convergence) * (self.divergence / 100 * width)

    @field_validator("divergence", "convergence", "crf", "max_height", mode="before")
    @classmethod
    def _numbers(cls, value: Any) -> Any:
        return not_a_boolean(value)

    @model_validator(mode="before")
    @classmethod
    def _codec_default_crf(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("crf") is None:
            codec = data.get("codec", VideoCodec.H264)
            if codec in DEFAULT_CRF:
                data = {**data, "crf": DEFAULT_CRF[VideoCodec(codec)]}
        return data


# How the run ids a launcher on this machine gives begin (the portal's queue of local runs);
# a Kubeflow run's id is a UUID.
LOCAL_RUN_PREFIX = "local-"


def new_job_id() -> str:
    """An unguessable, URL-safe id (192 random bits) that does not start with ``-``.

    One id in 64 would otherwise start with ``-``, and command lines (``python -m pipelines JOB``,
    ``stereo-spot jobs retry JOB``) would read it as an option.
    """
    while True:
        job_id = secrets.token_urlsafe(24)
        if not job_id.startswith("-"):
            return job_id


def utc_now() -> datetime:
    return datetime.now(UTC)


class SourceInfo(BaseModel):
    """What probing the uploaded source found."""

    model_config = ConfigDict(extra="ignore")

    width: int
    height: int
    frames: int
    duration: float
    fps: float
    video_codec: str
    audio_codec: str | None = None  # the first audio track's
    audio_codecs: list[str] = Field(default_factory=list)  # every audio track's, in order
    container: str = ""
    # How the picture is stored: the degrees its display matrix turns it when shown (width and
    # height above are as shown), and whether it is coded as interlaced fields.
    rotation: int = 0
    interlaced: bool = False
    # High dynamic range (PQ or HLG transfer): tone-mapped to SDR before conversion.
    hdr: bool = False
    # Whether its pictures carry transparency (ProRes 4444, PNG, QuickTime Animation): the
    # encoders the result is made with hold none, so it is left out.
    alpha: bool = False
    # Video streams besides cover art. One is converted, the one marked default (else the
    # first); the others are left out, and the CLI and the job page say so.
    video_streams: int = 1
    # Which video stream is converted, counted as ffmpeg's ``0:v:N`` and PyAV's
    # ``streams.video[N]`` count them (cover art included).
    video_stream: int = 0
    # Whether it was chosen for its default mark over a stream before it.
    chosen_as_default: bool = False
    # The duration the file's header gives when the file stops before it (a download cut
    # short); ``duration`` is then that of the frames present, which are what is converted.
    stated_duration: float | None = None
    # The codecs of its picture subtitle tracks (DVD, Blu-ray PGS, DVB), which an MP4 cannot hold.
    picture_subtitles: list[str] = Field(default_factory=list)
    # Seconds at the start of the video stream whose pictures do not decode (a TV recording
    # begun part-way through a group of pictures), found by the split: the converted picture
    # starts that much later, the sound where it did.
    first_picture_delay: float = 0.0

    @property
    def left_out(self) -> str | None:
        """The sentences telling what of the source the result leaves out, if anything."""
        notes = []
        if self.stated_duration:
            notes.append(
                f"The file ends early: it stops at {self.duration:.1f} s of the "
                f"{self.stated_duration:.1f} s its header gives (was the download or copy "
                "complete?); what is there is converted."
            )
        others = self.video_streams - 1
        if others > 0:
            rest = "the other" if others == 1 else f"the other {others}"
            which = "the one marked default" if self.chosen_as_default else "the first"
            notes.append(
                f"The file has {self.video_streams} video streams: {which} "
                f"({self.width}x{self.height}) is converted and {rest} left out."
            )
        if self.picture_subtitles:
            one = len(self.picture_subtitles) == 1
            notes.append(
                f"The file's {len(self.picture_subtitles)} picture subtitle "
                f"{'track' if one else 'tracks'} ({', '.join(self.picture_subtitles)}) cannot go "
                f"into an MP4 and {'is' if one else 'are'} left out of it; an .mkv result keeps "
                f"{'it' if one else 'them'}."
            )
        if self.alpha:
            notes.append(
                "The file's transparency (alpha) is left out: a 3D result is opaque, and its "
                "transparent parts show the colour stored under them (often black)."
            )
        if any(codec.startswith("pcm_") for codec in self.audio_codecs):
            # An MP4 holds no PCM: a recorder's lossless sound is encoded to AAC, lossy.
            packed = any(codec in ("pcm_bluray", "pcm_dvd") for codec in self.audio_codecs)
            notes.append(
                "The file's PCM sound becomes AAC in an MP4"
                + ("." if packed else "; a .mov or .mkv result keeps it as it is.")
            )
        return " ".join(notes) or None


class SubtitleTrack(BaseModel):
    """A text track of a result, also stored as WebVTT for the portal's player: browsers show
    an MP4's own text tracks nowhere, only the WebVTT a page hands them."""

    label: str  # what a player's menu lists: the track's name, or its language
    language: str | None = None  # as the MP4 holds it (ISO 639-2, "eng"); None when unsaid
    captions: bool = False  # closed captions (sounds described too) rather than subtitles


# The reason a cancelled job records: it ends failed, as any job that will not finish does, and
# pages and commands show this reason as a cancellation rather than a fault.
CANCELLED = "Cancelled before it finished."


class Job(BaseModel):
    model_config = ConfigDict(extra="ignore")

    job_id: str = Field(default_factory=new_job_id)
    layout: Layout = Layout.ANAGLYPH
    params: StereoParams = Field(default_factory=StereoParams)
    engine: str = "classical"
    status: JobStatus = JobStatus.CREATED
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    total_segments: int = 0
    completed_segments: int = 0
    # 0..1 of the one-time transcode the chunk step runs on a source it cannot cut by copy
    # (interlaced, HDR, rotated, sparse keyframes...): long for a long video, so it is shown.
    chunk_progress: float = 0.0
    completed_at: datetime | None = None
    error: str | None = None
    run_id: str | None = None
    source_name: str = ""
    source: SourceInfo | None = None
    # A preview (a few seconds from the middle) of the video uploaded for this other job: that
    # job's source is the whole video, which "convert again" without preview converts.
    preview_of: str | None = None
    # Only this part of the source is converted (``convert --start/--end``, the portal's "only a
    # part"): the chunk step cuts it (keys.part_key), and the segments and the join take it as
    # their source.
    part: Part | None = None
    # The probe of that part as the chunk step cut it (``source`` stays the whole video's).
    part_source: SourceInfo | None = None
    # The job whose uploaded video this job's source is a copy of, to convert a part of it.
    part_of: str | None = None
    # On a preview: the part of the whole video it was taken from the middle of.
    preview_within: Part | None = None
    # On a video held for its go ("Preview first"): the preview made of it last, which its page
    # links to (the preview's ``preview_of`` is the way back).
    previewed_by: str | None = None
    # A preview whose run cuts it from the job's copy of the whole video, as a part is cut
    # (keys.part_key): a portal whose storage is not on its own disk (S3) reads no video, so
    # it copies the upload inside the storage instead of cutting the excerpt itself.
    cut_preview: bool = False
    # The file ``stereo-spot convert`` on this machine was asked to write the 3D video to:
    # ``jobs retry`` writes it there too once an interrupted run is finished.
    output_path: str | None = None
    # The segment length ``convert --segment-seconds`` was given, which ``jobs retry`` splits
    # at too (None: the configured default).
    segment_seconds: float | None = None
    # The result's text tracks, in order, each stored as WebVTT (keys.subtitles_key).
    subtitles: list[SubtitleTrack] = Field(default_factory=list)
    # Pictures of the video that could not be decoded (a file with holes in it): the picture
    # before each shows in its place. Counted by the split where a transcode left them out, and
    # by the model server for each segment it converts.
    damaged_frames: int = 0

    @field_validator("job_id")
    @classmethod
    def _url_safe(cls, value: str) -> str:
        from stereo_spot.keys import validate_job_id

        return validate_job_id(value)

    @property
    def cut_from(self) -> str | None:
        """The job whose upload this job's source came from: a preview's excerpt was cut from
        it, a part job's whole video copied from it ("convert again" starts from that video)."""
        return self.preview_of or self.part_of

    @property
    def cuts_its_source(self) -> bool:
        """Whether the run converts a cut of the job's source (a part, or a preview it cuts),
        which the chunk step stores at keys.part_key and the join takes its sound from."""
        return self.part is not None or self.cut_preview

    @property
    def converted_source(self) -> SourceInfo | None:
        """The probe of the video this job's run converts and joins: the part it cut, once cut,
        else the whole video."""
        return self.part_source or self.source

    @property
    def run_on_a_cluster(self) -> bool:
        """Whether a Kubeflow cluster runs (or ran) the job: its run id is a KFP run's, not one
        a launcher on this machine gave (``LOCAL_RUN_PREFIX``)."""
        return bool(self.run_id) and not str(self.run_id).startswith(LOCAL_RUN_PREFIX)

    @property
    def cancelled(self) -> bool:
        """Stopped by someone's ask (the portal, ``jobs cancel``): failed, but not a fault."""
        return self.error == CANCELLED

    @property
    def held(self) -> bool:
        """Uploaded and read, but not started: the user asked for a preview first, and the
        whole video waits here until they start it (with these settings or others)."""
        return self.status is JobStatus.UPLOADED and self.source is not None

    @property
    def damage_note(self) -> str | None:
        """The sentences telling which pictures of the video could not be decoded, if any."""
        notes = []
        source = self.converted_source
        if source and source.first_picture_delay:
            notes.append(
                f"The video's first {source.first_picture_delay:.2f} s of picture cannot be "
                "decoded (the recording starts part-way through a group of pictures that refer "
                "to earlier ones), so its picture starts after them and its sound at the start."
            )
        count = self.damaged_frames
        if count:
            notes.append(
                f"{count} {'picture' if count == 1 else 'pictures'} of the video could not be "
                f"decoded (the file is damaged there); the picture before "
                f"{'it' if count == 1 else 'each'} is shown in its place."
            )
        return " ".join(notes) or None

    @property
    def filename_tag(self) -> str:
        """The suffix of its result's file name (``_LR``, ``_redcyan``...)."""
        return result_tag(self.layout, self.params.anaglyph_mode)

    @property
    def progress(self) -> float:
        """Fraction done, 0..1, for progress bars."""
        if self.status is JobStatus.COMPLETED:
            return 1.0
        if self.total_segments <= 0:
            return 0.0
        return min(1.0, self.completed_segments / self.total_segments)
