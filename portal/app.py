"""The portal's app factory: settings and adapters in, a FastAPI app out.

Routes reach the adapters through the dependencies below (``app.state`` holds them), so tests
build an app over a temporary data dir and real local adapters.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from urllib.parse import urlparse

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal import routes_api, routes_html, routes_uploads, storage_routes
from portal.launcher import RunLauncher
from portal.security import CsrfTokens, SecurityMiddleware, content_security_policy
from portal.services import BadPageLink, NoLauncher, NotReady, NotUploaded
from portal.uploads import UploadTooLarge
from stereo_spot.domain import TIME_PATTERN, clock
from stereo_spot.errors import (
    InputRejected,
    InvalidKey,
    JobBusy,
    JobNotFound,
    NothingToCancel,
    StereoSpotError,
    StoreUnavailable,
    TransitionConflict,
    UploadNotFound,
    UploadRejected,
)
from stereo_spot.jobs import JobStore
from stereo_spot.settings import Settings
from stereo_spot.storage import ObjectStorage
from stereo_spot.storage.signing import SignatureRejected, UrlSigner, secret_from
from stereo_spot.wiring import job_store_from, storage_from

log = logging.getLogger(__name__)
HERE = Path(__file__).parent

_STATUS_FOR_ERROR: tuple[tuple[type[StereoSpotError], int], ...] = (
    (BadPageLink, 400),
    (JobNotFound, 404),
    (InvalidKey, 404),
    (SignatureRejected, 403),
    (NotUploaded, 409),
    (NotReady, 409),
    (JobBusy, 409),
    (NothingToCancel, 409),
    (TransitionConflict, 409),
    (InputRejected, 422),
    (NoLauncher, 503),
    # A bucket, table or endpoint missing or down (an index being built too): the operator's
    # to fix, the request itself is fine.
    (StoreUnavailable, 503),
    (UploadNotFound, 404),
    (UploadRejected, 400),
    (UploadTooLarge, 413),
)


# The most of one input a refusal echoes: enough to recognise it, never the whole of a large one.
ECHOED_CHARS = 200

# What a request that failed for an unforeseen reason is answered with; the log has the rest.
UNEXPECTED = (
    "Something went wrong in the portal; its log has the details. Try again, and tell its "
    "operator if it goes on."
)


def create_app(
    settings: Settings | None = None,
    storage: ObjectStorage | None = None,
    jobs: JobStore | None = None,
    launcher: RunLauncher | None = None,
) -> FastAPI:
    """Build the portal. Without a ``launcher`` it can create and show jobs but not run them."""
    settings = settings or Settings()
    security = partial(
        SecurityMiddleware,
        csp=content_security_policy(_storage_origins(settings)),
        bearer_token=_secret(settings.auth_token),
        basic_auth=_secret(settings.basic_auth),
        secure_cookies=(settings.public_url or "").startswith("https://"),
        host_names=_served_names(settings),
        public_origin=_origin(settings.public_url) if settings.public_url else None,
    )
    app = PortalApp(
        security=security,
        title="Stereo-Spot",
        summary="Upload a 2D video, get it back in stereoscopic 3D.",
        version="0.1.0",
        openapi_url="/api/openapi.json",
        # The interactive docs load scripts from a CDN, which the CSP (rightly) forbids.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.storage = storage if storage is not None else storage_from(settings)
    app.state.jobs = jobs if jobs is not None else job_store_from(settings)
    app.state.launcher = launcher
    app.state.csrf = CsrfTokens(UrlSigner(secret_from(settings)).derive("csrf"))
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    app.state.templates.env.globals["layout_label"] = routes_html.layout_label
    app.state.templates.env.globals["clock"] = clock
    app.state.templates.env.globals["time_pattern"] = TIME_PATTERN

    app.include_router(routes_html.router)
    app.include_router(routes_api.router)
    app.include_router(routes_uploads.router)
    app.include_router(storage_routes.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    # async: answered on the event loop, while sync routes waiting on an unreachable store may
    # hold every thread of Starlette's pool (40) for their timeouts' length.
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    _install_error_handlers(app)
    app.add_middleware(HeadAsGet)
    return app


class PortalApp(FastAPI):
    """FastAPI with ``security`` (SecurityMiddleware) outside all it builds. ``add_middleware``
    would put it inside Starlette's ServerErrorMiddleware, and the 500 that one answers an
    unhandled error with (our handler's page included) went out without the security
    headers."""

    def __init__(self, *, security: Callable[[ASGIApp], ASGIApp], **options) -> None:
        self._security = security
        super().__init__(**options)

    def build_middleware_stack(self) -> ASGIApp:
        return self._security(super().build_middleware_stack())


# Signed downloads refuse HEAD as S3 does on a URL signed for GET (a script that relied on it
# here would fail on the cluster); static files answer it themselves.
_HEAD_LEFT_ALONE = ("/storage/", "/static/")


class HeadAsGet:
    """HEAD answered wherever GET is (HTTP requires it; uptime and link checkers use it): the
    request goes on as a GET, and the answer keeps its status and headers, Content-Length
    included, and drops its body. FastAPI routes, unlike Starlette's, take only the methods
    they name."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "HEAD"
            or scope["path"].startswith(_HEAD_LEFT_ALONE)
        ):
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)


def _served_names(settings: Settings) -> list[str]:
    """The host names an open portal answers to besides localhost and addresses."""
    names = [name for name in settings.allowed_hosts.split(",") if name.strip()]
    if settings.public_url and urlparse(settings.public_url).hostname:
        names.append(urlparse(settings.public_url).hostname)
    return names


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None


