"""Request bodies as the relay reads them: within a bound (413 past it, before more is read), as JSON with
strict rules, or as a form's fields; a 4xx naming the problem otherwise."""

from __future__ import annotations

from typing import Any, BinaryIO
from urllib.parse import parse_qsl

from flask import request

from relay.errors import BadRequest, PayloadTooLarge
from schemas.strict_json import strict_loads

CHUNK_BYTES = 64 * 1024


def parse_json(raw: bytes) -> Any:
    """The document in a request body (UTF-8, or the UTF-16/32 that JSON allows); BadRequest otherwise."""
    try:
        return strict_loads(raw)
    except ValueError as err:
        raise BadRequest("the body is not valid JSON", details=str(err)[:200]) from None


def bounded_body(limit: int, *, what: str, setting: str) -> bytes:
    """The raw body of Flask's current request, as `read_bounded` reads it."""
    return read_bounded(request.stream, request.content_length, limit, what=what, setting=setting)


def read_bounded(stream: BinaryIO, declared: int | None, limit: int, *, what: str, setting: str) -> bytes:
    """The body in `stream` (`declared` bytes long, None when chunked), read in chunks up to `limit` + 1
    bytes; PayloadTooLarge as soon as it is known to exceed `limit`."""
    refusal = f"{what} larger than {limit} bytes are refused ({setting})"
    if declared is not None and declared > limit:
        raise PayloadTooLarge(refusal)
    # A declared body is asked for whole (the stream ends with it); a chunked one a chunk at a time.
    end, step = (limit + 1, CHUNK_BYTES) if declared is None else (declared, declared)
    chunks, size = [], 0
    while size < end:
        chunk = stream.read(min(step, end - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise PayloadTooLarge(refusal)
    return b"".join(chunks)


def form_fields(raw: bytes) -> dict[str, str]:
    """The fields of a form-encoded body (the first value of a repeated name), undecodable bytes replaced."""
    fields: dict[str, str] = {}
    for name, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(name, value)
    return fields
