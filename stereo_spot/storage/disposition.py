"""How a download is named to the browser that saves it: one ``Content-Disposition`` for S3's
presigned URLs and the local storage's signed ones alike."""

from __future__ import annotations

import re
from urllib.parse import quote

_UNSAFE_FILENAME_CHARS = re.compile(r'[\x00-\x1f\x7f"\\/;]')


def content_disposition(filename: str) -> str:
    """``attachment`` with the exact name in ``filename*``, percent-encoded UTF-8 (RFC 6266,
    5987), and an ASCII ``filename`` for clients without it, where each character a quoted
    string cannot carry safely (quotes, backslashes, separators, controls) is ``_``, and ``%``
    too, which some browsers decode there."""
    name = filename.strip() or "download"
    fallback = _UNSAFE_FILENAME_CHARS.sub("_", name).replace("%", "_")
    fallback = fallback.encode("ascii", "replace").decode("ascii").replace("?", "_")
    if fallback == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
