"""Calling the portal's JSON API (docs/PORTAL.md): its address as typed, signing in, a call
sent again while the portal is away, and its refusals said in its own words, never quoting a
secret."""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import httpx

from stereo_spot.errors import InvalidOption, StereoSpotError

# How long a call that can safely be sent twice (a GET, the start, signing) is tried again while
# the portal cannot be reached or a proxy in front of it answers 502/503/504: a portal restarting
# (a rollout, a node drained) takes about a minute; longer, the run stops, and the same command
# run again picks up where it stopped.
RETRY_SECONDS = 120.0
RETRIED_STATUSES = (502, 503, 504)


class PortalError(StereoSpotError):
    """The portal refused a request, or could not be reached: its reason, in its words;
    ``status``, the HTTP status it answered with (None: no answer, or not the portal's)."""

    def __init__(self, sentence: str, status: int | None = None) -> None:
        super().__init__(sentence)
        self.status = status
        self.fields: list[str] = []  # a 422's refused values, by name in the request's body


class PortalUnusable(PortalError):
    """The portal cannot be reached, asks to sign in, or is not a portal: every other video
    would fail alike."""


class SettingsRefused(PortalError):
    """The portal refused a setting every video of the run shares (an engine its model server
    does not run): every other video would be refused alike."""


@dataclass(frozen=True)
class PortalAddress:
    """A portal's address as typed, taken apart: ``url`` without the user name and password
    (the only form ever printed), and those as basic auth."""

    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)  # kept out of tracebacks


def portal_address(text: str) -> PortalAddress:
    """``submit``'s first argument: an http(s) address, any case, whose ``user:password@``, if
    any, signs in with basic auth."""
    try:
        parts = urlsplit(text)
    except ValueError as error:  # a bracketed IPv6 host left open, say
        raise InvalidOption(f"{text.rpartition('@')[2]}: not a web address ({error}).") from None
    host = parts.netloc.rpartition("@")[2]
    # The password is never echoed, not even in a refusal.
    shown = text.replace(parts.netloc, host, 1) if host != parts.netloc else text
    if "://" not in text or parts.scheme.lower() not in ("http", "https") or not host:
        # "http:/host" (a slash short) is an http address mistyped, not a host named "http:".
        typo = re.match(r"(?i)(https?):/*([^/].*)", shown)
        if typo:
            example = f"{typo[1].lower()}://{typo[2]}"
        else:
            example = f"https://{shown.split('://', 1)[-1] or 'stereo.example.org'}"
        raise InvalidOption(
            f"{shown}: the portal's address starts with https:// or http:// "
            f"(for example {example})."
        )
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number, or out of range
    except ValueError:
        raise InvalidOption(
            f"{shown}: the port after the host must be a number up to 65535."
        ) from None
    # The API's address (.../api/jobs, copied from the docs or a script) is the portal's.
    path = re.sub(r"/api(/.*)?$", "", parts.path)
    url = urlunsplit((parts.scheme.lower(), host, path, parts.query, "")).rstrip("/")
    if parts.username is None:
        return PortalAddress(url)
    return PortalAddress(url, unquote(parts.username), unquote(parts.password or ""))


def basic_auth_from(value: str | None) -> tuple[str, str] | None:
    """``STEREO_SPOT_BASIC_AUTH`` as the portal reads it, ``user:password``."""
    if not value:
        return None
    user, colon, password = value.partition(":")
    if not colon:
        raise InvalidOption(
            "STEREO_SPOT_BASIC_AUTH is the portal's user name and password as user:password; "
            "set it so, or unset it."
        )
    return user, password


