"""Blueprint for Slack interactivity: POST /slack/interactions (and Gate's callback path, for re-pointed
apps)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from marshmallow import ValidationError

from relay.errors import BadRequest
from relay.web.verification import verified_body
from schemas.strict_json import strict_loads

bp = Blueprint("interactions", __name__)


@bp.post("/slack/interactions")
@bp.post("/notifications/callbacks/slack")
def slack_interactions() -> Response | tuple[str, int]:
    """Verify the signature on the raw body, route the payload, answer within Slack's 3 seconds."""
    services = current_app.extensions["relay"]
    verified_body(services.verifier)
    payload = _payload()
    ack = services.handlers.handle_interaction(services, payload)
    if ack is None:
        return "", 200
    return jsonify(ack)


def _payload() -> dict:
    raw = request.form.get("payload")
    if raw is None:
        raise BadRequest("interactions carry a form field named payload")
    try:
        payload = strict_loads(raw)
    except ValueError as err:
        raise BadRequest("the payload field is not valid JSON", details=str(err)[:200]) from None
    if not isinstance(payload, dict):
        raise ValidationError("the payload must be a JSON object", field_name="payload")
    return payload
