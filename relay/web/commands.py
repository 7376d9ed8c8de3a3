"""Blueprint for the `/spinnaker` slash command: POST /slack/commands."""

from __future__ import annotations

from urllib.parse import parse_qs

from flask import Blueprint, Response, current_app, jsonify, request

from relay.commands.slash import handle_command
from relay.web.verification import verified_body

bp = Blueprint("commands", __name__)


@bp.post("/slack/commands")
def slack_commands() -> Response | tuple[str, int]:
    """Verify the signature on the raw body, answer within Slack's 3 seconds."""
    services = current_app.extensions["relay"]
    raw = request.get_data(cache=True)
    # Slack's certificate probe; answering it does nothing and tells nothing.
    if parse_qs(raw.decode("utf-8", "replace")).get("ssl_check") == ["1"]:
        return "", 200
    verified_body(services.verifier)
    ack = handle_command(services, request.form.to_dict())
    return jsonify(ack) if ack else ("", 200)
