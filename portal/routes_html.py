"""The pages people use: create, upload with progress, watch, list, play, delete."""

from __future__ import annotations

import contextlib
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from portal import conversions, services
from portal.deps import JobsDep, LauncherDep, SettingsDep, StorageDep, TemplatesDep
from portal.launcher import RunLauncher
from portal.routes_api import (
    FORM,
    ConvertAgainRequest,
    CreateJobRequest,
    PartRequest,
    job_out,
)
from portal.security import csrf_token, notice_proof, notice_proved, require_csrf
from stereo_spot.domain import (
    CODEC_NOTES,
    DEFAULT_CRF,
    DUBOIS_MIXES,
    ENCODER_PRESETS,
    OUTPUT_HEIGHTS,
    PREVIEW_SECONDS,
    AnaglyphMode,
    Job,
    JobStatus,
    Layout,
    StereoParams,
    VideoCodec,
)
from stereo_spot.errors import InputRejected, JobNotFound
from stereo_spot.jobs import ACTIVE
from stereo_spot.settings import Settings

router = APIRouter(include_in_schema=False)

CsrfChecked = Depends(require_csrf)

LAYOUT_LABELS = {
    Layout.ANAGLYPH: "Anaglyph (coloured glasses)",
    Layout.SBS: "Side by side, full width (VR, 3D TV)",
    Layout.HALF_SBS: "Side by side, half width (3D TV)",
    Layout.TAB: "Top and bottom, full height",
    Layout.HALF_TAB: "Top and bottom, half height",
}


# How each anaglyph mode mixes the colours, as a job's summary names it beside its glasses.
ANAGLYPH_MIXES = {
    AnaglyphMode.DUBOIS: "Dubois",
    AnaglyphMode.COLOR: "full colour",
    AnaglyphMode.HALF_COLOR: "half colour",
    AnaglyphMode.GRAY: "grey",
    AnaglyphMode.GREEN_MAGENTA: "Dubois",
    AnaglyphMode.AMBER_BLUE: "Dubois",
}


def layout_label(job: Job) -> str:
    """What a job's result is, as its pages name it: an anaglyph by the glasses it is for and
    its colour mix ("Anaglyph for red-cyan glasses, grey"), which "Convert again" is there to
    compare and the file name does not tell."""
    if job.layout is Layout.ANAGLYPH:
        mode = AnaglyphMode(job.params.anaglyph_mode)
        return f"Anaglyph for {mode.glasses} glasses, {ANAGLYPH_MIXES[mode]}"
    return LAYOUT_LABELS[job.layout]


ENGINE_LABELS = {
    "classical": "Classical (fast, CPU)",
    "depth-anything": "Depth Anything V2 (better depth)",
    "stereocrafter": "StereoCrafter (GPU, best)",
}


# What the upload's file chooser offers, by the demuxer (stereo_spot.media.probe.ALLOWED_FORMATS)
# that reads each: without its extension here a picker greys out a file the portal converts
# (Chromium takes an .ogg for audio/ogg, outside video/*). Sound and picture extensions the same
# demuxers read (.m4a, .heic) are left out: they are refused as what they are.
SOURCE_EXTENSIONS = {
    "mov,mp4,m4a,3gp,3g2,mj2": (".mp4", ".mov", ".m4v", ".3gp", ".3g2", ".mj2", ".f4v"),
    "matroska,webm": (".mkv", ".webm", ".mk3d"),
    "avi": (".avi",),
    "mpegts": (".ts", ".m2ts", ".mts", ".m2t"),
    "mpeg": (".mpg", ".mpeg", ".vob", ".mod", ".tod"),
    "flv": (".flv",),
    "ogg": (".ogv", ".ogg"),
    "asf": (".wmv", ".asf"),
    "m4v": (".m4v",),
    "h264": (".h264", ".264", ".avc"),
    "hevc": (".hevc", ".h265", ".265"),
    "ivf": (".ivf",),
    "nut": (".nut",),
    "mxf": (".mxf",),
    "dv": (".dv", ".dif"),
    "yuv4mpegpipe": (".y4m",),
    "mpegvideo": (".m2v", ".mpv", ".m1v"),
    "gif": (".gif",),
    "apng": (".apng",),
    "wtv": (".wtv",),
}
SOURCE_ACCEPT = ",".join(
    dict.fromkeys(["video/*", *(ext for exts in SOURCE_EXTENSIONS.values() for ext in exts)])
)


def served_engines(settings: Settings) -> dict[str, str]:
    """What the settings form offers as the engine: only the one this portal's model server
    runs (``settings.engine``); a job for another fails on every segment after its upload."""
    return {settings.engine: ENGINE_LABELS[settings.engine]}


