"""What the AWS adapters say when S3 or DynamoDB itself cannot be used.

botocore reports a table that does not exist, a bucket nobody created or an endpoint nothing
listens on as an exception under a 30-line traceback ("An error occurred
(ResourceNotFoundException) when calling the Scan operation"). A user needs one sentence naming
the bucket, table or endpoint: :class:`~stereo_spot.errors.StoreUnavailable`, which the CLI prints
and the portal answers 503 with. Each adapter says what its own service's "not there" looks like
(``_unavailable``); :func:`reports_unavailable` puts that round every one of its public methods.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from boto3.exceptions import Boto3Error, RetriesExceededError
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from stereo_spot.errors import StoreUnavailable

# Refusals of who asks, not of what is asked: no valid credentials, or no permission.
_REFUSED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)

Adapter = TypeVar("Adapter", bound=type)


def reports_unavailable(cls: Adapter) -> Adapter:
    """Make every public method of an AWS adapter raise StoreUnavailable, with the adapter's
    sentence (``self._unavailable(fault)``), for an AWS fault it leaves unhandled.

    Round the methods rather than each client call: a method's own handling comes first (a
    conditional write that lost, a key that is missing, an index still being built), so what
    reaches here is about the bucket, the table or the endpoint themselves.
    """
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, _reporting(member))
    return cls


def _reporting(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def reported(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (BotoCoreError, ClientError, Boto3Error) as error:
            sentence = self._unavailable(fault_behind(error))
            if sentence is None:
                raise
            raise StoreUnavailable(sentence) from None

    return reported


def fault_behind(error: BaseException) -> BaseException:
    """The botocore error a boto3 transfer error stands for: ``upload_file`` raises
    S3UploadFailedError inside its ``except ClientError`` (the ClientError is its context), and
    a download that ran out of retries keeps the last fault."""
    if isinstance(error, RetriesExceededError) and error.last_exception is not None:
        return fault_behind(error.last_exception)
    inner = error.__cause__ or error.__context__
    if isinstance(error, Boto3Error) and inner is not None:
        return fault_behind(inner)
    return error


def service_fault_sentence(service: str, client: Any, fault: BaseException) -> str | None:
    """What a fault any AWS service may give means, in one sentence: its endpoint unreachable,
    no credentials, or credentials refused. None for any other fault (the adapter's own to say,
    or a bug, which keeps its traceback)."""
    endpoint = endpoint_of(client)
    if isinstance(fault, BotoConnectionError | HTTPClientError):
        return f"Cannot reach {service} at {endpoint}: {_clause(fault)}."
    if isinstance(fault, BotoCoreError):
        return f"Cannot use {service} at {endpoint}: {_clause(fault)}."
    if isinstance(fault, ClientError) and error_code(fault) in _REFUSED_CODES:
        message = fault.response.get("Error", {}).get("Message") or error_code(fault)
        return f"{service} at {endpoint} refused the request: {_clause(message)}."
    return None


def error_code(fault: BaseException) -> str | None:
    if not isinstance(fault, ClientError):
        return None
    return str(fault.response.get("Error", {}).get("Code"))


def endpoint_of(client: Any) -> str:
    return str(getattr(getattr(client, "meta", None), "endpoint_url", None) or "AWS")


def _clause(text: object) -> str:
    """``text`` ready to end a sentence of ours (botocore's own end with a full stop, or not)."""
    return str(text).strip().rstrip(".")
