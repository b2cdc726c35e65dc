"""The boto3 session the AWS adapters make their clients from.

boto3's own session, with two things put right for this project:

* The region. boto3 reads ``AWS_DEFAULT_REGION`` (or a profile's ``region``) only; the AWS CLI
  v2 and DEPLOY.md use ``AWS_REGION``, so that is taken when boto3 finds none. No region at all
  is said in one sentence (:class:`~stereo_spot.errors.StoreUnavailable`), not as botocore's
  ``NoRegionError`` traceback.
* How long a presigned URL works. S3 stops honouring a URL when the credentials that signed it
  expire, whatever its ``X-Amz-Expires`` says. On EKS (IRSA: ``AWS_ROLE_ARN`` and
  ``AWS_WEB_IDENTITY_TOKEN_FILE``) botocore asks STS for a one-hour session and renews it with
  15 minutes left, so a link signed for an hour worked for 10 to 60 minutes. Here the session is
  asked for the longest link the settings give plus :data:`SESSION_OVERHEAD_SECONDS`, and renewed
  early enough that the credentials that sign a link always outlive it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.credentials import (
    AssumeRoleWithWebIdentityCredentialFetcher,
    CredentialProvider,
    RefreshableCredentials,
)
from botocore.exceptions import ClientError
from botocore.utils import FileWebIdentityTokenLoader

from stereo_spot.errors import StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

    import boto3

    from stereo_spot.settings import Settings

# Credentials that sign a link outlive it by this much: clock skew between this machine and S3.
SIGNING_MARGIN_SECONDS = 60
# Renewal is tried (in the background of a request, a failure ridden out) this long before
# signing has to wait for it.
RENEWAL_WINDOW_SECONDS = 5 * 60
# How long one session signs before it is renewed: one STS request per process every 15 minutes.
REUSE_SECONDS = 15 * 60
SESSION_OVERHEAD_SECONDS = SIGNING_MARGIN_SECONDS + RENEWAL_WINDOW_SECONDS + REUSE_SECONDS
# The longest session STS gives for a web identity (and the most an IAM role's
# max_session_duration allows), so the longest link a pod's role can sign for.
MAX_WEB_IDENTITY_SESSION_SECONDS = 12 * 3600
MAX_WEB_IDENTITY_LINK_SECONDS = MAX_WEB_IDENTITY_SESSION_SECONDS - SESSION_OVERHEAD_SECONDS


def aws_session(settings: Settings, clock: Callable[[], datetime] | None = None) -> boto3.Session:
    """A session with a region, whose web-identity credentials (if any) sign links that work for
    as long as ``settings`` say. ``clock`` stands in for the time in tests of the renewal."""
    import boto3
    import botocore.session

    core = botocore.session.Session()
    if core.get_config_variable("region") is None and os.environ.get("AWS_REGION"):
        core.set_config_variable("region", os.environ["AWS_REGION"])
    if core.get_config_variable("region") is None:
        raise StoreUnavailable(
            "No AWS region is set; set AWS_REGION (or AWS_DEFAULT_REGION) to the region of the "
            "bucket and table, e.g. eu-west-1."
        )
    role_arn = os.environ.get("AWS_ROLE_ARN")
    token_file = os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE")
    # Keys in the environment come first in boto3's chain: they are what signs then.
    if role_arn and token_file and not os.environ.get("AWS_ACCESS_KEY_ID"):
        link_seconds = max(settings.upload_url_seconds, settings.download_url_seconds)
        provider = _WebIdentityForLinks(core, role_arn, token_file, link_seconds, clock)
        resolver = core.get_component("credential_provider")
        resolver.insert_before(_WebIdentityForLinks.REPLACES, provider)
    return boto3.session.Session(botocore_session=core)


def web_identity_session_seconds(link_seconds: int) -> int:
    """The session a web identity asks STS for so that it can sign links of ``link_seconds``."""
    if link_seconds > MAX_WEB_IDENTITY_LINK_SECONDS:
        raise StoreUnavailable(
            f"A link signed with this pod's role (AWS_ROLE_ARN) works for at most "
            f"{MAX_WEB_IDENTITY_LINK_SECONDS} s, not the {link_seconds} s that "
            "STEREO_SPOT_UPLOAD_URL_SECONDS or STEREO_SPOT_DOWNLOAD_URL_SECONDS asks for "
            f"(STS gives a session at most {MAX_WEB_IDENTITY_SESSION_SECONDS} s, and "
            f"{SESSION_OVERHEAD_SECONDS} s of it go to renewing it in time); lower the setting."
        )
    return link_seconds + SESSION_OVERHEAD_SECONDS


class _NoCache:
    """A cache that keeps nothing: the credentials decide when to renew, and the fetcher's own
    cache would hand back, until 15 minutes before its end, the very session being renewed."""

    def __contains__(self, key: object) -> bool:
        return False

    def __getitem__(self, key: object) -> Any:
        raise KeyError(key)

    def __setitem__(self, key: object, value: object) -> None:
        pass


class _WebIdentityForLinks(CredentialProvider):
    """botocore's web-identity provider (the one it stands before in the chain), but asking for a
    session that outlives the longest link and renewing it while it still does."""

    METHOD = "stereo-spot-web-identity"
    REPLACES = "assume-role-with-web-identity"

    def __init__(
        self,
        core: Any,
        role_arn: str,
        token_file: str,
        link_seconds: int,
        clock: Callable[[], datetime] | None,
    ) -> None:
        super().__init__(core)
        self._role_arn = role_arn
        self._token_file = token_file
        self._link_seconds = link_seconds
        self._session_seconds = web_identity_session_seconds(link_seconds)
        self._clock = clock or (lambda: datetime.now(UTC))

    def load(self) -> RefreshableCredentials:
        extra_args: dict[str, Any] = {"DurationSeconds": self._session_seconds}
        if os.environ.get("AWS_ROLE_SESSION_NAME"):
            extra_args["RoleSessionName"] = os.environ["AWS_ROLE_SESSION_NAME"]
        fetcher = AssumeRoleWithWebIdentityCredentialFetcher(
            client_creator=self.session.create_client,
            web_identity_token_loader=FileWebIdentityTokenLoader(self._token_file),
            role_arn=self._role_arn,
            extra_args=extra_args,
            cache=_NoCache(),
        )
        mandatory = self._link_seconds + SIGNING_MARGIN_SECONDS
        # Expired and empty until first used, as botocore's own provider does: no STS request
        # until something is signed.
        return RefreshableCredentials(
            access_key=None,
            secret_key=None,
            token=None,
            expiry_time=self._clock(),
            refresh_using=lambda: self._fetched(fetcher),
            method=self.METHOD,
            time_fetcher=self._clock,
            # Signing waits for a new session once the current one has less than a link's life
            # (and the margin) left, so no link outlives what signed it.
            mandatory_timeout=mandatory,
            advisory_timeout=mandatory + RENEWAL_WINDOW_SECONDS,
        )

    def _fetched(self, fetcher: AssumeRoleWithWebIdentityCredentialFetcher) -> dict[str, Any]:
        try:
            return fetcher.fetch_credentials()
        except OSError as error:
            raise StoreUnavailable(
                f"Cannot read the pod's web identity token {self._token_file} "
                f"(AWS_WEB_IDENTITY_TOKEN_FILE): {error.strerror or error}."
            ) from None
        except ClientError as error:
            raise StoreUnavailable(self._refusal_sentence(error)) from None

    def _refusal_sentence(self, error: ClientError) -> str:
        message = str(error.response.get("Error", {}).get("Message") or error).rstrip(".")
        if "DurationSeconds" in message:
            return (
                f"Role {self._role_arn} lets a session last less than the "
                f"{self._session_seconds} s needed to sign links of {self._link_seconds} s "
                "(STEREO_SPOT_UPLOAD_URL_SECONDS / STEREO_SPOT_DOWNLOAD_URL_SECONDS plus "
                f"{SESSION_OVERHEAD_SECONDS} s); raise the role's max_session_duration "
                "(terraform/modules/irsa-role) or lower the setting."
            )
        return f"STS refused a session of role {self._role_arn} to this pod: {message}."
