"""Request bodies read with a bound (past it the request is refused with 413 before more is read), and the
fields of a form-encoded one."""

from __future__ import annotations

from urllib.parse import parse_qsl

from flask import request

from relay.errors import PayloadTooLarge

CHUNK_BYTES = 64 * 1024


def bounded_body(limit: int, *, what: str, setting: str) -> bytes:
    """The raw body, read in chunks up to `limit` + 1 bytes whether its length is declared or chunked;
    PayloadTooLarge as soon as it is known to exceed `limit`."""
    refusal = f"{what} larger than {limit} bytes are refused ({setting})"
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(refusal)
    chunks, size = [], 0
    while size <= limit:
        chunk = request.stream.read(min(CHUNK_BYTES, limit + 1 - size))
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