class PortalApi:
    """One portal's API over HTTP, signed in with a bearer ``token`` or ``basic`` (user,
    password), ``basic`` first."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        basic: tuple[str, str] | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        """``client``: the HTTP client to use instead of a new one (tests pass the portal
        app's own)."""
        self.base_url = base_url.rstrip("/")
        if token and not basic:
            _refuse_unsendable_token(token)
        # What was sent, to tell "sign in" from "what you gave was refused" on a 401.
        self._signs_in_with = "password" if basic else "token" if token else None
        # Never printed: taken out of any message built from an error's own text.
        self._secrets = [secret for secret in (token, *(basic or ())) if secret]
        headers = {"Authorization": f"Bearer {token}"} if token and not basic else {}
        self._client = client or httpx.Client(
            base_url=self.base_url, headers=headers, auth=basic, timeout=60
        )

    def close(self) -> None:
        self._client.close()

    def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        expect: int | None = None,
        params: dict | None = None,
        retry: bool | None = None,
    ) -> Any:
        """The portal's answer to one API call, its JSON; ``retry`` (default: GETs only) sends
        it again, for up to :data:`RETRY_SECONDS`, while the portal cannot be reached or a proxy
        answers for it that it is away; a call that makes something (a job) is never sent twice.
        """
        retry = method == "GET" if retry is None else retry
        deadline = None
        pause = 1.0
        while True:
            failure: httpx.HTTPError | None = None
            try:
                answer = self._client.request(method, path, json=json, params=params)
                away = answer.status_code in RETRIED_STATUSES and not _portal_said(answer)
                why = f"answered {answer.status_code}"
            except (httpx.LocalProtocolError, httpx.UnsupportedProtocol) as error:
                failure, away = error, False  # ours, not the network's: the same again
            except httpx.TransportError as error:
                failure, away, why = error, True, "could not be reached"
            except httpx.HTTPError as error:
                failure, away = error, False
            if not (retry and away):
                break
            now = time.monotonic()
            if deadline is None:
                deadline = now + RETRY_SECONDS
                print(
                    f"The portal {why} ({method} {path}); trying again for up to "
                    f"{RETRY_SECONDS:g} s",
                    file=sys.stderr,
                )
            if now + pause > deadline:
                break
            time.sleep(pause)
            pause = min(pause * 2, 15.0)
        if failure is not None:
            raise PortalUnusable(self._unreachable_sentence(failure)) from None
        if answer.status_code in RETRIED_STATUSES and not _portal_said(answer):
            tried = f" for {RETRY_SECONDS:g} s" if deadline is not None else ""
            raise PortalUnusable(
                f"The portal at {self.base_url} answered {answer.status_code} to {method} "
                f"{path}{tried} (a proxy in front of it, while it is away).",
                answer.status_code,
            )
        if 300 <= answer.status_code < 400:
            raise PortalUnusable(self._redirect_sentence(answer, path), answer.status_code)
        if answer.status_code == 401:
            raise PortalUnusable(self._sign_in_sentence(answer), 401)
        if answer.status_code >= 400:
            error = PortalError(
                refusal(answer, f"The portal refused {method} {path}"), answer.status_code
            )
            error.fields = _refused_fields(answer)
            raise error
        if expect == 204 or answer.status_code == 204:
            return None
        try:
            return answer.json()
        except ValueError:  # another service's page: confirm_portal says so
            raise PortalError(f"The answer to {method} {path} was not the portal's.") from None

    def _unreachable_sentence(self, error: httpx.HTTPError) -> str:
        """Why the portal could not be reached, in the network's words (never a secret they
        might quote), and the scheme to try where the other one is what answered."""
        said = str(error)
        for secret in self._secrets:
            said = said.replace(secret, "…").replace(repr(secret)[1:-1], "…")
        said = re.sub(r"(?i)(Bearer|Basic) \S+", r"\1 …", said)
        parts = urlsplit(self.base_url)
        hint = ""
        if parts.scheme == "https" and re.search(r"WRONG_VERSION_NUMBER|record layer", said):
            other = urlunsplit(("http", parts.netloc, parts.path, "", ""))
            hint = f"; it answers plain HTTP there: give {other}"
        elif parts.scheme == "http" and isinstance(
            error, (httpx.RemoteProtocolError, httpx.ReadError)
        ):
            other = urlunsplit(("https", parts.netloc, parts.path, "", ""))
            hint = f"; if it serves HTTPS there, give {other}"
        return f"Could not reach the portal at {self.base_url}: {said}{hint}"

    def _redirect_sentence(self, answer: httpx.Response, path: str) -> str:
        """An address that sends elsewhere (http to https at an ingress, a moved host): the one
        to give, the portal's own, not the API's."""
        location = answer.headers.get("location", "")
        if not location:
            return f"{self.base_url} redirects ({answer.status_code}) without saying where."
        target = urlsplit(urljoin(str(answer.request.url), location))
        base = target.path
        if base.endswith(path):
            base = base[: -len(path)]
        host = target.netloc.rpartition("@")[2]
        there = urlunsplit((target.scheme, host, base, "", "")).rstrip("/")
        return f"{self.base_url} redirects to {there}; give that address."

    def _sign_in_sentence(self, answer: httpx.Response) -> str:
        """Why the portal refused: nothing given, or what was given was wrong; and how it signs
        in (a portal with a password asks for basic auth, one with only a token for a bearer)."""
        asks_password = "basic" in answer.headers.get("www-authenticate", "").lower()
        parts = urlsplit(self.base_url)
        address = f"{parts.scheme}://USER:PASSWORD@{parts.netloc}"
        if self._signs_in_with == "password":
            if asks_password:
                return "The portal refused the user name and password given; check them."
            return (
                "The portal refused the user name and password given: it signs in with a "
                "token; pass it with --token (or set STEREO_SPOT_AUTH_TOKEN)."
            )
        if self._signs_in_with == "token":
            if asks_password:
                return (
                    "The portal refused the token given; check --token (or "
                    f"STEREO_SPOT_AUTH_TOKEN), or sign in with its user name and password "
                    f"({address})."
                )
            return "The portal refused the token given; check --token (or STEREO_SPOT_AUTH_TOKEN)."
        if asks_password:
            return (
                "The portal asks to sign in: give its user name and password in its address "
                f"({address}) or in STEREO_SPOT_BASIC_AUTH=USER:PASSWORD."
            )
        return (
            "The portal asks to sign in: pass its token with --token (or set "
            "STEREO_SPOT_AUTH_TOKEN)."
        )


