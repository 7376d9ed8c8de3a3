"""Blueprint for operators: liveness."""

from __future__ import annotations

from flask import Blueprint, jsonify

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    """Alive: the process answers HTTP."""
    return jsonify({"status": "ok"})
