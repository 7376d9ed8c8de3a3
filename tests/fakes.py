"""A fake Slack: a real HTTP server on 127.0.0.1 that answers the Web API like Slack does."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import http
import json
import math
import re
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

__all__ = ["DEFAULT_SCOPES", "Call", "FakeSlack", "Message"]

DEFAULT_SCOPES = (
    "chat:write,chat:write.public,users:read,users:read.email,commands,channels:join,usergroups:read"
)

# Limits Slack enforces server-side (docs.slack.dev); slack_sdk never validates plain dict blocks.
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_BLOCK_ID = 255
MAX_TEXT = 40000
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000
MAX_VIEW_BYTES = 250_000  # views.publish: view_too_large above 250 KB
MAX_CALLBACK_ID = 255
# views.publish is Tier 4: "100+ per minute" per workspace and app (docs.slack.dev rate limits), counted here
# in fixed minute windows of the fake's clock.
VIEWS_PUBLISH_PER_MINUTE = 100
TRIGGER_TTL = 3.0
RESPONSE_URL_USES = 5
RESPONSE_URL_TTL = 30 * 60.0

# Only methods whose scope is in DEFAULT_SCOPES are checked, so the defaults let every method through.
_REQUIRED_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
    "usergroups.users.list": "usergroups:read",
    "conversations.join": "channels:join",
}

RESPONSE_URL = "response_url"  # the Call.method and fail_next() name for response_url posts

_CONVERSATION_ID = re.compile(r"[CGD][A-Z0-9]{2,}")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_FIRST_TS = 1_700_000_000 * 1_000_000 + 100

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One request the fake received; ``method`` is ``response_url`` for webhook posts."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]  # names lower-cased
    at: float  # the fake's clock


@dataclass(frozen=True)
class Message:
    """A message as the fake currently holds it."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    reply_broadcast: bool = False
    updates: int = 0
    user: str = ""
    visible_to: str | None = None  # the recipient of an ephemeral message
    history: tuple[dict[str, Any], ...] = ()  # earlier {"text", "blocks"} versions, oldest first


