"""The relay's Slack Web API client: posting, updating, threading, joining, ephemeral messages, modals and
Home tabs, with Slack's errors sorted."""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from relay.clients.deadline import bounded
from relay.metrics import Metrics
from schemas.mrkdwn import safe_payload

CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
# Errors that no retry can fix; the delivery fails with the reason recorded.
PERMANENT_ERRORS = frozenset({
    "channel_not_found", "is_archived", "invalid_auth", "not_authed", "account_inactive", "token_revoked",
    "token_expired", "no_permission", "missing_scope", "invalid_blocks", "invalid_blocks_format",
    "msg_too_long", "msg_blocks_too_long", "no_text", "restricted_action", "too_many_attachments",
    "invalid_arguments", "ekm_access_denied", "team_access_not_granted", "not_allowed_token_type",
    "thread_not_found", "method_not_supported_for_channel_type", "user_not_found", "cannot_dm_bot",
    "not_enabled", "view_too_large",  # views.publish: the app's Home tab is off; the view is over 250 KB
})
# A modal opened while Slack waits for the command's ack: the trigger_id lasts 3 seconds, and so does Slack.
OPEN_VIEW_TIMEOUT = 2
# Where Slack's response_urls point; the origin of SLACK_API_URL is trusted too (a proxy, or a test double).
SLACK_HOOKS_ORIGIN = ("https", "hooks.slack.com", 443)
DEFAULT_PORTS = {"http": 80, "https": 443}
# chat.update errors that mean "post a new message instead".
GONE_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})


@dataclass(frozen=True)
class SlackFailure:
    """How a Slack call failed: the API error code, the HTTP status and Slack's Retry-After."""

    error: str
    status: int | None = None
    retry_after: float | None = None

    @property
    def rate_limited(self) -> bool:
        return self.status == 429 or self.error in ("ratelimited", "rate_limited")

    @property
    def permanent(self) -> bool:
        return self.error in PERMANENT_ERRORS


def classify(err: Exception) -> SlackFailure:
    """Turn a slack_sdk exception (or a transport error) into a SlackFailure."""
    if isinstance(err, SlackApiError):
        response = err.response
        retry_after = response.headers.get("Retry-After") or response.headers.get("retry-after")
        # slack_sdk puts a description of a non-JSON answer (a proxy's error page) in `error`; the status
        # says more.
        content_type = response.headers.get("Content-Type") or response.headers.get("content-type")
        from_slack = "json" in str(content_type) and isinstance(response.data, dict)
        error = response.get("error") if from_slack else None
        return SlackFailure(error=str(error or f"http_{response.status_code}"), status=response.status_code,
                            retry_after=_seconds(retry_after))
    return SlackFailure(error=f"{type(err).__name__}: {err}"[:300])


def granted_scopes(response: SlackResponse) -> frozenset[str] | None:
    """The scopes a Web API answer says the token has (its x-oauth-scopes header), or None without one."""
    header = next((v for k, v in response.headers.items() if k.lower() == "x-oauth-scopes"), None)
    return None if header is None else frozenset(s.strip() for s in str(header).split(",") if s.strip())


def build_client(*, token: str, base_url: str, timeout: float = 10.0,
                 metrics: Metrics | None = None) -> WebClient:
    """A WebClient with the SDK's own retries off: the dispatcher retries from the store, so a lost
    response is never re-sent blindly from memory. With `metrics`, every call is timed and counted."""
    options = {"token": token, "base_url": base_url, "timeout": int(timeout), "retry_handlers": []}
    return MeteredWebClient(metrics=metrics, **options) if metrics else BoundedWebClient(**options)


class BoundedWebClient(WebClient):
    """A WebClient whose calls end by the deadline of the work making them (relay.clients.deadline): a call
    with less time left than the client's timeout is made with what is left."""

    def api_call(self, api_method: str, **options: Any) -> SlackResponse:
        timeout = bounded(self.timeout)
        if timeout >= self.timeout:
            return super().api_call(api_method, **options)
        cut = copy.copy(self)  # the client is shared by threads: each cut call has a copy of its own
        cut.timeout = timeout
        return WebClient.api_call(cut, api_method, **options)


class MeteredWebClient(BoundedWebClient):
    """A WebClient reporting each Web API call's latency and outcome (ok, error, rate_limited)."""

    def __init__(self, *, metrics: Metrics, **options: Any) -> None:
        super().__init__(**options)
        self.metrics = metrics

    def api_call(self, api_method: str, **options: Any) -> SlackResponse:
        started = time.perf_counter()
        outcome = "error"
        try:
            response = super().api_call(api_method, **options)
            outcome = "ok"
            return response
        except SlackApiError as err:
            outcome = "rate_limited" if classify(err).rate_limited else "error"
            raise
        finally:
            self.metrics.slack_call(api_method, time.perf_counter() - started, outcome)


