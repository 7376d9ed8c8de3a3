"""JSON from outside, refusing what a JSON parser takes but UTF-8 storage and Slack cannot."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# `\uD800`-`\uDFFF`: only legal in pairs; a lone one decodes to a str that cannot be encoded as UTF-8.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def strict_loads(text: str | bytes) -> Any:
    """The document in `text` (a str, or bytes in UTF-8 or the UTF-16/32 that JSON allows), refusing NaN
    and Infinity, nesting too deep to parse and unpaired surrogate escapes (all as ValueError).

    orjson reads every valid UTF-8 document and refuses all of these itself (nesting past 1,024 levels; it
    reads integers past 64 bits as floats). Whatever it refuses, a byte order mark or another encoding
    included, is read again by the standard library, so that a refusal names the problem as before."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    if isinstance(text, bytes):
        text = text.decode(json.detect_encoding(text))  # UnicodeDecodeError is a ValueError
    return _stdlib_loads(text)


def _stdlib_loads(text: str) -> Any:
    try:
        document = json.loads(text, parse_constant=reject_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if SURROGATE_ESCAPE.search(text) and not _encodable(document):
        raise ValueError("holds an unpaired UTF-16 surrogate escape")
    return document


def reject_constant(name: str) -> Any:
    """`json.loads` hook: NaN and Infinity are not JSON, and no time or count in an event can be one."""
    raise ValueError(f"{name} is not valid JSON")


def _encodable(document: Any) -> bool:
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
