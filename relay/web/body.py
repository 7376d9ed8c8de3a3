"""Request bodies as the relay reads them: JSON with strict rules, or a 400 naming the problem."""

from __future__ import annotations

import json
from typing import Any

from relay.errors import BadRequest
from schemas.strict_json import strict_loads


def parse_json(raw: bytes) -> Any:
    """The document in a request body (UTF-8, or the UTF-16/32 that JSON allows); BadRequest otherwise."""
    try:
        return strict_loads(raw.decode(json.detect_encoding(raw)))
    except ValueError as err:
        raise BadRequest("the body is not valid JSON", details=str(err)[:200]) from None