def _storage_origins(settings: Settings) -> list[str]:
    """Origins besides the portal's own that pages may upload to and play from."""
    origins = []
    if settings.public_url:
        origins.append(_origin(settings.public_url))
    if settings.backend == "aws":
        origins.append("https://*.amazonaws.com")
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            origins.append(_origin(endpoint))
    return origins


def _origin(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/storage/")) or (
        "application/json" in request.headers.get("accept", "")
    )


def _error_response(request: Request, status: int, message: str) -> Response:
    message = _encodable(message)  # it may quote an input
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status)
    templates: Jinja2Templates = request.app.state.templates
    # A form on a job's page that was refused (a part's times, a start) leads back to that job.
    job_id = request.scope.get("path_params", {}).get("job_id")
    back = f"/jobs/{job_id}" if job_id and status != 404 else None
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "message": message, "back": back},
        status_code=status,
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at the request's path: Starlette names only the first
    route's, and /jobs is served by two. (Asked of each route by method: FastAPI's included
    routers say only whether they take a request.)"""
    methods = [
        method
        for method in ("DELETE", "GET", "PATCH", "POST", "PUT")
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]
    if "GET" in methods and not request.url.path.startswith(_HEAD_LEFT_ALONE):
        methods.append("HEAD")
    return sorted(methods)


def _encodable(text: str) -> str:
    """``text`` with what UTF-8 cannot carry (a lone surrogate, which JSON's ``\\ud800`` makes)
    written as its escape, so that an answer quoting it can be sent."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _json_safe(value):
    """``value`` with every NaN or infinity as the text JSON would need for it, and every string
    encodable: Python's json reads both in a body, and a refusal that echoes the input must not
    then fail to write it."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        return _encodable(value)
    if isinstance(value, dict):
        return {_json_safe(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _echoed(value):
    """What a refusal says of an input: itself when short, else the beginning of it (a string
    one's, or a list or object written as JSON text), ending in "…"."""
    value = _json_safe(value)
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) <= ECHOED_CHARS:
        return value
    return text[:ECHOED_CHARS] + "…"


# FastAPI's words for a body its JSON reader fails on with an error other than a syntax error:
# bytes that are not UTF-8 (a charset=latin-1 body), JSON nested past Python's recursion limit.
_UNPARSED_BODY = "There was an error parsing the body"
UNREADABLE_JSON = (
    "The body could not be read as JSON (text that is not UTF-8, or nested too deep); send a "
    "JSON object as application/json, in UTF-8."
)
# What pydantic says of a body that is no JSON object: one sent as another type (text/json,
# application/xml, none), which FastAPI hands over unread, or a JSON array, string or number.
_NOT_AN_OBJECT = {"model_attributes_type", "model_type", "dict_type"}


def _is_form(request: Request) -> bool:
    """A page's form FastAPI could not read (a broken multipart body) is not told to send JSON."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type in ("multipart/form-data", "application/x-www-form-urlencoded")


def _body_not_an_object(request: Request, problem: dict) -> dict:
    """What to fix, for a body that is no JSON object: the sentence pydantic gives ("Input
    should be a valid dictionary or object to extract fields from") names neither JSON nor the
    content type the body came as."""
    if problem.get("type") not in _NOT_AN_OBJECT or list(problem.get("loc", ())) != ["body"]:
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        return {"msg": "Send a JSON object as application/json, in UTF-8."}
    came_as = f"as {_echoed(content_type)}" if content_type else "without a Content-Type"
    return {"msg": f"Send a JSON object as application/json, in UTF-8 (the body came {came_as})."}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StereoSpotError)
    async def stereo_spot_error(request: Request, error: StereoSpotError) -> Response:
        status = next((code for kind, code in _STATUS_FOR_ERROR if isinstance(error, kind)), 400)
        message = str(error)
        if status == 404 and not isinstance(error, UploadNotFound):
            message = "There is no such job. It may have been deleted, or the link is mistyped."
        return _error_response(request, status, message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        message = error.detail if isinstance(error.detail, str) else "That request failed."
        if error.status_code == 404 and message == "Not Found":
            message = "There is no such page."
        if error.status_code == 400 and message == _UNPARSED_BODY and not _is_form(request):
            message = UNREADABLE_JSON
        response = _error_response(request, error.status_code, message)
        for name, value in (error.headers or {}).items():
            response.headers[name] = value
        if error.status_code == 405:
            response.headers["Allow"] = ", ".join(_allowed_methods(request))
        return response

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> Response:
        # A fault of the portal's own (a bug, a store broken in a way no adapter names): the
        # page, or JSON, it answers everything else with, not a bare "Internal Server Error".
        # Starlette raises the error on to the server after this answer, which logs it.
        return _error_response(request, 500, UNEXPECTED)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        if _wants_json(request):
            # Each problem echoes its input (a missing field's is the whole body), and a
            # validator's sentence may quote it ("'…' is not a time").
            problems = [
                {
                    **problem,
                    **{key: _echoed(problem[key]) for key in ("msg", "input") if key in problem},
                    **_body_not_an_object(request, problem),
                }
                for problem in jsonable_encoder(error.errors())
            ]
            return JSONResponse({"detail": _json_safe(problems)}, status_code=422)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'form'}: {_echoed(e['msg'])}"
            for e in error.errors()
        )
        return _error_response(request, 422, f"Some values were not accepted ({problems}).")