def _detail(answer: httpx.Response) -> object:
    try:
        body = answer.json()
    except ValueError:
        return None
    return body.get("detail") if isinstance(body, dict) else None


def _portal_said(answer: httpx.Response) -> bool:
    """Whether an answer is the portal's own sentence (a 503 naming a bucket that does not
    exist, say, which the same call again will not change), not a proxy's page."""
    return _detail(answer) is not None


def refusal(answer: httpx.Response, fallback: str) -> str:
    """The portal's sentence (``detail``), the values it refused, each named with why
    (FastAPI's list of ``{"loc", "msg"}``), or what went wrong in general."""
    detail = _detail(answer)
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        said = []
        for item in detail:
            if isinstance(item, dict) and isinstance(item.get("msg"), str):
                field = ".".join(map(str, _field_of(item)))
                message = item["msg"].strip()
                message += "" if message.endswith((".", "!", "?")) else "."
                said.append(f"{field}: {message}" if field else message)
        if said:
            return f"The portal refused {' '.join(said)}"
    return f"{fallback} ({answer.status_code})."


def _field_of(item: dict) -> list:
    """A refused value's name in the body (``["body", "engine"]``: engine)."""
    loc = item.get("loc")
    if not isinstance(loc, list):
        return []
    return [part for part in loc if part not in ("body", "query", "path")]


def _refused_fields(answer: httpx.Response) -> list[str]:
    detail = _detail(answer)
    if not isinstance(detail, list):
        return []
    return [
        str(_field_of(item)[0]) for item in detail if isinstance(item, dict) and _field_of(item)
    ]


def _refuse_unsendable_token(token: str) -> None:
    """A token an HTTP header cannot carry (a newline from ``echo $TOKEN > file``, a letter
    outside ASCII) is refused before any request: httpx would quote it in its error, or fail
    with a traceback. The token itself is never said."""
    if all(" " <= character <= "~" or character == "\t" for character in token):
        return
    hint = (
        "a newline at its end?"
        if token.rstrip("\r\n") != token
        else "a letter outside ASCII, or a line break?"
    )
    raise InvalidOption(
        f"The token (--token or STEREO_SPOT_AUTH_TOKEN) holds a character an HTTP header cannot "
        f"carry ({hint}); give the token alone."
    )