# What the settings form (_stereo_settings.html) offers for the encoding, on every page with it.
ENCODING_CHOICES = {
    "codec_names": {VideoCodec.H264: "H.264", VideoCodec.HEVC: "HEVC"},
    "codec_notes": CODEC_NOTES,
    "presets": ENCODER_PRESETS,
    "output_heights": OUTPUT_HEIGHTS,
    "default_crf": DEFAULT_CRF,
}
PHASES = {
    JobStatus.CREATED: "Waiting for the video",
    JobStatus.UPLOADED: "Checking the video",
    JobStatus.QUEUED: "Waiting for its turn",
    JobStatus.CHUNKING: "Cutting the video into segments",
    JobStatus.PROCESSING: "Converting segments to 3D",
    JobStatus.REASSEMBLING: "Joining the segments and the sound",
    JobStatus.COMPLETED: "Done",
    JobStatus.FAILED: "Failed",
}


def state_said(job: Job, launcher: RunLauncher | None) -> str:
    """Where a job stands, in the few words a list of jobs has room for (its page says more)."""
    if job.cancelled:
        return "Cancelled"
    if job.held:
        # Said alike whether its preview is still converting or done (the list has its own
        # row for the preview): the job page tells which.
        return "Preview first; then waiting for you to convert it"
    if launcher is not None and launcher.stopped_part_way(job):
        return "Stopped part-way"
    if job.status is JobStatus.PROCESSING and job.total_segments:
        return f"{PHASES[job.status]}: {job.progress:.0%}"
    return PHASES[job.status]


def preview_said(job: Job) -> str:
    """How a preview's page names it, up to the video it was cut from: "A 2.5 s preview of the
    part from 0:01 to 0:03.5 of". A part no longer than a preview is converted whole (not the
    5 s a preview takes of a longer one); the length is the cut's own once its probe is in."""
    within = job.preview_within
    if (
        within is not None
        and within.end is not None
        and within.end - within.start <= PREVIEW_SECONDS
    ):
        return f"A preview of the whole part {within.label} of"
    # A preview its run cuts (on S3) records the whole video as its source, the cut apart.
    cut = job.part_source if job.cut_preview else job.source
    seconds = cut.duration if cut is not None else PREVIEW_SECONDS
    of_part = f" the part {within.label} of" if within is not None else ""
    return f"A {seconds:.3g} s preview of{of_part}"


def _page(
    templates, request: Request, name: str, status_code: int = 200, **context
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        name,
        {"csrf_token": csrf_token(request), "phases": PHASES, **context},
        status_code=status_code,
    )
    # Pages carry signed URLs and per-user tokens: keep them out of shared caches and history.
    response.headers["Cache-Control"] = "no-store"
    return response


def _create_form(templates, request: Request, settings, error: str | None = None, status=200):
    defaults = StereoParams()
    return _page(
        templates,
        request,
        "index.html",
        status_code=status,
        layouts=LAYOUT_LABELS,
        engines=served_engines(settings),
        anaglyph_modes=list(AnaglyphMode),
        **ENCODING_CHOICES,
        defaults=defaults,
        default_engine=settings.engine,
        error=error,
    )


@router.get("/", response_class=HTMLResponse)
def index(request: Request, templates: TemplatesDep, settings: SettingsDep) -> HTMLResponse:
    return _create_form(templates, request, settings)


def _stereo_form(
    layout: Annotated[str, Form()] = Layout.ANAGLYPH.value,
    divergence: Annotated[str | None, Form()] = None,
    convergence: Annotated[str | None, Form()] = None,
    anaglyph_mode: Annotated[str | None, Form()] = None,
    edges_at_screen: Annotated[str | None, Form()] = None,
    chroma: Annotated[str | None, Form()] = None,
    codec: Annotated[str | None, Form()] = None,
    crf: Annotated[str | None, Form()] = None,
    preset: Annotated[str | None, Form()] = None,
    max_height: Annotated[str | None, Form()] = None,
    engine: Annotated[str | None, Form()] = None,
) -> dict[str, object]:
    """The settings fields of a form (``_stereo_settings.html``), for the API's request models.

    A field the form did not send takes the API's default (a checkbox sends nothing when off,
    an empty quality field means the codec's own). The anaglyph colours go only with the
    anaglyph layout: a page without its script sends its select whatever the layout, and what
    the API and ``convert`` refuse as ignored is not stored here either.
    """
    given = {
        "divergence": divergence,
        "convergence": convergence,
        "anaglyph_mode": anaglyph_mode if layout == Layout.ANAGLYPH.value else None,
        "chroma": chroma,
        "codec": codec,
        "crf": crf or None,
        "preset": preset,
        "max_height": max_height or None,  # empty: the source's size
        "engine": engine,  # none: the one the portal's model server runs
    }
    return {
        "layout": layout,
        "edges_at_screen": edges_at_screen is not None,
        **{name: value for name, value in given.items() if value is not None},
    }


