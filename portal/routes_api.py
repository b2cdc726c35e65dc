"""The JSON API for scripts and notebooks (DESIGN.md, Portal)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from portal import conversions, services
from portal.deps import JobsDep, LauncherDep, SettingsDep, StorageDep
from portal.launcher import RunLauncher
from stereo_spot.domain import (
    CODEC_NOTES,
    DEFAULT_CRF,
    ENGINE_NAMES,
    MAX_HEIGHT,
    MIN_HEIGHT,
    AnaglyphMode,
    EncoderPreset,
    Job,
    JobStatus,
    Layout,
    Part,
    SourceInfo,
    StereoParams,
    VideoCodec,
    not_a_boolean,
    parse_time,
)
from stereo_spot.jobs import status_said
from stereo_spot.storage import UploadTarget

router = APIRouter(prefix="/api", tags=["jobs"])

Engine = Literal["classical", "depth-anything", "stereocrafter"]
assert get_args(Engine) == ENGINE_NAMES, "the schema's engines are the engines' own names"
# One set of defaults for the CLI, the form and the API: the stereo engine's own.
_DEFAULTS = StereoParams()

# Validation context of a page's form, whose every value comes as text ("2.5", "720"); a JSON
# body's numbers are JSON numbers.
FORM = {"form": True}


class StereoSettingsRequest(BaseModel):
    """How a job converts: the same fields and defaults as ``stereo-spot convert``'s options."""

    model_config = ConfigDict(extra="forbid")

    layout: Layout = Layout.ANAGLYPH
    divergence: float = Field(
        default=_DEFAULTS.divergence,
        ge=0.0,
        le=10.0,
        allow_inf_nan=False,
        description="max parallax, % of width",
    )
    convergence: float = Field(
        default=_DEFAULTS.convergence,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="depth on the screen plane, 0 = far, 1 = near",
    )
    anaglyph_mode: AnaglyphMode = _DEFAULTS.anaglyph_mode
    edges_at_screen: bool = Field(
        default=_DEFAULTS.edges_at_screen,
        description="fade parallax to zero at the frame edges (no window violations)",
    )
    chroma: Literal["420", "444"] = Field(
        default=_DEFAULTS.chroma,
        description="444 (High 4:4:4) keeps anaglyph colours from ghosting; 420 plays everywhere",
    )
    codec: VideoCodec = Field(
        default=_DEFAULTS.codec,
        description="; ".join(f"{codec.value}: {note}" for codec, note in CODEC_NOTES.items()),
    )
    crf: int | None = Field(
        default=None,
        ge=1,
        le=51,
        description="quality, lower is better and larger; default: "
        + ", ".join(f"{crf} for {codec.value}" for codec, crf in DEFAULT_CRF.items()),
    )
    preset: EncoderPreset = Field(
        default=_DEFAULTS.preset,
        description="encoder speed; slower presets make smaller files at the same crf",
    )
    max_height: int | None = Field(
        default=None,
        ge=MIN_HEIGHT,
        le=MAX_HEIGHT,
        description="scale a taller video down to this picture height (each eye's), keeping its "
        "shape; never up; default: the source's size",
    )
    engine: Engine | None = Field(
        default=None,
        description="the engine this portal's model server runs (STEREO_SPOT_ENGINE), the "
        "default; another is refused (422)",
    )

    @field_validator("divergence", "convergence", "crf", "max_height", mode="before")
    @classmethod
    def _a_number(cls, value: object, info: ValidationInfo) -> object:
        # A JSON body gives a number as a number: "720" is a script's mistake, read as the
        # number it spells only from a page's form (``FORM``), where every value is text.
        if isinstance(value, str) and not (info.context or {}).get("form"):
            raise PydanticCustomError("number_type", "Input should be a number, not a string")
        return not_a_boolean(value)

    @field_validator("anaglyph_mode")
    @classmethod
    def _glasses_of_an_anaglyph(cls, mode: AnaglyphMode, info: ValidationInfo) -> AnaglyphMode:
        # Given with a layout that has no colours, it was taken and ignored (as convert's
        # --anaglyph-mode was). The pages' forms leave it out for such a layout themselves.
        layout = info.data.get("layout")
        if layout not in (None, Layout.ANAGLYPH):
            raise PydanticCustomError(
                "anaglyph_only",
                "anaglyph_mode chooses the colours of the anaglyph layout; layout {layout} has "
                "none: leave anaglyph_mode out, or ask for layout anaglyph",
                {"layout": layout.value},
            )
        return mode

    def settings_given(self) -> dict[str, object]:
        """The layout and stereo settings this request gave (null included), by name."""
        names = self.model_fields_set & SETTINGS_FIELDS
        return self.model_dump(include=names)

    def params(self) -> StereoParams:
        return StereoParams(
            divergence=self.divergence,
            convergence=self.convergence,
            anaglyph_mode=self.anaglyph_mode,
            edges_at_screen=self.edges_at_screen,
            chroma=self.chroma,
            codec=self.codec,
            crf=self.crf,
            preset=self.preset,
            max_height=self.max_height,
        )


