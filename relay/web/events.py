"""Blueprint for Slack's Events API: POST /slack/events (URL verification, and the events the app subscribes
to), answered within Slack's 3 seconds; the work each event asks for is a job."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, jsonify, request
from marshmallow import ValidationError

from relay.web.body import parse_json
from relay.web.replays import first_event, first_signed
from relay.web.verification import verified_body

if TYPE_CHECKING:
    from relay.services import Services

log = logging.getLogger(__name__)

bp = Blueprint("events", __name__)
MAX_CHALLENGE = 200  # Slack's challenges are about 50 characters; nothing longer is echoed


@bp.post("/slack/events")
def slack_events() -> Response | tuple[str, int]:
    """Bound the body and verify its signature before parsing it; answer URL verification with its
    challenge; queue each event's work once, however often Slack retries it (X-Slack-Retry-Num)."""
    services = current_app.extensions["relay"]
    raw = verified_body(services.verifier, limit=services.settings.max_slack_bytes)
    if not first_signed(services, request.headers):
        return "", 200
    payload = parse_json(raw)
    if not isinstance(payload, dict):
        raise ValidationError("an Events API body is a JSON object")
    if payload.get("type") == "url_verification":
        challenge = payload.get("challenge")
        if not isinstance(challenge, str) or not 0 < len(challenge) <= MAX_CHALLENGE:
            raise ValidationError("url_verification carries a challenge string", field_name="challenge")
        return jsonify({"challenge": challenge})
    accept_event(services, payload, retry=request.headers.get("X-Slack-Retry-Num"))
    return "", 200


def accept_event(services: Services, payload: dict[str, Any], *, retry: Any = None) -> None:
    """Queue the job an `event_callback` asks for, once per `event_id` (over HTTP or Socket Mode); events
    the relay has no use for are acknowledged and dropped."""
    job = services.handlers.event_job(services, payload)
    if job is None:
        return
    event_id = payload.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        raise ValidationError("an event_callback carries its event_id", field_name="event_id")
    if not first_event(services, event_id, job=job):
        log.info("event %.80s was taken before; Slack's retry %.8s dropped", event_id, retry or "-")
