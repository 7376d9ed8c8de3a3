"""`slackops-relay doctor`: checks a relay's setup end to end, and says how to fix each thing that fails."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from relay.access.authorization import scope_gaps
from relay.clients.fiat import FiatUnavailable
from relay.clients.gate import GateError
from relay.clients.slack import CHANNEL_ID, build_client, classify, granted_scopes
from relay.config import Settings, redact_url
from relay.errors import ConfigError
from relay.services import fiat_client, gate_client
from relay.setup.manifest import BOT_SCOPES
from relay.store import Store, migrate

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"
TIMEOUT = 10.0
DIRECT_ADDRESS = re.compile(r"^(@|[UW][A-Z0-9]{6,}$)")
UPGRADE = "run `slackops-relay db upgrade`"
REINSTALL = "reinstall the app to the workspace (or create it again from `slackops-relay manifest`)"


@dataclass(frozen=True)
class Finding:
    """One line of the report; `fix` says what to do when the check did not pass."""

    check: str
    status: str
    detail: str
    fix: str = ""


def diagnose(settings: Settings) -> list[Finding]:
    """Every check, in the order a new install meets them."""
    findings = [_configuration(settings)]
    slack = build_client(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=TIMEOUT) \
        if settings.slack_bot_token else None
    token, scopes = _slack_token(settings, slack)
    gate, gate_user = _gate(settings)
    findings += [token, _scopes(scopes), _authorization(settings, scopes), _signing_secret(settings),
                 _socket_mode(settings), _echo_auth(settings), gate, _fiat(settings, gate_user)]
    database, store = _database(settings)
    findings.append(database)
    addresses = {route.channel for route in settings.rules.routes} | set(store.channels() if store else ())
    if slack is not None and token.status == OK:
        findings += _channels(slack, sorted(addresses), joins=settings.join_channels)
    return findings


def render(findings: Iterable[Finding]) -> str:
    """The report as a plain-text table."""
    rows = [("CHECK", "RESULT", "DETAIL", "FIX")] + [(f.check, f.status, f.detail, f.fix) for f in findings]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, [*widths, 0], strict=True)).rstrip()
             for row in rows]
    return "\n".join(lines) + "\n"


def _configuration(settings: Settings) -> Finding:
    try:
        settings.validate()
    except ConfigError as err:
        return Finding("configuration", FAIL, err.message, "the relay refuses to start until this is fixed")
    rules = f", rules from {settings.config_path}" if settings.config_path else ""
    return Finding("configuration", OK, "valid" + rules)


def _slack_token(settings: Settings, slack: WebClient | None) -> tuple[Finding, set[str] | None]:
    fix = "set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (OAuth & Permissions, xoxb-…)"
    if slack is None:
        return Finding("Slack token", FAIL, "SLACK_BOT_TOKEN is not set: dry-run, nothing is sent", fix), None
    if not settings.slack_bot_token.startswith("xoxb-"):
        return Finding("Slack token", FAIL, "SLACK_BOT_TOKEN is not a bot token (xoxb-…)", fix), None
    try:
        response = slack.auth_test()
    except SlackApiError as err:
        return Finding("Slack token", FAIL, f"auth.test: Slack refused the token ({classify(err).error})",
                       f"copy the Bot User OAuth Token again, or {REINSTALL}"), None
    except OSError as err:
        detail = f"Slack unreachable at {redact_url(settings.slack_api_url)} ({type(err).__name__})"
        return Finding("Slack token", FAIL, detail,
                       "let the relay reach slack.com over HTTPS (HTTPS_PROXY if it needs a proxy)"), None
    detail = f"workspace {response.get('team')} as @{response.get('user')}"
    return Finding("Slack token", OK, detail), set(granted_scopes(response) or ())


def _scopes(granted: set[str] | None) -> Finding:
    if granted is None:
        return Finding("Slack scopes", SKIP, "needs a working token")
    missing = [scope for scope in BOT_SCOPES if scope not in granted]
    if missing:
        return Finding("Slack scopes", FAIL, "missing " + ", ".join(missing),
                       f"add them under OAuth & Permissions → Bot Token Scopes, then {REINSTALL}")
    return Finding("Slack scopes", OK, f"all {len(BOT_SCOPES)} granted")


def _authorization(settings: Settings, granted: set[str] | None) -> Finding:
    """Whether Slack tells the relay what the policy decides by: emails, and the user groups it names."""
    if granted is None:
        return Finding("authorization", SKIP, "needs a working token")
    gaps = scope_gaps(settings.rules, frozenset(granted))
    if gaps:
        return Finding("authorization", FAIL, "; ".join(gaps),
                       f"add the scopes under OAuth & Permissions → Bot Token Scopes, then {REINSTALL}")
    return Finding("authorization", OK, "Slack tells the relay people's emails and user groups")


def _signing_secret(settings: Settings) -> Finding:
    if settings.slack_signing_secret:
        return Finding("signing secret", OK, "SLACK_SIGNING_SECRET is set")
    if settings.slack_app_token:
        return Finding("signing secret", SKIP, "Socket Mode: nothing reaches the relay over HTTP from Slack")
    return Finding("signing secret", FAIL, "SLACK_SIGNING_SECRET is not set: clicks, commands and events "
                   "(/slack/events, the Home tab) get 401",
                   "copy the Signing Secret (Basic Information → App Credentials) into SLACK_SIGNING_SECRET")


def _socket_mode(settings: Settings) -> Finding:
    token = settings.slack_app_token
    if not token:
        return Finding("Socket Mode", SKIP, "SLACK_APP_TOKEN is not set: Slack calls the relay over HTTP")
    fix = ("create an app-level token with connections:write (Basic Information → App-Level Tokens), put "
           "it in SLACK_APP_TOKEN, and turn Socket Mode on")
    if not token.startswith("xapp-"):
        return Finding("Socket Mode", FAIL, "SLACK_APP_TOKEN is not an app-level token (xapp-…)", fix)
    try:
        client = build_client(token=token, base_url=settings.slack_api_url, timeout=TIMEOUT)
        client.apps_connections_open(app_token=token)
    except SlackApiError as err:
        return Finding("Socket Mode", FAIL, f"apps.connections.open: {classify(err).error}", fix)
    except OSError as err:
        return Finding("Socket Mode", FAIL, f"Slack unreachable ({type(err).__name__})", fix)
    return Finding("Socket Mode", OK, "Slack opens connections for SLACK_APP_TOKEN")


def _echo_auth(settings: Settings) -> Finding:
    if settings.echo_token:
        return Finding("webhook auth", OK, "Echo must send Authorization: Bearer (RELAY_ECHO_TOKEN)")
    if settings.echo_username and settings.echo_password:
        return Finding("webhook auth", OK, f"Echo must send HTTP Basic as {settings.echo_username}")
    return Finding("webhook auth", FAIL, "anyone who reaches the relay can make it post: no Echo credentials",
                   "set RELAY_ECHO_USERNAME and RELAY_ECHO_PASSWORD (or RELAY_ECHO_TOKEN), then configure "
                   "Echo with `slackops-relay echo-config`")


def _gate(settings: Settings) -> tuple[Finding, str | None]:
    """Whether Gate answers, and who it takes the relay for."""
    gate = gate_client(settings)
    if gate is None:
        return Finding("Gate", WARN, "GATE_URL is not set: notifications work, judgments and commands do not",
                       "set GATE_URL to Gate's API, e.g. http://spin-gate:8084"), None
    credentials = "check GATE_TOKEN, GATE_USERNAME/GATE_PASSWORD or GATE_CLIENT_CERT/GATE_CLIENT_KEY"
    url = redact_url(settings.gate_url)
    try:
        user = gate.ping()
    except GateError as err:
        if err.status in (401, 403):
            return Finding("Gate", FAIL, f"{url} refused the relay ({err})", credentials), None
        return Finding("Gate", FAIL, f"{url}: {err}",
                       "check GATE_URL and that the relay can reach Gate (x509 clients use port 8085)"), None
    name = user.get("username") or user.get("email")
    if not name:
        return Finding("Gate", FAIL, f"{url} answered, but not with a user (a login page?)",
                       credentials), None
    has_credentials = settings.gate_token or settings.gate_username or settings.gate_client_cert
    if name == "anonymous":
        status, fix = (FAIL, credentials) if has_credentials else (WARN, "fine if Gate has no authentication")
        return Finding("Gate", status, f"{url} takes the relay for anonymous", fix), name
    return Finding("Gate", OK, f"{url} as {name}"), name


def _fiat(settings: Settings, gate_user: str | None) -> Finding:
    """Whether Fiat answers; it is asked about the relay's own Gate identity."""
    fiat = fiat_client(settings)
    if fiat is None:
        return Finding("Fiat", SKIP, "RELAY_FIAT_URL is not set")
    user, url = gate_user or "anonymous", redact_url(settings.fiat_url)
    try:
        permission = fiat.permission(user)
    except FiatUnavailable as err:
        return Finding("Fiat", FAIL, f"{url}: {err}",
                       "check RELAY_FIAT_URL (Fiat listens on port 7003) and that the relay can reach it")
    knows = "knows" if permission else "does not know"
    return Finding("Fiat", OK, f"{url} answers; it {knows} {user}")


