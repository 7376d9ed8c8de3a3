"""The relay's error tree and the one JSON error shape every endpoint answers with."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class RelayError(Exception):
    """An error with an HTTP status and a stable machine-readable code."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigError(RelayError):
    """The relay's configuration is missing or invalid; startup stops."""

    code = "bad_config"


class BadRequest(RelayError):
    status = 400
    code = "bad_request"


class Unauthorized(RelayError):
    status = 401
    code = "unauthorized"


class PayloadTooLarge(RelayError):
    status = 413
    code = "payload_too_large"


def error_body(code: str, message: str, details: Any = None) -> dict:
    """The single error shape: {"error": {"code", "message", "details"}}."""
    return {"error": {"code": code, "message": message, "details": details}}


def error_answer(err: Exception) -> tuple[dict, int]:
    """The JSON error body and status for `err`: a RelayError's own, 422 for a ValidationError, an HTTP
    error's status, and for anything else a 500 that logs the traceback and leaks none of it."""
    if isinstance(err, RelayError):
        return error_body(err.code, err.message, err.details), err.status
    if isinstance(err, ValidationError):
        message = "the payload does not have the expected shape"
        return error_body("invalid_payload", message, err.messages), 422
    if isinstance(err, HTTPException):
        code = (err.name or "error").lower().replace(" ", "_")
        return error_body(code, err.description or err.name), err.code or 500
    log.exception("unhandled error")
    return error_body("internal_error", "the relay could not handle this request"), 500


def register_error_handlers(app: Flask) -> None:
    """Answer every error raised in a view with `error_answer`; never a traceback."""

    @app.errorhandler(Exception)
    def _error(err: Exception):
        body, status = error_answer(err)
        return jsonify(body), status
