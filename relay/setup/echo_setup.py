"""The Echo configuration that points Spinnaker at the relay, with the credentials the relay expects.

Secrets appear as `${VARIABLE}` placeholders that Echo resolves from its own environment, never as values.
"""

from __future__ import annotations

from typing import Any

import yaml

from relay.config import Settings

EVENTS_PATH = "/echo/events"
RETRY_COUNT = 3


def rest_endpoint(settings: Settings, url: str) -> dict[str, Any]:
    """Echo's `rest.endpoints[]` entry: the relay's webhook and its credentials."""
    endpoint: dict[str, Any] = {"url": url.rstrip("/") + EVENTS_PATH}
    if settings.echo_token:
        endpoint["headers"] = {"Authorization": "Bearer ${RELAY_ECHO_TOKEN}"}
    elif settings.echo_username:
        endpoint.update(username=settings.echo_username, password="${RELAY_ECHO_PASSWORD}")
    endpoint["retryCount"] = RETRY_COUNT
    return endpoint


def echo_profile(settings: Settings, url: str) -> dict[str, Any]:
    """`echo-local.yml`: REST events to the relay, and Echo's own Slack sending off (the relay sends)."""
    return {"rest": {"enabled": True, "endpoints": [rest_endpoint(settings, url)]},
            "slack": {"enabled": False}}


def spinnaker_service(settings: Settings, url: str) -> dict[str, Any]:
    """The same profile inside a SpinnakerService, for the Spinnaker Operator."""
    return {"apiVersion": "spinnaker.io/v1alpha2", "kind": "SpinnakerService",
            "metadata": {"name": "spinnaker"},
            "spec": {"spinnakerConfig": {"profiles": {"echo": echo_profile(settings, url)}}}}


def echo_config_text(settings: Settings, url: str) -> str:
    """Both snippets, commented, ready to paste."""
    if settings.echo_token:
        secret = "Echo must have RELAY_ECHO_TOKEN in its environment (the relay's RELAY_ECHO_TOKEN)."
    elif settings.echo_username:
        secret = "Echo must have RELAY_ECHO_PASSWORD in its environment (the relay's RELAY_ECHO_PASSWORD)."
    else:
        secret = ("WARNING: the relay accepts events without credentials. Set RELAY_ECHO_TOKEN (or "
                  "RELAY_ECHO_USERNAME and RELAY_ECHO_PASSWORD) and run this again.")
    dump = dict(sort_keys=False, default_flow_style=False)
    return "\n".join([
        "# echo-local.yml (Halyard: ~/.hal/<deployment>/profiles/echo-local.yml)",
        f"# {secret}",
        yaml.safe_dump(echo_profile(settings, url), **dump),
        "---",
        "# Spinnaker Operator: merge into your SpinnakerService",
        yaml.safe_dump(spinnaker_service(settings, url), **dump),
    ])