def _database(settings: Settings) -> tuple[Finding, Store | None]:
    try:
        url = make_url(settings.database_url)
        if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
            # connecting would create an empty file; the doctor only looks
            return Finding("database", FAIL, f"no SQLite database at {url.database}", UPGRADE), None
        store = Store.from_url(settings.database_url)
        migrate.require_head(store)
    except ConfigError as err:
        return Finding("database", FAIL, err.message, UPGRADE), None
    except SQLAlchemyError as err:
        reason = str(getattr(err, "orig", None) or type(err).__name__).splitlines()[0]
        return Finding("database", FAIL, f"cannot use RELAY_DATABASE_URL: {reason}",
                       "check RELAY_DATABASE_URL and that the database server is reachable"), None
    return Finding("database", OK, f"schema at revision {migrate.current_revision(store)}"), store


def _channels(slack: WebClient, addresses: list[str], *, joins: bool) -> list[Finding]:
    """Whether the bot is in each channel routes or pipelines send to."""
    public: dict[str, dict[str, Any]] | None = None
    findings = []
    for address in addresses:
        check = f"channel {address}"
        if DIRECT_ADDRESS.match(address):
            findings.append(Finding(check, SKIP, "a direct message"))
            continue
        try:
            if CHANNEL_ID.match(address):
                channel = slack.conversations_info(channel=address)["channel"]
            else:
                public = public if public is not None else _public_channels(slack)
                channel = public.get(address.lstrip("#").lower())
        except SlackApiError as err:
            channel = None if classify(err).error == "channel_not_found" else {"error": classify(err).error}
        findings.append(_membership(check, address, channel, joins=joins))
    return findings


def _membership(check: str, address: str, channel: dict[str, Any] | None, *, joins: bool) -> Finding:
    if channel is None:
        return Finding(check, FAIL, "Slack shows the bot no such channel",
                       f"if {address} is private, /invite the bot in it; otherwise correct the name")
    if channel.get("error"):
        return Finding(check, FAIL, f"Slack answered {channel['error']}", "see the Slack scopes check")
    if channel.get("is_archived"):
        return Finding(check, FAIL, "the channel is archived", "unarchive it, or send elsewhere")
    if not channel.get("is_member") and not joins:
        return Finding(check, FAIL, "the bot is not a member, and does not join channels "
                       "(RELAY_JOIN_CHANNELS is off), so posts there fail", f"/invite the bot in {address}")
    if not channel.get("is_member"):
        return Finding(check, WARN, "the bot is not a member; it joins public channels when it first posts",
                       f"/invite the bot in {address} now")
    return Finding(check, OK, "the bot is a member")


def _public_channels(slack: WebClient) -> dict[str, dict[str, Any]]:
    pages = slack.conversations_list(types="public_channel", exclude_archived=False, limit=1000)
    return {channel["name"].lower(): channel for page in pages for channel in page.get("channels", [])}
