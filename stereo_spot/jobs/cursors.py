"""Page cursors: where a listing's page ended, opaque to whoever pages through it.

A cursor is URL-safe base64 (unpadded) of a JSON object holding the last job's sort fields. Each
listing names the fields it expects, so a cursor made by one listing is refused by another, and
anything a caller makes up is refused as not valid (``InvalidKey``: the portal answers 400).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from stereo_spot.errors import InvalidKey


def encode(fields: Mapping[str, str]) -> str:
    text = json.dumps(dict(fields), separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(cursor: str, names: tuple[str, ...]) -> dict[str, str]:
    """The fields ``encode`` was given, if the cursor holds exactly ``names``, each a non-empty
    string; raises InvalidKey otherwise."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        fields = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):  # bad base64, bytes that are not UTF-8 or not JSON
        fields = None
    if (
        not isinstance(fields, dict)
        or sorted(fields) != sorted(names)
        or not all(
            isinstance(value, str) and value and _encodable(value) for value in fields.values()
        )
    ):
        raise InvalidKey("That page cursor is not valid.")
    return fields


def _encodable(text: str) -> bool:
    """Whether a store can take ``text``: JSON's ``\\ud800`` makes a string no encoding can
    carry, which SQLite and DynamoDB fail on rather than refuse."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
