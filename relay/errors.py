"""The relay's error tree and the one JSON error shape every endpoint answers with."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException


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


def register_error_handlers(app: Flask) -> None:
    """Turn RelayError, ValidationError and HTTP errors into the JSON error shape; never leak a traceback."""

    @app.errorhandler(RelayError)
    def _relay_error(err: RelayError):
        return jsonify(error_body(err.code, err.message, err.details)), err.status

    @app.errorhandler(ValidationError)
    def _validation_error(err: ValidationError):
        return jsonify(error_body("invalid_payload", "the payload does not have the expected shape",
                                  err.messages)), 422

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        code = (err.name or "error").lower().replace(" ", "_")
        return jsonify(error_body(code, err.description or err.name)), err.code or 500

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        app.logger.exception("unhandled error")
        return jsonify(error_body("internal_error", "the relay could not handle this request")), 500
