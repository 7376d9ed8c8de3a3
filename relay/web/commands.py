"""Blueprint for the `/spinnaker` slash command: POST /slack/commands."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from relay.commands.slash import handle_command
from relay.web.body import form_fields
from relay.web.replays import first_signed
from relay.web.verification import check_signature, slack_body

bp = Blueprint("commands", __name__)
SSL_CHECK_BYTES = 512  # Slack's certificate probe is `ssl_check=1&token=…`; nothing larger is parsed unsigned


@bp.post("/slack/commands")
def slack_commands() -> Response | tuple[str, int]:
    """Bound the body, verify its signature, run the command once (a replay is acknowledged and dropped),
    answer within Slack's 3 seconds."""
    services = current_app.extensions["relay"]
    raw = slack_body(services.settings.max_slack_bytes)
    # Slack's certificate probe, unsigned; answering it does nothing and tells nothing.
    if len(raw) <= SSL_CHECK_BYTES and form_fields(raw).get("ssl_check") == "1":
        return "", 200
    check_signature(services.verifier, raw)
    if not first_signed(services, request.headers):
        return "", 200
    ack = handle_command(services, form_fields(raw))
    return jsonify(ack) if ack else ("", 200)
