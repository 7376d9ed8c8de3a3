"""JSON from outside, refusing what a JSON parser takes but UTF-8 storage and Slack cannot."""

from __future__ import annotations

import json
import re
from typing import Any

# `\uD800`-`\uDFFF`: only legal in pairs; a lone one decodes to a str that cannot be encoded as UTF-8.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def strict_loads(text: str) -> Any:
    """`json.loads`, also refusing NaN and Infinity, nesting too deep to parse and unpaired surrogate escapes
    (all as ValueError)."""
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
