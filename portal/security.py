"""Security for the portal: optional auth, CSRF tokens for HTML forms, response headers.

* Auth (when configured): ``Authorization: Bearer <auth_token>`` for scripts, HTTP basic auth
  (``basic_auth = "user:password"``) for browsers. The signed ``/storage`` endpoints are exempt:
  their signature is the credential, as with S3 presigned URLs. Unset = open (bind to 127.0.0.1).
* Host names (only without sign-in): an open portal answers to ``localhost``, IP addresses, the
  public URL's host and the names it is told of. A page whose own name an attacker points at
  127.0.0.1 (DNS rebinding) is same-origin with the portal to the browser, and would read it.
* CSRF: a random cookie plus a form token that is the HMAC of the cookie under a key derived from
  the secret. A form post (or the upload page's start call, via ``X-CSRF-Token``) must carry the
  token that matches its cookie; a site that can plant a cookie still cannot forge the token.
  The JSON API needs no token: a change under ``/api`` is refused when the browser says it comes
  from another site (``Sec-Fetch-Site``, ``Origin``) or it carries a body type a form can send
  (an empty ``text/plain`` form reads as "no body" to the routes whose body is optional).
* Request bodies outside ``/storage`` (which streams uploads and counts them itself) are capped
  at ``MAX_BODY_BYTES`` while they are read.
* Headers: a strict CSP (no inline script or style; media and uploads may also go to the storage
  origin), nosniff, no framing, no referrer (pages carry signed URLs), on every answer: the
  middleware is installed outside Starlette's error handling (``portal.app.PortalApp``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Iterable
from http.cookies import SimpleCookie

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "stereo_spot_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_UNAUTHENTICATED_PREFIXES = ("/storage/", "/static/", "/healthz")
# Probes (Kubernetes' name the pod's address, a load balancer's may name anything) and what
# they learn ("ok") is no one's secret.
_ANY_HOST = ("/healthz",)
# Far above any real request: the largest, completing an upload of S3's most parts (10,000) with
# their ETags, is ~0.65 MB, and every field at its declared maximum ~2.9 MB. Uploads go to
# /storage, which is not capped here.
MAX_BODY_BYTES = 4 * 1024 * 1024
_UNCAPPED_PREFIXES = ("/storage/",)
_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The body types an HTML form can send to another site without the browser asking first.
_FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


class CsrfTokens:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def token_for(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()

    def matches(self, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token:
            return False
        return hmac.compare_digest(self.token_for(nonce), token)


def csrf_token(request: Request) -> str:
    """The token to put in this page's forms (the middleware set the cookie it belongs to)."""
    tokens: CsrfTokens = request.app.state.csrf
    return tokens.token_for(request.state.csrf_nonce)


def notice_proof(request: Request, notice: str) -> str:
    """A proof, for a link, that this browser's own request made the notice the page it leads
    to shows ("Deleted holiday.mp4"): a link anyone else made cannot put words in the page."""
    tokens: CsrfTokens = request.app.state.csrf
    return tokens.token_for(f"notice\0{request.state.csrf_nonce}\0{notice}")


def notice_proved(request: Request, notice: str, proof: str | None) -> bool:
    return bool(proof) and hmac.compare_digest(notice_proof(request, notice), proof)


async def require_csrf(request: Request) -> None:
    """FastAPI dependency for HTML form posts: 403 unless the token matches the cookie."""
    token = request.headers.get(CSRF_HEADER)
    if token is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            token = value if isinstance(value, str) else None
    tokens: CsrfTokens = request.app.state.csrf
    if not tokens.matches(request.cookies.get(CSRF_COOKIE), token):
        raise HTTPException(
            status_code=403,
            detail="This form has expired or did not come from this site; reload and try again.",
        )