StereoForm = Annotated[dict[str, object], Depends(_stereo_form)]


def _problems(invalid: ValidationError) -> str:
    # A check of several fields together has no field to name, and pydantic starts the
    # message of a check's ValueError with "Value error, ".
    return "; ".join(
        (f"{e['loc'][0]}: " if e["loc"] else "") + e["msg"].removeprefix("Value error, ")
        for e in invalid.errors()
    )


@router.post("/jobs", dependencies=[CsrfChecked])
def create_job(
    request: Request,
    templates: TemplatesDep,
    settings: SettingsDep,
    jobs: JobsDep,
    fields: StereoForm,
) -> Response:
    try:
        form = CreateJobRequest.model_validate(fields, context=FORM)
        job = services.create_job(jobs, settings, form.layout, form.params(), form.engine)
    except ValidationError as invalid:
        return _create_form(
            templates, request, settings, error=f"Please check: {_problems(invalid)}.", status=422
        )
    except InputRejected as refused:
        return _create_form(templates, request, settings, error=str(refused), status=422)
    return RedirectResponse(f"/jobs/{job.job_id}", status_code=303)


@router.get("/jobs", response_class=HTMLResponse)
def list_jobs(
    request: Request,
    templates: TemplatesDep,
    jobs: JobsDep,
    launcher: LauncherDep,
    show: services.Listing = services.Listing.COMPLETED,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    deleted: Annotated[str | None, Query(max_length=255)] = None,
    proof: Annotated[str | None, Query(max_length=128)] = None,
) -> HTMLResponse:
    page = services.list_jobs(jobs, show, limit=limit, cursor=cursor)
    if deleted is not None and not notice_proved(request, deleted, proof):
        deleted = None  # a link someone else made: its words are not ours to show
    return _page(
        templates,
        request,
        "jobs.html",
        show=show.value,
        jobs=[services.as_converted(job) for job in page.jobs],
        states={job.job_id: state_said(job, launcher) for job in page.jobs},
        next_cursor=page.next_cursor,
        limit=limit,
        first_page=not cursor,
        deleted=deleted,
    )


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(
    request: Request,
    job_id: str,
    templates: TemplatesDep,
    jobs: JobsDep,
    settings: SettingsDep,
    launcher: LauncherDep,
) -> HTMLResponse:
    job = services.as_converted(services.get_job(jobs, job_id))
    whole_kept = services.whole_video_kept(jobs, job)
    # The job a part job's whole video was copied from, if it was not deleted: itself a part
    # job where the one that had the upload was deleted first (its copy is the whole video).
    part_origin = None
    if job.part_of:
        with contextlib.suppress(JobNotFound):
            part_origin = jobs.get(job.part_of)
    # Its record says it is being converted, but its run ended (a killed `convert`).
    stopped = launcher is not None and launcher.stopped_part_way(job)
    return _page(
        templates,
        request,
        "job.html",
        job=job,
        # A held video's page links to the preview it waits on, and says whether it is done.
        held_preview=conversions.preview_made_first(jobs, job),
        # Waiting for its video: the page's script uploads it in parts (portal/uploads.py).
        takes_upload=job.status is JobStatus.CREATED,
        max_upload_bytes=settings.max_upload_bytes,
        source_accept=SOURCE_ACCEPT,
        layouts=LAYOUT_LABELS,
        engines=served_engines(settings),
        engine_labels=ENGINE_LABELS,
        active=not stopped
        and (job.status in ACTIVE or (job.status is JobStatus.UPLOADED and not job.held)),
        stopped=stopped,
        # This portal resumes it (its start), unless its model server runs another engine.
        resumable=stopped and job.engine == settings.engine,
        cancellable=job.status in ACTIVE,
        cancelled=job.cancelled,
        # The video was uploaded and read: it can be converted again without a new upload.
        again=(job.status.is_final or job.held) and job.source is not None and whole_kept,
        whole_kept=whole_kept,
        part_origin=part_origin,
        anaglyph_modes=list(AnaglyphMode),
        **ENCODING_CHOICES,
        preview_seconds=PREVIEW_SECONDS,
        preview_said=preview_said(job) if job.preview_of else "",
    )


