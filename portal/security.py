"""Security for the portal: optional auth, CSRF tokens for HTML forms, response headers.

* Auth (when configured): ``Authorization: Bearer <auth_token>`` for scripts, HTTP basic auth
  (``basic_auth = "user:password"``) for browsers. The signed ``/storage`` endpoints are exempt:
  their signature is the credential, as with S3 presigned URLs. Unset = open (bind to 127.0.0.1).
* CSRF: a random cookie plus a form token that is the HMAC of the cookie under a key derived from
  the secret. A form post (or the upload page's start call, via ``X-CSRF-Token``) must carry the
  token that matches its cookie; a site that can plant a cookie still cannot forge the token.
  The JSON API takes JSON bodies and methods a cross-site form cannot send, and job ids are
  unguessable, so it needs no token.
* Headers: a strict CSP (no inline script or style; media and uploads may also go to the storage
  origin), nosniff, no framing, no referrer (pages carry signed URLs).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from http.cookies import SimpleCookie

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "stereo_spot_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_UNAUTHENTICATED_PREFIXES = ("/storage/", "/static/", "/healthz")


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
    ) -> None:
        self.app = app
        self.csp = csp
        self.bearer_token = bearer_token
        self.basic_credentials = basic_auth
        self.secure_cookies = secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path: str = scope["path"]
        if not self._authorized(path, headers.get("authorization", "")):
            await self._send_unauthorized(send)
            return

        cookie = SimpleCookie()
        cookie.load(headers.get("cookie", ""))
        nonce = cookie[CSRF_COOKIE].value if CSRF_COOKIE in cookie else None
        set_cookie = nonce is None or len(nonce) < 32
        if set_cookie:
            nonce = secrets.token_urlsafe(32)
        scope.setdefault("state", {})["csrf_nonce"] = nonce

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"content-security-policy", self.csp.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                if set_cookie:
                    attributes = "Path=/; HttpOnly; SameSite=Strict"
                    if self.secure_cookies:
                        attributes += "; Secure"
                    extra.append((b"set-cookie", f"{CSRF_COOKIE}={nonce}; {attributes}".encode()))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _authorized(self, path: str, authorization: str) -> bool:
        if not self.bearer_token and not self.basic_credentials:
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