class SlackPoster:
    """Posts, updates and joins on behalf of the dispatcher; answers clicks with ephemerals and modals.
    Every body and view passes `safe_payload` on its way out."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def post(self, channel: str, body: dict[str, Any], *, thread_ts: str | None = None) -> tuple[str, str]:
        """chat.postMessage; returns (channel ID, ts)."""
        body = safe_payload(body)
        response = self.client.chat_postMessage(
            channel=channel, text=body["text"], blocks=body.get("blocks"), thread_ts=thread_ts,
            reply_broadcast=bool(body.get("reply_broadcast")) if thread_ts else None,
            unfurl_links=False, unfurl_media=False)
        return response["channel"], response["ts"]

    def update(self, channel: str, ts: str, body: dict[str, Any]) -> None:
        """chat.update with the full block list (a replacement, not a patch)."""
        body = safe_payload(body)
        self.client.chat_update(channel=channel, ts=ts, text=body["text"], blocks=body.get("blocks") or [])

    def post_ephemeral(self, channel: str, user: str, body: dict[str, Any], *,
                       thread_ts: str | None = None) -> None:
        """chat.postEphemeral: a message only `user` sees (best effort: Slack does not guarantee delivery)."""
        body = safe_payload(body)
        self.client.chat_postEphemeral(channel=channel, user=user, text=body["text"],
                                       blocks=body.get("blocks"), thread_ts=thread_ts)

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> str:
        """views.open: show a modal; the trigger_id is good for one use within 3 seconds of the click, so
        the call gives up (OSError) after OPEN_VIEW_TIMEOUT. Returns the view's id, for update_view."""
        client = copy.copy(self.client)
        client.timeout = OPEN_VIEW_TIMEOUT
        return client.views_open(trigger_id=trigger_id, view=safe_payload(view))["view"]["id"]

    def update_view(self, view_id: str, view: dict[str, Any]) -> None:
        """views.update: replace an open modal's content (Slack answers `not_found` once it is closed)."""
        self.client.views_update(view_id=view_id, view=safe_payload(view))

    def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        """views.publish: replace the Home tab `user_id` sees with `view` (a `home` view)."""
        self.client.views_publish(user_id=user_id, view=safe_payload(view))

    def join(self, channel: str) -> None:
        """conversations.join, for `not_in_channel` on a public channel (named channels are looked up)."""
        self.client.conversations_join(channel=self.channel_id(channel))

    def channel_id(self, channel: str) -> str:
        """A channel's ID: IDs pass through, `#name` and `name` are found with conversations.list."""
        if CHANNEL_ID.match(channel):
            return channel
        name = channel.lstrip("#")
        for page in self.client.conversations_list(types="public_channel", exclude_archived=True, limit=1000):
            for conversation in page.get("channels", []):
                if conversation.get("name") == name:
                    return conversation["id"]
        raise LookupError(f"no public channel named {name}")


class ResponseUrlRefused(Exception):
    """Slack did not take a response_url post (expired, used five times, or a malformed body), or the URL
    is not Slack's and was not followed."""


def respond(response_url: str, body: dict[str, Any], *, slack_api_url: str, timeout: float = 10.0) -> None:
    """POST a message to an interaction's response_url, if it points at Slack. WebhookClient returns errors
    instead of raising them, so a refusal is raised here; the URL stays out of the error, since it lets
    anyone post."""
    if not is_slack_url(response_url, slack_api_url=slack_api_url):
        raise ResponseUrlRefused(f"the response_url points at {_origin_text(response_url)}, not at Slack "
                                 "(hooks.slack.com or SLACK_API_URL's host), so it was not followed")
    response = WebhookClient(response_url, timeout=bounded(timeout)).send_dict(safe_payload(body))
    if response.status_code != 200:
        raise ResponseUrlRefused(f"response_url answered {response.status_code}: {str(response.body)[:200]}")


def is_slack_url(url: str, *, slack_api_url: str) -> bool:
    """Whether `url` is on https://hooks.slack.com or on the scheme, host and port of SLACK_API_URL. Anyone
    who can get a request signed, or edit a stored job, chooses a response_url: nothing else is followed."""
    origin = _origin(url)
    return origin is not None and origin in (SLACK_HOOKS_ORIGIN, _origin(slack_api_url))


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL without userinfo; None for anything else or unparsable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def _origin_text(url: str) -> str:
    origin = _origin(url)
    return f"{origin[0]}://{origin[1]}:{origin[2]}" if origin else "something that is not an http(s) URL"


def _seconds(value: Any) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None