def content_security_policy(extra_origins: Iterable[str] = ()) -> str:
    extra = " ".join(sorted(set(extra_origins)))
    sources = f"'self' {extra}".strip()
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"media-src {sources} blob:",
            f"connect-src {sources}",
            f"form-action {sources}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )


class SecurityMiddleware:
    """Pure ASGI (it must not buffer streamed uploads or ranged video responses)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        csp: str,
        bearer_token: str | None = None,
        basic_auth: str | None = None,
        secure_cookies: bool = False,
        host_names: Iterable[str] = (),
        public_origin: str | None = None,
    ) -> None:
        self.app = app
        self.csp = csp
        self.bearer_token = bearer_token
        self.basic_credentials = basic_auth
        self.secure_cookies = secure_cookies
        self.host_names = frozenset({"localhost", *(_bare_name(name) for name in host_names)})
        self.public_origin = public_origin.lower() if public_origin else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._with_security_headers(send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path: str = scope["path"]
        host = headers.get("host")
        if not self._signs_in and not path.startswith(_ANY_HOST) and not self._serves(scope, host):
            await _refuse(
                send,
                scope,
                400,
                f"This portal does not answer to the name {host[:100]!r}: open it at localhost "
                "or its address, or add the name to STEREO_SPOT_ALLOWED_HOSTS where it runs.",
            )
            return
        if not self._authorized(path, headers.get("authorization", "")):
            await self._send_unauthorized(send)
            return
        refusal = self._cross_site_refusal(scope, headers)
        if refusal:
            await _refuse(send, scope, 403, refusal)
            return
        if not path.startswith(_UNCAPPED_PREFIXES):
            receive = await _body_within_limit(scope, headers, receive)
            if receive is None:
                await _refuse(
                    send,
                    scope,
                    413,
                    "The request is too large: the portal takes at most "
                    f"{MAX_BODY_BYTES // 1024**2} MiB outside uploads.",
                )
                return

        cookie = SimpleCookie()
        cookie.load(headers.get("cookie", ""))
        nonce = cookie[CSRF_COOKIE].value if CSRF_COOKIE in cookie else None
        set_cookie = nonce is None or len(nonce) < 32
        if set_cookie:
            nonce = secrets.token_urlsafe(32)
        scope.setdefault("state", {})["csrf_nonce"] = nonce

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and set_cookie:
                attributes = "Path=/; HttpOnly; SameSite=Strict"
                if self.secure_cookies:
                    attributes += "; Secure"
                cookie = (b"set-cookie", f"{CSRF_COOKIE}={nonce}; {attributes}".encode())
                message = {**message, "headers": [*message.get("headers", []), cookie]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _with_security_headers(self, send: Send) -> Send:
        security = [
            (b"content-security-policy", self.csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *security]}
            await send(message)

        return send_secure

    @property
    def _signs_in(self) -> bool:
        return bool(self.bearer_token or self.basic_credentials)

    def _serves(self, scope: Scope, host: str | None) -> bool:
        """Whether an open portal answers a request naming ``host``: a name of this machine or
        one it was told of, or an address (a page cannot rebind an address: its origin would
        be that address, not the attacker's name). Also the name the connection came in on
        (``scope["server"]``: under uvicorn an address, in-process test clients' own name).
        No Host at all is no browser's request."""
        if host is None:
            return True
        name = _host_name(host)
        if not name:
            return False
        server = scope.get("server")
        if name in self.host_names or (server and name == str(server[0]).lower()):
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    def _cross_site_refusal(self, scope: Scope, headers: dict[str, str]) -> str | None:
        """Why a change through the JSON API is refused as another site's, or None. Reads are
        left to the browser's same-origin rule: another site's page cannot read the answer."""
        path: str = scope["path"]
        if scope["method"] not in _CHANGES or not (path == "/api" or path.startswith("/api/")):
            return None
        origin = headers.get("origin")
        if headers.get("sec-fetch-site") == "cross-site" or (
            origin is not None and not self._own_origin(origin, headers.get("host", ""))
        ):
            return (
                "The portal's API takes changes from its own pages and from scripts, not from "
                "another site's page (behind a proxy that passes another Host on, set "
                "STEREO_SPOT_PUBLIC_URL to the address the pages are opened at)."
            )
        media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type in _FORM_MEDIA_TYPES:
            return (
                f"The portal's API takes a JSON body (Content-Type: application/json), not "
                f"{media_type}, which another site's form could send."
            )
        return None

    def _own_origin(self, origin: str, host: str) -> bool:
        """Whether ``origin`` is the portal's own: the Host the browser sent to (the page's
        address, the default port left out), or the public URL, which is what a page behind
        a proxy that ends TLS and passes another Host on sees."""
        origin = origin.lower()
        if origin == self.public_origin:
            return True
        scheme, separator, address = origin.partition("://")
        default_port = _DEFAULT_PORTS.get(scheme)
        if not separator or default_port is None:
            return False  # "null" (a sandboxed frame's form), or no web page's
        return address.removesuffix(default_port) == host.lower().removesuffix(default_port)

    def _authorized(self, path: str, authorization: str) -> bool:
        if not self._signs_in:
            return True
        if path.startswith(_UNAUTHENTICATED_PREFIXES):
            return True
        scheme, _, value = authorization.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and self.bearer_token:
            return hmac.compare_digest(value.strip().encode(), self.bearer_token.encode())
        if scheme == "basic" and self.basic_credentials:
            try:
                supplied = base64.b64decode(value.strip(), validate=True)
            except ValueError:
                return False
            return hmac.compare_digest(supplied, self.basic_credentials.encode())
        return False

    async def _send_unauthorized(self, send: Send) -> None:
        headers = [(b"content-type", b"application/json")]
        if self.basic_credentials:
            headers.append((b"www-authenticate", b'Basic realm="Stereo-Spot", charset="UTF-8"'))
        elif self.bearer_token:
            headers.append((b"www-authenticate", b"Bearer"))
        body = b'{"detail":"Sign in to use Stereo-Spot."}'
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _bare_name(name: str) -> str:
    """A host name as compared: lower case, without the trailing dot of a fully written one."""
    return name.strip().lower().rstrip(".")


def _host_name(host: str) -> str:
    """The name in a Host header (``[::1]:8000`` -> ``::1``), or "" when it is not one a
    browser sends (userinfo, a port that is no number, a bracket left open)."""
    host = host.strip()
    if host.startswith("["):
        name, bracket, port = host[1:].partition("]")
        if not bracket or (port and not (port.startswith(":") and port[1:].isdigit())):
            return ""
        return name.lower()
    name, _, port = host.partition(":")
    if (port and not port.isdigit()) or "@" in name:
        return ""
    return _bare_name(name)


async def _body_within_limit(
    scope: Scope, headers: dict[str, str], receive: Receive
) -> Receive | None:
    """A ``receive`` that replays the request's body, read here whole while it is at most
    ``MAX_BODY_BYTES`` (a declared length is believed; a chunked body is counted); None when it
    is larger, having read no more than that."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    if scope["method"] not in _CHANGES:
        return receive  # nothing reads the body of a GET
    received: list[Message] = []
    size = 0
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            break  # the client went away: the app sees that as it would have
        size += len(message.get("body", b""))
        if size > MAX_BODY_BYTES:
            return None
        if not message.get("more_body", False):
            break

    async def replay() -> Message:
        return received.pop(0) if received else await receive()

    return replay


async def _refuse(send: Send, scope: Scope, status: int, sentence: str) -> None:
    """Answer with ``sentence``: JSON under /api (what its clients read), text for a person."""
    if scope["path"].startswith("/api"):
        content_type, body = b"application/json", json.dumps({"detail": sentence}).encode()
    else:
        content_type, body = b"text/plain; charset=utf-8", sentence.encode()
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
