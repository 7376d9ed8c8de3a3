"""Blueprint for Slack interactivity: POST /slack/interactions (and Gate's callback path, for re-pointed
apps)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from marshmallow import ValidationError

from relay.errors import BadRequest
from relay.web.body import form_fields
from relay.web.replays import first_signed
from relay.web.verification import verified_body
from schemas.strict_json import strict_loads

bp = Blueprint("interactions", __name__)


@bp.post("/slack/interactions")
@bp.post("/notifications/callbacks/slack")
def slack_interactions() -> Response | tuple[str, int]:
    """Bound the body, verify its signature, route the payload once (a replay is acknowledged and dropped),
    answer within Slack's 3 seconds."""
    services = current_app.extensions["relay"]
    raw = verified_body(services.verifier, limit=services.settings.max_slack_bytes)
    if not first_signed(services, request.headers):
        return "", 200
    payload = _payload(raw)
    ack = services.handlers.handle_interaction(services, payload)
    if ack is None:
        return "", 200
    return jsonify(ack)


def _payload(raw: bytes) -> dict:
    field = form_fields(raw).get("payload")
    if field is None:
        raise BadRequest("interactions carry a form field named payload")
    try:
        payload = strict_loads(field)
    except ValueError as err:
        raise BadRequest("the payload field is not valid JSON", details=str(err)[:200]) from None
    if not isinstance(payload, dict):
        raise ValidationError("the payload must be a JSON object", field_name="payload")
    return payload