@router.post("/jobs/{job_id}/start", dependencies=[CsrfChecked])
def start_job(
    request: Request,
    job_id: str,
    jobs: JobsDep,
    storage: StorageDep,
    settings: SettingsDep,
    launcher: LauncherDep,
    source_name: Annotated[str, Form(max_length=255)] = "",
    preview: Annotated[str | None, Form()] = None,
    start: Annotated[str, Form(max_length=40)] = "",
    end: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Called by the upload page's script once the file is in (header token), or by a form.

    The answer is the job to watch: with "preview first", the preview's.
    """
    services.get_job(jobs, job_id)
    try:
        part = PartRequest(start=start, end=end).part()
    except ValidationError as invalid:
        raise InputRejected(f"Please check: {_problems(invalid)}.") from None
    job = conversions.start_job(
        jobs, storage, settings, launcher, job_id, source_name, preview=preview is not None,
        part=part,
    )  # fmt: skip
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(job_out(job, launcher).model_dump(mode="json"), status_code=202)
    return RedirectResponse(f"/jobs/{job.job_id}", status_code=303)


@router.get("/jobs/{job_id}/play", response_class=HTMLResponse)
def play_page(
    request: Request,
    job_id: str,
    templates: TemplatesDep,
    jobs: JobsDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> HTMLResponse:
    job = services.get_job(jobs, job_id)
    playback = services.playback(storage, settings, job)
    # A side-by-side or top-bottom result can be seen here as an anaglyph (stereo-view.js).
    mixes = {} if job.layout is Layout.ANAGLYPH else DUBOIS_MIXES
    return _page(
        templates,
        request,
        "play.html",
        job=job,
        playback=playback,
        anaglyph_mixes={mode.value: matrices for mode, matrices in mixes.items()},
        glasses={mode.value: mode.glasses for mode in mixes},
        codec_names=ENCODING_CHOICES["codec_names"],
    )


@router.post("/jobs/{job_id}/again", dependencies=[CsrfChecked])
def convert_again(
    job_id: str,
    jobs: JobsDep,
    storage: StorageDep,
    settings: SettingsDep,
    launcher: LauncherDep,
    fields: StereoForm,
    preview: Annotated[str | None, Form()] = None,
    start: Annotated[str, Form(max_length=40)] = "",
    end: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    try:
        form = ConvertAgainRequest.model_validate(
            {**fields, "preview": preview is not None, "start": start, "end": end}, context=FORM
        )
    except ValidationError as invalid:
        raise InputRejected(f"Please check: {_problems(invalid)}.") from None
    job = conversions.convert_again(
        jobs, storage, settings, launcher, job_id, form.layout, form.params(), form.engine,
        preview=form.preview, part=form.part(),
    )  # fmt: skip
    return RedirectResponse(f"/jobs/{job.job_id}", status_code=303)


@router.post("/jobs/{job_id}/cancel", dependencies=[CsrfChecked])
def cancel_job(job_id: str, jobs: JobsDep, storage: StorageDep, launcher: LauncherDep) -> Response:
    services.cancel_job(jobs, storage, launcher, job_id)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


def _deleting_name(job: Job) -> str:
    """How the delete's question and the list's notice name the job."""
    return job.source_name or f"job {job.job_id[:8]}"


@router.get("/jobs/{job_id}/delete", response_class=HTMLResponse)
def confirm_delete(
    request: Request, job_id: str, templates: TemplatesDep, jobs: JobsDep
) -> HTMLResponse:
    """The page that asks before a delete (its form posts ``confirmed=yes``); it deletes
    nothing, so Back to it and reloading it are harmless."""
    job = services.get_job(jobs, job_id)
    return _page(templates, request, "confirm_delete.html", job=job, deleting=_deleting_name(job))


@router.post("/jobs/{job_id}/delete", dependencies=[CsrfChecked])
def delete_job(
    request: Request,
    job_id: str,
    jobs: JobsDep,
    storage: StorageDep,
    launcher: LauncherDep,
    confirmed: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    job = services.get_job(jobs, job_id)
    if confirmed != "yes":
        # The page's script asks first and says yes; without it (no JavaScript) a page asks. It
        # is a GET of its own: a page answering this POST is one that Back and Reload post
        # again ("Confirm Form Resubmission").
        return RedirectResponse(f"/jobs/{job_id}/delete", status_code=303)
    services.delete_job(jobs, storage, launcher, job_id)
    # The list the job was in says what went: its page is gone, and with it any word of the
    # delete.
    show = services.Listing.COMPLETED
    if job.status is not JobStatus.COMPLETED:
        show = services.Listing.UNFINISHED
    name = _deleting_name(job)
    query = {"show": show.value, "deleted": name, "proof": notice_proof(request, name)}
    return RedirectResponse(f"/jobs?{urlencode(query)}", status_code=303)
