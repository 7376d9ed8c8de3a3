"""Request bodies as JSON documents, refusing what a JSON parser takes but UTF-8 storage and Slack cannot."""

from __future__ import annotations

import json
import re
from typing import Any

from relay.errors import BadRequest

# `\uD800`-`\uDFFF`: only legal in pairs; a lone one decodes to a str that cannot be encoded as UTF-8.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def parse_json(raw: bytes) -> Any:
    """The document in `raw` (UTF-8, or the UTF-16/32 that JSON allows); BadRequest for bytes that are not
    that encoding, invalid JSON, nesting too deep to parse, or an unpaired surrogate escape."""
    try:
        text = raw.decode(json.detect_encoding(raw))
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    if SURROGATE_ESCAPE.search(text) and not _encodable(document):
        raise BadRequest("the body is not valid JSON: it holds an unpaired UTF-16 surrogate escape")
    return document


def _encodable(document: Any) -> bool:
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