SETTINGS_FIELDS = frozenset({"layout", *StereoParams.model_fields})


class CreateJobRequest(StereoSettingsRequest):
    source_name: str = Field(default="", max_length=255, description="the file's original name")


class PartRequest(BaseModel):
    """Which part of the video to convert: frame-exact, as ``convert --start/--end``."""

    start: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="convert only the part from this time: seconds, or a clock as a string "
        '("1:30", "01:02:03.5"); default: the beginning',
    )
    end: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="convert only the part until this time (as start); default: the end",
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _time_as_written(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_time(value) if value.strip() else None
        return not_a_boolean(value)

    @model_validator(mode="after")
    def _a_part(self) -> PartRequest:
        self.part()  # the part's own rules: its end comes after its start
        return self

    def part(self) -> Part | None:
        """The part of the video asked for; None for the whole of it."""
        if not self.start and self.end is None:
            return None
        return Part(start=self.start or 0.0, end=self.end)


class ConvertAgainRequest(StereoSettingsRequest, PartRequest):
    """A new conversion of a job's video: the settings not given are that job's own (its
    layout, divergence, crf...), as its page's form is filled; no part: the whole video."""

    preview: bool = Field(
        default=False,
        description="convert only ~5 s from the middle (of the whole video, also when asked "
        "of a preview job, or of the part start..end), to try the settings quickly",
    )


class StartJobRequest(PartRequest):
    model_config = ConfigDict(extra="forbid")

    source_name: str = Field(default="", max_length=255)
    preview: bool = Field(
        default=False,
        description="preview first: the job is held and a preview job (~5 s from the middle, "
        "of the part if one is asked for) is started and returned; start this job again "
        "without preview, or convert it again with other settings, to convert the video",
    )


class UploadTargetOut(BaseModel):
    """POST a multipart form to ``url``: every entry of ``fields``, then the file as ``file``.

    One request, at most ``max_bytes`` (on S3 at most 5 GB whatever the portal accepts): larger
    files, or uploads that should survive a broken connection, go up in parts
    (``POST /api/jobs/{job_id}/uploads``)."""

    url: str
    fields: dict[str, str]
    file_field: str = "file"
    max_bytes: int
    expires_in: int


class JobOut(BaseModel):
    job_id: str
    status: JobStatus
    layout: Layout
    params: StereoParams
    engine: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    total_segments: int
    completed_segments: int
    progress: float = Field(description="0..1 of the segments converted")
    chunk_progress: float = Field(
        description="0..1 of the one-time transcode some sources need before they are split "
        "(interlaced, HDR, rotated, sparse keyframes); 0 when none is needed"
    )
    error: str | None = Field(description="why the job failed, in plain words")
    run_id: str | None
    source_name: str
    source: SourceInfo | None
    preview_of: str | None = Field(description="the job whose whole video this previews")
    part: Part | None = Field(
        description="the part of its video this job converts (start, end in seconds; end "
        "null: to the end), cut by its run; null: the whole video"
    )
    part_of: str | None = Field(description="the job whose uploaded video this is a part of")
    preview_within: Part | None = Field(
        description="on a preview, the part of the whole video it was taken from the middle of"
    )
    previewed_by: str | None = Field(
        description="on a video held for its go ('preview first'): the preview made of it last"
    )
    damaged_frames: int = Field(
        description="pictures of the video that could not be decoded (a damaged file); the "
        "picture before each is shown in its place"
    )
    held: bool = Field(
        description="uploaded with 'preview first' and read: the whole video waits for a start "
        "(status uploaded); uploaded and not held: the video is being read"
    )
    cancelled: bool = Field(
        description='cancelled before it finished (status failed, error "Cancelled before it '
        "finished.\"): stopped by someone's ask, not a fault"
    )
    stopped: bool = Field(
        description="stopped part-way: its status says it is being converted, but the process "
        "on the portal's machine that ran it ended before it finished (a killed `convert`) and "
        "nothing runs it or waits to, so the status will not move; resume it there with "
        "`stereo-spot jobs retry JOB`, cancel it, or delete it (the job page says so too)"
    )
    links: dict[str, str]


class CreatedJobOut(BaseModel):
    job: JobOut
    upload: UploadTargetOut


class JobListOut(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None = Field(
        description="pass as ?cursor= (with the same ?show=) for the next page; null: the last"
    )


class TrackOut(BaseModel):
    url: str = Field(description="Signed URL of the track as WebVTT")
    label: str
    language: str | None = Field(description="ISO 639-2, as the MP4 holds it; null when unsaid")
    kind: str = Field(description='"captions" or "subtitles", as an HTML <track kind>')


class PlaybackOut(BaseModel):
    video_url: str
    download_url: str
    download_name: str
    expires_in: int
    subtitles: list[TrackOut] = Field(
        default_factory=list, description="The result's text tracks, for a browser's player"
    )


class ErrorOut(BaseModel):
    detail: str


_ERRORS = {404: {"model": ErrorOut, "description": "No such job"}}


def job_out(job: Job, launcher: RunLauncher | None) -> JobOut:
    """The job as the API shows it; ``launcher`` tells whether its run stopped part-way."""
    stopped = launcher is not None and launcher.stopped_part_way(job)
    job = services.as_converted(job)
    base = f"/jobs/{job.job_id}"
    links = {"self": f"/api{base}", "page": base}
    if job.status is JobStatus.COMPLETED:
        links["play"] = f"/api{base}/play"
    return JobOut(
        **job.model_dump(
            include={
                "job_id",
                "status",
                "layout",
                "params",
                "engine",
                "created_at",
                "updated_at",
                "completed_at",
                "total_segments",
                "completed_segments",
                "chunk_progress",
                "error",
                "run_id",
                "source_name",
                "source",
                "preview_of",
                "part",
                "part_of",
                "preview_within",
                "previewed_by",
                "damaged_frames",
            }
        ),
        progress=job.progress,
        held=job.held,
        cancelled=job.cancelled,
        stopped=stopped,
        links=links,
    )


def absolute_url(request: Request, url: str) -> str:
    """Signed local URLs are relative to the portal; scripts need them whole."""
    return str(request.base_url).rstrip("/") + url if url.startswith("/") else url


@contextmanager
def _refused_as_a_field(body: BaseModel | None) -> Iterator[None]:
    """A value the portal or the video refuses (services.FieldRejected) answered as the values
    of the wrong type are: a 422 whose detail lists the field, why, and what was given."""
    try:
        yield
    except services.FieldRejected as refused:
        problem = {
            "type": "value_error",
            "loc": ("body", refused.field),
            "msg": str(refused),
            "input": getattr(body, refused.field, None),
        }
        raise RequestValidationError([problem]) from None


def _upload_out(request: Request, target: UploadTarget) -> UploadTargetOut:
    return UploadTargetOut(
        url=absolute_url(request, target.url),
        fields=target.fields,
        max_bytes=target.max_bytes,
        expires_in=target.expires_in,
    )


@router.post("/jobs", status_code=201, summary="Create a job and get its upload target")
def create_job(
    request: Request,
    jobs: JobsDep,
    storage: StorageDep,
    settings: SettingsDep,
    body: Annotated[CreateJobRequest | None, Body()] = None,
) -> CreatedJobOut:
    body = body or CreateJobRequest()  # every field has a default: no body at all is fine too
    with _refused_as_a_field(body):
        job = services.create_job(
            jobs, settings, body.layout, body.params(), body.engine, body.source_name
        )
    target = services.upload_target(storage, settings, job)
    return CreatedJobOut(job=job_out(job, None), upload=_upload_out(request, target))


@router.get(
    "/jobs/{job_id}/upload",
    summary="A fresh upload target for a job still waiting for its file",
    responses={**_ERRORS, 409: {"model": ErrorOut}},
)
def upload_target(
    request: Request, job_id: str, jobs: JobsDep, storage: StorageDep, settings: SettingsDep
) -> UploadTargetOut:
    job = services.get_job(jobs, job_id)
    if job.status is not JobStatus.CREATED:
        raise services.NotReady(f"This job is {status_said(job)}; it takes no more uploads.")
    return _upload_out(request, services.upload_target(storage, settings, job))


@router.post(
    "/jobs/{job_id}/start",
    status_code=202,
    summary="Start converting an uploaded job, or a preview of it first (again: nothing new)",
    responses={**_ERRORS, 409: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)
def start_job(
    job_id: str,
    jobs: JobsDep,
    storage: StorageDep,
    settings: SettingsDep,
    launcher: LauncherDep,
    body: Annotated[StartJobRequest | None, Body()] = None,
) -> JobOut:
    services.get_job(jobs, job_id)
    body = body or StartJobRequest()
    with _refused_as_a_field(body):
        job = conversions.start_job(
            jobs,
            storage,
            settings,
            launcher,
            job_id,
            body.source_name,
            preview=body.preview,
            part=body.part(),
        )
    return job_out(job, launcher)


@router.get("/jobs/{job_id}", summary="A job's status and progress", responses=_ERRORS)
def get_job(job_id: str, jobs: JobsDep, launcher: LauncherDep) -> JobOut:
    return job_out(services.get_job(jobs, job_id), launcher)


@router.get(
    "/jobs",
    summary="Completed jobs, newest finished first; or the jobs not finished, newest made first",
)
def list_jobs(
    jobs: JobsDep,
    launcher: LauncherDep,
    show: Annotated[
        services.Listing,
        Query(
            description="completed: finished results; unfinished: every other job (waiting, "
            "converting, held for its preview, failed, cancelled)"
        ),
    ] = services.Listing.COMPLETED,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> JobListOut:
    page = services.list_jobs(jobs, show, limit=limit, cursor=cursor)
    return JobListOut(
        jobs=[job_out(job, launcher) for job in page.jobs], next_cursor=page.next_cursor
    )


@router.get(
    "/jobs/{job_id}/play",
    summary="Signed URLs to stream and to download the result",
    responses={**_ERRORS, 409: {"model": ErrorOut}},
)
def play(
    request: Request, job_id: str, jobs: JobsDep, storage: StorageDep, settings: SettingsDep
) -> PlaybackOut:
    playback = services.playback(storage, settings, services.get_job(jobs, job_id))
    return PlaybackOut(
        video_url=absolute_url(request, playback.video_url),
        download_url=absolute_url(request, playback.download_url),
        download_name=playback.download_name,
        expires_in=playback.expires_in,
        subtitles=[
            TrackOut(
                url=absolute_url(request, track.url),
                label=track.label,
                language=track.language,
                kind=track.kind,
            )
            for track in playback.subtitles
        ],
    )


@router.post(
    "/jobs/{job_id}/again",
    status_code=202,
    summary="Convert the job's uploaded video again with other settings, a part of it, or a "
    "preview",
    responses={**_ERRORS, 409: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)
def convert_again(
    job_id: str,
    body: ConvertAgainRequest,
    jobs: JobsDep,
    storage: StorageDep,
    settings: SettingsDep,
    launcher: LauncherDep,
) -> JobOut:
    # The settings not given are the job's own, as its page's form is filled with them.
    layout, params = services.settings_kept(services.get_job(jobs, job_id), body.settings_given())
    with _refused_as_a_field(body):
        job = conversions.convert_again(
            jobs, storage, settings, launcher, job_id, layout, params, body.engine,
            preview=body.preview, part=body.part(),
        )  # fmt: skip
    return job_out(job, launcher)


@router.post(
    "/jobs/{job_id}/cancel",
    summary="Stop a job that has not finished (it ends failed, reason: cancelled)",
    responses={**_ERRORS, 409: {"model": ErrorOut}},
)
def cancel_job(job_id: str, jobs: JobsDep, storage: StorageDep, launcher: LauncherDep) -> JobOut:
    return job_out(services.cancel_job(jobs, storage, launcher, job_id), launcher)


@router.delete(
    "/jobs/{job_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a job and all its files",
    responses={**_ERRORS, 409: {"model": ErrorOut}},
)
def delete_job(job_id: str, jobs: JobsDep, storage: StorageDep, launcher: LauncherDep) -> Response:
    services.delete_job(jobs, storage, launcher, job_id)
    return Response(status_code=204)
