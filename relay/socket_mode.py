"""Socket Mode: Slack's interactions, slash commands and events over its WebSocket, for a relay Slack cannot
reach.

Payloads go to the same handlers as the HTTP endpoints; the socket is authenticated, so there is no
signature to check. Every envelope is acknowledged, with the handler's answer when there is one; one Slack
delivers again (its acknowledgement was lost) is acknowledged without taking effect twice.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from marshmallow import ValidationError
from slack_sdk import WebClient
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from relay.commands.slash import handle_command
from relay.errors import RelayError
from relay.web.events import accept_event
from relay.web.replays import first_envelope

if TYPE_CHECKING:
    from relay.services import Services

log = logging.getLogger(__name__)

PING_SECONDS = 5.0


class SocketModeRelay:
    """A slack_sdk SocketModeClient (its own reconnects: on `disconnect`, on close, on a stale socket)
    whose one listener answers envelopes with the relay's handlers."""

    def __init__(self, services: Services, *, app_token: str, web_client: WebClient,
                 ping_interval: float = PING_SECONDS) -> None:
        self.services = services
        self.client = SocketModeClient(app_token=app_token, web_client=web_client,
                                       ping_interval=ping_interval, logger=log)
        self.client.socket_mode_request_listeners.append(self._on_request)

    def connect(self) -> None:
        """Open the first connection (apps.connections.open with the app token); raises if Slack refuses."""
        self.client.connect()

    def close(self) -> None:
        self.client.close()

    def answer(self, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """The ack payload for one envelope: what the HTTP endpoint would have answered, or None."""
        if kind == "slash_commands":
            return handle_command(self.services, payload)
        if kind == "interactive":
            return self.services.handlers.handle_interaction(self.services, payload)
        if kind == "events_api":  # acknowledged empty; a retry of the same event_id queues nothing again
            accept_event(self.services, payload)
        return None

    def _on_request(self, client: SocketModeClient, request: SocketModeRequest) -> None:
        ack = None
        try:
            if not first_envelope(self.services, request.envelope_id):
                log.info("envelope %s was delivered before; acknowledged again only", request.envelope_id)
                return
            ack = self.answer(request.type, request.payload if isinstance(request.payload, dict) else {})
        except (ValidationError, RelayError) as err:
            log.warning("refused a %s envelope: %s", request.type, err)
        except Exception:  # the envelope is acknowledged whatever happens, or Slack shows the user an error
            log.exception("failed to handle a %s envelope", request.type)
        finally:
            client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id, payload=ack))
