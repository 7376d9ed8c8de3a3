"""What the relay answers a Slack user with: ephemeral replies now, or later through a response_url."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from relay.clients.deadline import DeadlinePassed
from relay.clients.slack import ResponseUrlRefused, respond
from schemas.mrkdwn import truncate

if TYPE_CHECKING:
    from relay.services import Services

log = logging.getLogger(__name__)

MAX_TEXT = 3000
NO_GATE = "The relay has no `GATE_URL`, so it cannot reach Spinnaker."


def ephemeral(text: str, blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A reply only the person who asked can see; `text` is the notification and screen-reader fallback."""
    body: dict[str, Any] = {"response_type": "ephemeral", "text": truncate(text, MAX_TEXT)}
    if blocks:
        body["blocks"] = blocks
    return body


def tell(services: Services, response_url: str | None, body: dict[str, Any]) -> None:
    """Post a later answer to the response_url of the command or click it answers, if it is Slack's. A
    failure is logged, not raised: the work it reports is done, and repeating that work to report it again
    would be worse. Only an answer never sent, for want of time, is raised (DeadlinePassed)."""
    if not response_url:
        log.warning("no response_url to answer with: %s", body.get("text"))
        return
    try:
        respond(response_url, body, slack_api_url=services.settings.slack_api_url)
    except DeadlinePassed:
        raise  # nothing was sent: the job's time is up or its worker is stopping, and it is run again
    except (ResponseUrlRefused, OSError) as err:
        log.warning("could not answer through the response_url: %s", err)