class _Rejected(Exception):
    """A Web API error, answered as HTTP 200 ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, **fields: Any) -> None:
        super().__init__(error)
        self.error = error
        self.fields = fields


@dataclass
class _Channel:
    id: str
    name: str
    member: bool = True
    private: bool = False
    archived: bool = False
    removed: bool = False

    @property
    def is_im(self) -> bool:
        return self.id.startswith("D")


@dataclass
class _User:
    id: str
    name: str
    real_name: str
    email: str | None
    is_bot: bool


@dataclass
class _Fault:
    error: str | None
    status: int
    retry_after: float | None
    delay: float
    remaining: int
    body: dict[str, Any] | None = None


@dataclass
class _ResponseUrl:
    channel: str | None
    ts: str | None
    user: str | None
    issued_at: float
    uses: int = 0


@dataclass
class _Request:
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"


@dataclass
class _Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


class FakeSlack:
    """A small Slack Web API for ``WebClient(base_url=fake.api_url, token=fake.token)``."""

    team_id = "T0RELAY00"
    team_name = "Relay Test"
    team_url = "https://relay-test.slack.com/"
    bot_user_id = "U0RELAYBOT"
    bot_name = "relay"
    bot_id = "B0RELAYBOT"
    app_id = "A0RELAYAPP"

    def __init__(
        self,
        *,
        token: str = "xoxb-fake-bot-token",
        channel_interval: float = 0.0,
        latency: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        scopes: str = DEFAULT_SCOPES,
        app_token: str = "xapp-fake-app-token",
        home_tab_enabled: bool = True,
        publish_per_minute: int = VIEWS_PUBLISH_PER_MINUTE,
    ) -> None:
        self.token = token
        self.app_token = app_token
        self.channel_interval = channel_interval
        self.latency = latency  # every Web API call is answered after this many seconds
        self.scopes = scopes
        self.home_tab_enabled = home_tab_enabled  # App Home's Home tab, as the app's settings have it
        self.publish_per_minute = publish_per_minute
        self.socket_url: str | None = None
        self._clock = clock
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._version = 0
        self._calls: list[Call] = []
        self._errors: list[BaseException] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._down_status: int | None = None
        self._holds: dict[str, threading.Event] = {}
        self._rate_limited = 0
        self._last_post: dict[str, float] = {}
        self._ts_seq = _FIRST_TS
        self._channels: dict[str, _Channel] = {}
        self._users: dict[str, _User] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._messages: dict[tuple[str, str], Message] = {}
        self._order: dict[str, list[str]] = {}
        self._ephemerals: list[Message] = []
        self._triggers: dict[str, float] = {}
        self._used_triggers: set[str] = set()
        self._views: dict[str, dict[str, Any]] = {}
        self._homes: dict[str, dict[str, Any]] = {}
        self._publishes: dict[int, int] = {}  # views.publish calls per minute window
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._webhook_posts: list[tuple[str, dict[str, Any]]] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._stopping = threading.Event()
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "api.test": self._api_test,
            "apps.connections.open": self._apps_connections_open,
            "auth.test": self._auth_test,
            "chat.getPermalink": self._chat_get_permalink,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "conversations.info": self._conversations_info,
            "conversations.join": self._conversations_join,
            "conversations.list": self._conversations_list,
            "usergroups.users.list": self._usergroups_users_list,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "views.open": self._views_open,
            "views.publish": self._views_publish,
            "views.update": self._views_update,
        }
        self.add_user(self.bot_user_id, name=self.bot_name, is_bot=True)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        """Bind an ephemeral port on 127.0.0.1 and serve from a daemon thread."""
        if self._server is not None:
            raise RuntimeError("FakeSlack is already running")
        self._stopping = threading.Event()
        server = _Server(("127.0.0.1", 0), self)
        self._port = server.server_address[1]
        # shutdown() waits up to one poll interval; keep it short so stop() is quick.
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-slack", daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving and cut injected delays short; safe to call twice."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        self.release()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5.0)
        self._server = self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT``."""
        if self._port is None:
            raise RuntimeError("FakeSlack has not been started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        """Web API base URL for ``WebClient(base_url=...)``."""
        return f"{self.url}/api/"

    # -- configuration ---------------------------------------------------------------------

    def channel_id(self, channel: str) -> str:
        """The ID for a channel name (``#deploys`` or ``deploys``); IDs pass through, user IDs map to a DM."""
        value = channel.strip()
        if _CONVERSATION_ID.fullmatch(value):
            return value
        if _USER_ID.fullmatch(value):
            return "D" + _derive(value)
        return "C" + _derive(_channel_name(value))

    def add_channel(
        self, name: str, *, member: bool = True, private: bool = False, archived: bool = False
    ) -> str:
        """Declare a channel's state; returns its ID."""
        with self._lock:
            channel = self._channel(name)
            channel.member, channel.private, channel.archived = member, private, archived
            channel.removed = False
            self._bump()
            return channel.id

    def remove_channel(self, name: str) -> str:
        """Make a channel unknown, so it answers ``channel_not_found``; returns its ID."""
        with self._lock:
            channel = self._channel(name)
            channel.removed = True
            self._bump()
            return channel.id

    def is_member(self, channel: str) -> bool:
        """Whether the bot is a member of the channel."""
        with self._lock:
            return self._channel(channel).member

    def add_user(
        self,
        user_id: str,
        *,
        email: str | None = None,
        name: str | None = None,
        real_name: str | None = None,
        is_bot: bool = False,
    ) -> None:
        """Register a user for ``users.info`` and ``users.lookupByEmail``."""
        name = name or user_id.lower()
        with self._lock:
            self._users[user_id] = _User(user_id, name, real_name or name, email, is_bot)

    def add_usergroup(self, usergroup_id: str, users: Iterable[str]) -> None:
        """Register a user group (``S...``) for ``usergroups.users.list``."""
        with self._lock:
            self._usergroups[usergroup_id] = list(users)

    def add_message(
        self,
        channel: str,
        *,
        text: str = "",
        blocks: list[dict[str, Any]] | None = None,
        user: str | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """Put a message in a channel without an API call (``user`` defaults to the bot); returns its ts."""
        with self._lock:
            message = Message(
                channel=self._channel(channel).id,
                ts=self._next_ts(),
                text=text,
                blocks=copy.deepcopy(blocks or []),
                thread_ts=thread_ts,
                user=user or self.bot_user_id,
            )
            self._store(message)
            return message.ts

    def issue_trigger(self) -> str:
        """A ``trigger_id`` that ``views.open`` accepts once, within 3 seconds of the fake's clock."""
        with self._lock:
            seq = len(self._triggers) + 1
            trigger_id = f"{seq}.{self.team_id}.{hashlib.sha256(str(seq).encode()).hexdigest()[:16]}"
            self._triggers[trigger_id] = self._clock()
            return trigger_id

    def new_response_url(
        self, *, channel: str | None = None, ts: str | None = None, user: str | None = None
    ) -> str:
        """A ``response_url``; bound to a message (channel, ts) it can replace or delete that message."""
        with self._lock:
            path = f"/webhook/{len(self._response_urls) + 1}"
            channel_id = self._channel(channel).id if channel else None
            self._response_urls[path] = _ResponseUrl(channel_id, ts, user, self._clock())
        return self.url + path

    def fail_next(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        count: int = 1,
        retry_after: float | None = None,
        delay: float = 0.0,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Queue a fault for the next ``count`` calls to ``method`` (or ``"response_url"``).

        ``error`` answers ``{"ok": false, "error": error}`` with ``status``; a non-200 status
        alone answers an HTML page, except 429 which answers ``ratelimited`` with ``Retry-After``.
        A ``delay`` alone answers normally after waiting, so the call still takes effect. ``body`` answers
        200 with exactly that JSON, for answers of a shape Slack is not documented to send.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        if error is None and status == 200 and delay <= 0 and body is None:
            raise ValueError("fail_next needs an error, a non-200 status, a delay or a body")
        with self._lock:
            fault = _Fault(error, status, retry_after, delay, count, body)
            self._faults.setdefault(method, deque()).append(fault)

    def hold(self, *methods: str) -> None:
        """Calls to ``methods`` wait, unanswered, until ``release()``: a Slack slow for as long as a test
        needs, with no clock involved."""
        with self._lock:
            for method in methods:
                self._holds.setdefault(method, threading.Event())

    def release(self, *methods: str) -> None:
        """Answer the held calls to ``methods`` (all held methods when none is named), and stop holding."""
        with self._lock:
            names = methods or tuple(self._holds)
            released = [self._holds.pop(name) for name in names if name in self._holds]
        for event in released:
            event.set()

    def set_down(self, status: int = 503) -> None:
        """Answer every request with ``status`` until ``set_up()``."""
        with self._lock:
            self._down_status = status

    def set_up(self) -> None:
        """End the outage started by ``set_down()``."""
        with self._lock:
            self._down_status = None

    # -- observations ----------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every request received, in arrival order."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """The requests received for one method."""
        with self._lock:
            return [call for call in self._calls if call.method == method]

    def clear_calls(self) -> None:
        """Forget the recorded calls; messages and other state are kept."""
        with self._lock:
            self._calls.clear()

    @property
    def rate_limited(self) -> int:
        """How many chat.postMessage calls the per-channel limit answered with 429."""
        with self._lock:
            return self._rate_limited

    @property
    def webhook_posts(self) -> list[tuple[str, dict[str, Any]]]:
        """Accepted ``response_url`` posts as (path, JSON body)."""
        with self._lock:
            return copy.deepcopy(self._webhook_posts)

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised inside the fake while handling requests; should stay empty."""
        with self._lock:
            return list(self._errors)

    def messages(self, channel: str) -> list[Message]:
        """Top-level messages of a channel, in post order."""
        return [message for message in self._history(channel) if message.thread_ts is None]

    def replies(self, channel: str, ts: str) -> list[Message]:
        """Replies in the thread under the message ``ts``, in post order."""
        return [message for message in self._history(channel) if message.thread_ts == ts]

    def message(self, channel: str, ts: str) -> Message | None:
        """The current state of one message, or None."""
        with self._lock:
            return self._messages.get((self.channel_id(channel), ts))

    def ephemerals(self, channel: str | None = None) -> list[Message]:
        """Ephemeral messages, optionally only those in one channel."""
        with self._lock:
            channel_id = self.channel_id(channel) if channel else None
            return [m for m in self._ephemerals if channel_id is None or m.channel == channel_id]

    def views(self) -> list[dict[str, Any]]:
        """Views opened with ``views.open``, in their current state."""
        with self._lock:
            return copy.deepcopy(list(self._views.values()))

    def home(self, user_id: str) -> dict[str, Any] | None:
        """The Home tab ``user_id`` sees now (the view last published for them), or None."""
        with self._lock:
            return copy.deepcopy(self._homes.get(user_id))

    def wait_for(
        self, predicate: Callable[[], T], timeout: float = 5.0, *, description: str | None = None
    ) -> T:
        """Wait until ``predicate()`` is truthy and return its value; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                version = self._version
            result = predicate()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                what = description or getattr(predicate, "__qualname__", repr(predicate))
                raise AssertionError(
                    f"timed out after {timeout:g}s waiting for {what}; "
                    f"the fake Slack received {self._call_summary()}"
                )
            with self._changed:
                # Wake on any change, but re-check every 50 ms too: the predicate may look elsewhere.
                if self._version == version:
                    self._changed.wait(timeout=min(remaining, 0.05))

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until at least ``count`` calls to ``method`` arrived; returns all calls to it."""

        def enough() -> list[Call] | None:
            calls = self.calls_to(method)
            return calls if len(calls) >= count else None

        if count <= 0:
            return self.calls_to(method)
        found = self.wait_for(enough, timeout, description=f"{count} call(s) to {method}")
        assert found is not None
        return found

    # -- request handling ------------------------------------------------------------------

    def _respond(self, request: _Request) -> _Response:
        try:
            if request.path.startswith("/api/"):
                return self._api(request.path.removeprefix("/api/"), request)
            if request.path.startswith("/webhook/"):
                return self._webhook(request)
            return _text(404, "not_found")
        except Exception as exc:  # a bug in the fake must fail the test, not hang the client
            with self._lock:
                self._errors.append(exc)
            return _json({"ok": False, "error": "fake_internal_error", "detail": repr(exc)}, 500)

    def _api(self, method: str, request: _Request) -> _Response:
        params = _params(request)
        interrupted = self._interrupt(method, params, request.headers)
        if interrupted is not None:
            return interrupted
        with self._lock:
            try:
                handler = self._methods.get(method)
                if handler is None:
                    raise _Rejected("unknown_method")
                self._authorize(method, params, request.headers)
                body = handler(params)
            except _RateLimited as limited:
                retry_after = [("Retry-After", str(limited.retry_after))]
                return _json({"ok": False, "error": limited.error}, 429, retry_after)
            except _Rejected as rejected:
                return _json({"ok": False, "error": rejected.error, **rejected.fields})
            finally:
                self._bump()
            return _json({"ok": True, **body}, headers=[("x-oauth-scopes", self.scopes)])

    def _interrupt(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> _Response | None:
        """Record the call, then answer for an outage or a queued fault, if any."""
        with self._lock:
            self._calls.append(Call(method, copy.deepcopy(params), headers, self._clock()))
            self._bump()
            down = self._down_status
            fault = self._take_fault(method) if down is None else None
            held = self._holds.get(method)
        if held is not None:
            held.wait()
        if self.latency > 0:
            self._stopping.wait(self.latency)
        if down is not None:
            return _failure(down, None, None)
        if fault is None:
            return None
        if fault.delay > 0:
            self._stopping.wait(fault.delay)
        if fault.body is not None:
            return _json(fault.body, 200, [("x-oauth-scopes", self.scopes)])
        if fault.error is None and fault.status == 200:
            return None
        return _failure(fault.status, fault.error, fault.retry_after)

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.popleft()
        return fault

    def _authorize(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> None:
        authorization = headers.get("authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        token = credentials.strip() if scheme.lower() == "bearer" else ""
        token = token or str(params.get("token") or "")
        if not token:
            raise _Rejected("not_authed")
        if token not in (self.token, self.app_token):
            raise _Rejected("invalid_auth")
        # App-level tokens open Socket Mode connections and nothing else.
        if (method == "apps.connections.open") != (token == self.app_token):
            raise _Rejected("not_allowed_token_type")
        needed = _REQUIRED_SCOPES.get(method)
        if needed is not None and needed not in self._scope_set():
            raise _Rejected("missing_scope", needed=needed, provided=self.scopes)

    def _scope_set(self) -> set[str]:
        return {scope.strip() for scope in self.scopes.split(",") if scope.strip()}

    def _call_summary(self) -> str:
        with self._lock:
            counts = Counter(call.method for call in self._calls)
        if not counts:
            return "no calls"
        return ", ".join(f"{method} x{n}" for method, n in counts.items())

    # -- state (lock held) -----------------------------------------------------------------

    def _bump(self) -> None:
        self._version += 1
        self._changed.notify_all()

    def _next_ts(self) -> str:
        self._ts_seq += 1
        seconds, micros = divmod(self._ts_seq, 1_000_000)
        return f"{seconds}.{micros:06d}"

    def _history(self, channel: str) -> list[Message]:
        with self._lock:
            channel_id = self.channel_id(channel)
            return [self._messages[(channel_id, ts)] for ts in self._order.get(channel_id, [])]

    def _channel(self, channel: str) -> _Channel:
        """The channel's state; a channel nobody declared is known, public and joined."""
        channel_id = self.channel_id(channel)
        found = self._channels.get(channel_id)
        if found is None:
            is_id = _CONVERSATION_ID.fullmatch(channel) or _USER_ID.fullmatch(channel)
            name = channel_id.lower() if is_id else _channel_name(channel)
            found = self._channels[channel_id] = _Channel(id=channel_id, name=name)
        return found

    def _visible_channel(self, raw: Any) -> _Channel:
        if not isinstance(raw, str) or not raw.strip():
            raise _Rejected("channel_not_found")
        channel = self._channel(raw)
        # Slack hides private channels the bot is not in.
        if channel.removed or (channel.private and not channel.member):
            raise _Rejected("channel_not_found")
        return channel

    def _postable_channel(self, raw: Any) -> _Channel:
        channel = self._visible_channel(raw)
        if channel.archived:
            raise _Rejected("is_archived")
        if not channel.member:
            raise _Rejected("not_in_channel")
        return channel

    def _store(self, message: Message) -> None:
        key = (message.channel, message.ts)
        if key not in self._messages:
            self._order.setdefault(message.channel, []).append(message.ts)
        self._messages[key] = message
        self._bump()

    def _delete(self, message: Message) -> None:
        del self._messages[(message.channel, message.ts)]
        self._order[message.channel].remove(message.ts)
        self._bump()

    def _replace(self, message: Message, *, text: str, blocks: list[dict[str, Any]]) -> Message:
        updated = dataclasses.replace(
            message,
            text=text,
            blocks=blocks,
            updates=message.updates + 1,
            history=(*message.history, {"text": message.text, "blocks": message.blocks}),
        )
        self._store(updated)
        return updated

    def _message_json(self, message: Message) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "message",
            "user": message.user,
            "text": message.text,
            "ts": message.ts,
            "team": self.team_id,
        }
        if message.user == self.bot_user_id:
            body.update(bot_id=self.bot_id, app_id=self.app_id)
        if message.blocks:
            body["blocks"] = copy.deepcopy(message.blocks)
        if message.thread_ts:
            body["thread_ts"] = message.thread_ts
        if message.updates:
            body["edited"] = {"user": self.bot_user_id, "ts": message.ts}
        return body

    def _channel_json(self, channel: _Channel) -> dict[str, Any]:
        return {
            "id": channel.id,
            "name": channel.name,
            "is_channel": not channel.is_im,
            "is_group": False,
            "is_im": channel.is_im,
            "is_private": channel.private or channel.is_im,
            "is_archived": channel.archived,
            "is_member": channel.member,
            "context_team_id": self.team_id,
        }

    def _user_json(self, user: _User) -> dict[str, Any]:
        profile: dict[str, Any] = {"real_name": user.real_name, "display_name": user.name}
        # Slack shows addresses only to tokens holding users:read.email.
        if user.email and "users:read.email" in self._scope_set():
            profile["email"] = user.email
        if user.id == self.bot_user_id:
            profile["bot_id"] = self.bot_id
        return {
            "id": user.id,
            "team_id": self.team_id,
            "name": user.name,
            "real_name": user.real_name,
            "deleted": False,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "profile": profile,
        }

    # -- Web API methods (lock held; return the fields beside "ok": true) ------------------

    def _api_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"args": params}

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.team_url,
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not self.socket_url:
            raise _Rejected("socket_url_not_configured")
        return {"url": self.socket_url}

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._postable_channel(params.get("channel"))
        now = self._clock()
        last = self._last_post.get(channel.id)
        if self.channel_interval > 0 and last is not None and now - last < self.channel_interval:
            self._rate_limited += 1
            raise _RateLimited(max(1, math.ceil(self.channel_interval - (now - last))))
        text, blocks = _content(params)
        thread_ts = str(params["thread_ts"]) if params.get("thread_ts") else None
        if thread_ts is not None:
            parent = self._messages.get((channel.id, thread_ts))
            if parent is None or parent.thread_ts is not None:
                raise _Rejected("thread_not_found")
        message = Message(
            channel=channel.id,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            reply_broadcast=thread_ts is not None and _truthy(params.get("reply_broadcast")),
            user=self.bot_user_id,
        )
        self._store(message)
        self._last_post[channel.id] = now
        return {"channel": channel.id, "ts": message.ts, "message": self._message_json(message)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        raw = params.get("channel")
        # chat.update takes IDs only; Slack answers a channel name with channel_not_found.
        if not isinstance(raw, str) or not _CONVERSATION_ID.fullmatch(raw):
            raise _Rejected("channel_not_found")
        channel = self._visible_channel(raw)
        message = self._messages.get((channel.id, str(params.get("ts") or "")))
        if message is None:
            raise _Rejected("message_not_found")
        if message.user != self.bot_user_id:
            raise _Rejected("cant_update_message")
        if channel.archived:
            raise _Rejected("is_archived")
        has_text, has_blocks = params.get("text") is not None, params.get("blocks") is not None
        if has_text or has_blocks:
            # Text without blocks removes the existing blocks (chat.update docs).
            replacement = {
                "text": params["text"] if has_text else message.text,
                "blocks": params["blocks"] if has_blocks else [],
                "attachments": params.get("attachments"),
            }
            text, blocks = _content(replacement)
        else:
            text, blocks = message.text, copy.deepcopy(message.blocks)
        updated = self._replace(message, text=text, blocks=blocks)
        return {"channel": channel.id, "ts": updated.ts, "text": text, "message": self._message_json(updated)}

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._postable_channel(params.get("channel"))
        user = params.get("user")
        if not user:
            raise _Rejected("user_not_in_channel")
        text, blocks = _content(params)
        message = Message(
            channel=channel.id,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            thread_ts=str(params["thread_ts"]) if params.get("thread_ts") else None,
            user=self.bot_user_id,
            visible_to=str(user),
        )
        self._ephemerals.append(message)
        self._bump()
        return {"message_ts": message.ts}

    def _chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible_channel(params.get("channel"))
        ts = str(params.get("message_ts") or "")
        message = self._messages.get((channel.id, ts))
        if message is None:
            raise _Rejected("message_not_found")
        permalink = f"{self.team_url}archives/{channel.id}/p{ts.replace('.', '')}"
        if message.thread_ts:
            permalink += f"?thread_ts={message.thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": permalink}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"channel": self._channel_json(self._visible_channel(params.get("channel")))}

    def _conversations_join(self, params: dict[str, Any]) -> dict[str, Any]:
        raw = params.get("channel")
        if not isinstance(raw, str) or not raw.strip() or self._channel(raw).removed:
            raise _Rejected("channel_not_found")
        channel = self._channel(raw)
        if channel.private or channel.is_im:
            raise _Rejected("method_not_supported_for_channel_type")
        if channel.archived:
            raise _Rejected("is_archived")
        if channel.member:
            return {
                "channel": self._channel_json(channel),
                "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]},
            }
        channel.member = True
        return {"channel": self._channel_json(channel)}

    def _conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        channels = [c for c in self._channels.values() if not c.removed and not c.private and not c.is_im]
        return {"channels": [self._channel_json(c) for c in channels],
                "response_metadata": {"next_cursor": ""}}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(str(params.get("user") or ""))
        if user is None:
            raise _Rejected("user_not_found")
        return {"user": self._user_json(user)}

    def _users_lookup_by_email(self, params: dict[str, Any]) -> dict[str, Any]:
        email = str(params.get("email") or "").strip().lower()
        for user in self._users.values():
            if email and user.email and user.email.lower() == email:
                return {"user": self._user_json(user)}
        raise _Rejected("users_not_found")

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        users = self._usergroups.get(str(params.get("usergroup") or ""))
        if users is None:
            raise _Rejected("no_such_subteam")
        return {"users": list(users)}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger_id = str(params.get("trigger_id") or "")
        if not trigger_id:
            raise _invalid_arguments("missing required field: trigger_id")
        issued_at = self._triggers.get(trigger_id)
        if issued_at is None:
            raise _Rejected("invalid_trigger_id")
        if trigger_id in self._used_triggers:
            raise _Rejected("exchanged_trigger_id")
        if self._clock() - issued_at > TRIGGER_TTL:
            raise _Rejected("expired_trigger_id")
        view = _view(params.get("view"))
        self._used_triggers.add(trigger_id)
        view_id = f"V{len(self._views) + 1:010d}"
        view.update(
            id=view_id,
            team_id=self.team_id,
            app_id=self.app_id,
            bot_id=self.bot_id,
            root_view_id=view_id,
            previous_view_id=None,
            state={"values": {}},
            hash=self._view_hash(),
        )
        for key in ("external_id", "private_metadata", "callback_id"):
            view.setdefault(key, "")
        self._views[view_id] = view
        self._bump()
        return {"view": copy.deepcopy(view)}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = params.get("view_id"), params.get("external_id")
        if not view_id and not external_id:
            raise _invalid_arguments("either view_id or external_id is required")
        if view_id:
            current = self._views.get(str(view_id))
        else:
            current = next((v for v in self._views.values() if v["external_id"] == external_id), None)
        if current is None:
            raise _Rejected("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            raise _Rejected("hash_conflict")
        view = _view(params.get("view"))
        for key in ("id", "team_id", "app_id", "bot_id", "root_view_id", "previous_view_id"):
            view[key] = current[key]
        view.update(state={"values": {}}, hash=self._view_hash())
        for key in ("external_id", "private_metadata", "callback_id"):
            view.setdefault(key, current[key] if key == "external_id" else "")
        self._views[current["id"]] = view
        self._bump()
        return {"view": copy.deepcopy(view)}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = str(params.get("user_id") or "")
        if not user_id:
            raise _invalid_arguments("missing required field: user_id")
        window = int(self._clock() // 60)
        if self._publishes.get(window, 0) >= self.publish_per_minute:
            raise _RateLimited(max(1, math.ceil((window + 1) * 60 - self._clock())))
        self._publishes[window] = self._publishes.get(window, 0) + 1
        if user_id not in self._users:
            raise _Rejected("user_not_found")
        view = _view(params.get("view"), kind="home")
        if not self.home_tab_enabled:
            raise _Rejected("not_enabled")
        current = self._homes.get(user_id)
        if params.get("hash") and current is not None and params["hash"] != current["hash"]:
            raise _Rejected("hash_conflict")
        view_id = current["id"] if current is not None else f"V{len(self._views) + len(self._homes) + 1:010d}"
        view.update(id=view_id, team_id=self.team_id, app_id=self.app_id, bot_id=self.bot_id,
                    root_view_id=view_id, previous_view_id=None, state={"values": {}}, hash=self._view_hash())
        for key in ("external_id", "private_metadata", "callback_id"):
            view.setdefault(key, "")
        self._homes[user_id] = view
        self._bump()
        return {"view": copy.deepcopy(view)}

    def _view_hash(self) -> str:
        return self._next_ts().replace(".", "") + ".fake"

    # -- response_url webhooks -------------------------------------------------------------

    def _webhook(self, request: _Request) -> _Response:
        body = _webhook_body(request)
        interrupted = self._interrupt(RESPONSE_URL, body or {}, request.headers)
        if interrupted is not None:
            return interrupted
        with self._lock:
            self._bump()
            hook = self._response_urls.get(request.path)
            if hook is None:
                return _text(404, "no_service")
            if body is None:
                return _text(400, "invalid_payload")
            if self._clock() - hook.issued_at > RESPONSE_URL_TTL:
                return _text(404, "expired_url")
            if hook.uses >= RESPONSE_URL_USES:
                return _text(404, "used_url")
            deleting = _truthy(body.get("delete_original"))
            try:
                text, blocks = ("", []) if deleting else _content(body)
            except _Rejected as rejected:
                return _text(400, rejected.error)
            hook.uses += 1
            self._webhook_posts.append((request.path, copy.deepcopy(body)))
            self._apply_webhook(hook, body, deleting, text, blocks)
            return _text(200, "ok")

    def _apply_webhook(
        self,
        hook: _ResponseUrl,
        body: dict[str, Any],
        deleting: bool,
        text: str,
        blocks: list[dict[str, Any]],
    ) -> None:
        if hook.channel is None:
            return
        original = self._messages.get((hook.channel, hook.ts or ""))
        if deleting or _truthy(body.get("replace_original")):
            if original is not None and deleting:
                self._delete(original)
            elif original is not None:
                self._replace(original, text=text, blocks=blocks)
            return
        thread_ts = str(body["thread_ts"]) if body.get("thread_ts") else None
        message = Message(hook.channel, self._next_ts(), text, blocks, thread_ts, user=self.bot_user_id)
        if body.get("response_type") == "in_channel":
            self._store(message)
        else:
            self._ephemerals.append(dataclasses.replace(message, visible_to=hook.user or ""))
            self._bump()


class _RateLimited(_Rejected):
    """Slack's per-channel posting limit: HTTP 429 with ``Retry-After``."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("ratelimited")
        self.retry_after = retry_after


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], fake: FakeSlack) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host up with getfqdn(), which stalls without DNS.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out on an injected delay hangs up before the answer; that is expected.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "FakeSlack"
    timeout = 30

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:  # the fake Gate serves PATCH and PUT through the same server
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        parts = urlsplit(self.path)
        request = _Request(
            path=parts.path,
            query=parts.query,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length > 0 else b"",
            method=self.command,
        )
        response = self.server.fake._respond(request)
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


def _derive(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:8].upper()


def _channel_name(value: str) -> str:
    return value.strip().removeprefix("#").lower()


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true"}
    return bool(value)


def _params(request: _Request) -> dict[str, Any]:
    """Query string plus a JSON or form body, as one dict (slack_sdk sends both kinds)."""
    params: dict[str, Any] = dict(parse_qsl(request.query, keep_blank_values=True))
    if not request.body:
        return params
    text = request.body.decode("utf-8", errors="replace")
    content_type = request.headers.get("content-type", "")
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            loaded = json.loads(text)
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            params.update(loaded)
    elif "form-urlencoded" in content_type or not content_type:
        params.update(parse_qsl(text, keep_blank_values=True))
    return params


def _webhook_body(request: _Request) -> dict[str, Any] | None:
    params = _params(request)
    # Incoming webhooks also accept a form field ``payload`` holding the JSON.
    if set(params) == {"payload"}:
        try:
            params = json.loads(params["payload"])
        except ValueError:
            return None
    return params if isinstance(params, dict) and params else None


def _json_field(value: Any) -> Any:
    # Form-encoded calls carry blocks and views as JSON strings.
    if isinstance(value, str):
        return json.loads(value)
    return copy.deepcopy(value)


def _content(params: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The message's text and blocks, checked the way chat.postMessage checks them."""
    text = "" if params.get("text") is None else str(params["text"])
    try:
        blocks = _json_field(params.get("blocks")) or []
        attachments = _json_field(params.get("attachments")) or []
    except ValueError:
        raise _Rejected("invalid_blocks_format") from None
    if not isinstance(blocks, list) or not all(isinstance(block, dict) for block in blocks):
        raise _Rejected("invalid_blocks_format")
    if not text.strip() and not blocks and not attachments:
        raise _Rejected("no_text")
    if len(text) > MAX_TEXT:
        raise _Rejected("msg_too_long")
    problems = _block_problems(blocks, MAX_MESSAGE_BLOCKS)
    if problems:
        messages = [f"[ERROR] {problem}" for problem in problems]
        raise _Rejected("invalid_blocks", errors=problems, response_metadata={"messages": messages})
    return text, blocks


def _text_of(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def _too_long(limit: int, pointer: str) -> str:
    return f"must be less than {limit + 1} characters [json-pointer:{pointer}]"


def _too_many(limit: int, pointer: str) -> str:
    return f"no more than {limit} items allowed [json-pointer:{pointer}]"


def _block_problems(blocks: list[dict[str, Any]], limit: int) -> list[str]:
    """Slack-style error strings for the Block Kit limits a relay can plausibly hit."""
    problems = []
    if len(blocks) > limit:
        problems.append(_too_many(limit, "/blocks"))
    seen_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"/blocks/{i}"
        kind = block.get("type")
        if not isinstance(kind, str) or not kind:
            problems.append(f"missing required field: type [json-pointer:{where}]")
            continue
        if block.get("block_id") is not None:
            block_id = str(block["block_id"])
            if len(block_id) > MAX_BLOCK_ID:
                problems.append(_too_long(MAX_BLOCK_ID, f"{where}/block_id"))
            if block_id in seen_ids:
                problems.append(f"duplicate block_id [json-pointer:{where}/block_id]")
            seen_ids.add(block_id)
        elements = block.get("elements") or []
        if kind == "section":
            fields = block.get("fields") or []
            if "text" not in block and not fields:
                problems.append(f"must provide either text or fields [json-pointer:{where}]")
            if len(_text_of(block.get("text"))) > MAX_SECTION_TEXT:
                problems.append(_too_long(MAX_SECTION_TEXT, f"{where}/text/text"))
            if len(fields) > MAX_SECTION_FIELDS:
                problems.append(_too_many(MAX_SECTION_FIELDS, f"{where}/fields"))
            for j, item in enumerate(fields):
                if len(_text_of(item)) > MAX_FIELD_TEXT:
                    problems.append(_too_long(MAX_FIELD_TEXT, f"{where}/fields/{j}/text"))
        elif kind == "header" and len(_text_of(block.get("text"))) > MAX_HEADER_TEXT:
            problems.append(_too_long(MAX_HEADER_TEXT, f"{where}/text/text"))
        elif kind == "actions" and len(elements) > MAX_ACTIONS_ELEMENTS:
            problems.append(_too_many(MAX_ACTIONS_ELEMENTS, f"{where}/elements"))
        elif kind == "context" and len(elements) > MAX_CONTEXT_ELEMENTS:
            problems.append(_too_many(MAX_CONTEXT_ELEMENTS, f"{where}/elements"))
    return problems


def _view(raw: Any, kind: str = "modal") -> dict[str, Any]:
    """The view, checked the way views.open and views.update check modals, or views.publish a ``home``."""
    if raw is None:
        raise _invalid_arguments("missing required field: view")
    try:
        view = _json_field(raw)
    except ValueError:
        raise _invalid_arguments("failed to match all allowed schemas [json-pointer:/view]") from None
    if not isinstance(view, dict) or view.get("type") != kind:
        raise _invalid_arguments("failed to match all allowed schemas [json-pointer:/view/type]")
    if len(json.dumps(view).encode("utf-8")) > MAX_VIEW_BYTES:
        raise _Rejected("view_too_large")
    problems = []
    if kind == "modal" and not _text_of(view.get("title")):
        problems.append("missing required field: title [json-pointer:/view/title]")
    for key in ("title", "submit", "close"):
        if len(_text_of(view.get(key))) > MAX_VIEW_TITLE:
            problems.append(_too_long(MAX_VIEW_TITLE, f"/view/{key}/text"))
    if len(str(view.get("callback_id") or "")) > MAX_CALLBACK_ID:
        problems.append(_too_long(MAX_CALLBACK_ID, "/view/callback_id"))
    if len(str(view.get("private_metadata") or "")) > MAX_PRIVATE_METADATA:
        problems.append(_too_long(MAX_PRIVATE_METADATA, "/view/private_metadata"))
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not all(isinstance(block, dict) for block in blocks):
        problems.append("missing required field: blocks [json-pointer:/view/blocks]")
    else:
        problems.extend(_block_problems(blocks, MAX_VIEW_BLOCKS))
    if problems:
        raise _invalid_arguments(*problems)
    return view


def _invalid_arguments(*messages: str) -> _Rejected:
    return _Rejected("invalid_arguments", response_metadata={"messages": [f"[ERROR] {m}" for m in messages]})


def _json(payload: dict[str, Any], status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> _Response:
    body = json.dumps(payload).encode("utf-8")
    return _Response(status, body, [("Content-Type", "application/json; charset=utf-8"), *headers])


def _text(status: int, body: str) -> _Response:
    return _Response(status, body.encode("utf-8"), [("Content-Type", "text/plain; charset=utf-8")])


def _failure(status: int, error: str | None, retry_after: float | None) -> _Response:
    """An injected failure: ok:false JSON, a 429, or the HTML page a load balancer sends."""
    headers = []
    if retry_after is not None or status == 429:
        headers.append(("Retry-After", str(max(0, math.ceil(1 if retry_after is None else retry_after)))))
    if error is not None:
        return _json({"ok": False, "error": error}, status, headers)
    if status == 429:
        return _json({"ok": False, "error": "ratelimited"}, status, headers)
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    page = f"<html><head><title>{status} {phrase}</title></head><body><h1>{phrase}</h1></body></html>"
    headers.append(("Content-Type", "text/html; charset=utf-8"))
    return _Response(status, page.encode("utf-8"), headers)
