"""Settings from the environment and the YAML rules file; the only reader of os.environ."""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from urllib.parse import unquote, urlsplit

import yaml
from marshmallow import ValidationError
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from relay.errors import ConfigError
from relay.models import RelayRules
from schemas.config import RELAY_CONFIG_SCHEMA, config_error

DEFAULT_DATABASE_URL = "sqlite:///slackops-relay.sqlite3"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DATABASE_BACKENDS = ("sqlite", "postgresql")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
NUMBER_KINDS = {int: "a whole number", float: "a number"}
REDACTED = "[redacted]"
# A secret this short is easy to guess, and blanking it out of the log would blank out ordinary words.
MIN_SECRET_LENGTH = 16
SLACK_TIMEOUT = 10.0  # seconds a Slack Web API call may take (cut to a job's deadline inside a job)
# What a stopping worker needs beyond its calls in flight: finishing their rows and handing the rest back.
STOP_MARGIN_SECONDS = 5.0
# The user and password before a URL's host (`scheme://user:password@host`), up to its last `@`.
URL_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)([^/?#\s]*)@", re.IGNORECASE)
# Settings that hold URLs: shown without their userinfo, and any password in them is a secret.
URL_SETTINGS = ("slack_api_url", "spinnaker_ui_url", "gate_url", "fiat_url", "database_url",
                "console_oidc_issuer")
CONSOLE_AUTH_MODES = ("off", "oidc", "proxy", "basic")


@dataclass(frozen=True)
class Settings:
    """Everything the relay is told at startup. Secrets (repr=False) are kept out of repr(), and URLs are
    shown there without their userinfo."""

    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    spinnaker_ui_url: str = "http://localhost:9000"
    gate_url: str | None = None
    gate_token: str | None = field(default=None, repr=False)
    gate_username: str | None = None
    gate_password: str | None = field(default=None, repr=False)
    gate_client_cert: str | None = None
    gate_client_key: str | None = None
    gate_ca_bundle: str | None = None
    gate_timeout: float = 10.0
    gate_user_header: bool = False
    fiat_url: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    echo_username: str | None = None
    echo_password: str | None = field(default=None, repr=False)
    echo_token: str | None = field(default=None, repr=False)
    notification_types: frozenset[str] = frozenset({"slack"})
    config_path: str | None = None
    bind: str = "0.0.0.0:8080"
    max_event_bytes: int = 16 * 1024 * 1024
    command_rate: int = 20
    max_addresses_per_event: int = 50
    join_channels: bool = True
    max_slack_bytes: int = 1024 * 1024
    message_per_run: bool = True
    channel_interval: float = 1.0
    delivery_max_attempts: int = 12
    lease_seconds: float = 60.0
    # Threads per worker process: deliveries wait on Slack (about 0.3 s a call) and jobs on Gate (seconds), so
    # both lanes' threads mostly wait; these suit a 2-CPU pod.
    delivery_concurrency: int = 16
    job_concurrency: int = 32
    job_deadline: float = 60.0
    log_format: str = "text"
    log_level: str = "INFO"
    metrics_dir: str | None = None
    web_workers: int = 0
    forwarded_allow_ips: str = "127.0.0.1"
    slack_workspace_url: str | None = None
    console_auth: str = "off"
    console_secret: str | None = field(default=None, repr=False)
    console_users: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (name, password hash)
    console_proxies: tuple[str, ...] = ()
    console_operators: frozenset[str] = frozenset()
    console_viewers: frozenset[str] = frozenset()
    console_oidc_issuer: str | None = None
    console_oidc_client_id: str | None = None
    console_oidc_client_secret: str | None = field(default=None, repr=False)
    rules: RelayRules = field(default_factory=RelayRules)

    @property
    def stop_seconds(self) -> float:
        """The longest a worker takes to stop after SIGTERM. It starts no call once stopping, so it waits for
        the calls in flight: a delivery's Slack call, or a job's Gate, Fiat or Slack call (never past the
        job's deadline)."""
        return max(SLACK_TIMEOUT, min(self.gate_timeout, self.job_deadline)) + STOP_MARGIN_SECONDS

    @property
    def dry_run(self) -> bool:
        """Without a bot token nothing is sent to Slack: messages are rendered, stored and logged."""
        return not self.slack_bot_token

    @property
    def console_enabled(self) -> bool:
        return self.console_auth != "off"

    @property
    def echo_auth_configured(self) -> bool:
        return bool(self.echo_token or (self.echo_username and self.echo_password))

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every configured secret value (the fields kept out of repr(), and the userinfo and password of
        each URL as written and decoded), for the log formatter to blank out wherever it appears."""
        values = [getattr(self, item.name) for item in fields(self) if not item.repr]
        for name in URL_SETTINGS:
            userinfo, password = url_userinfo(getattr(self, name) or "")
            if password:  # a user name alone is not a secret
                values += [userinfo, password, unquote(userinfo), unquote(password)]
        return tuple(str(value) for value in values if value)

    def __repr__(self) -> str:
        shown = {item.name: getattr(self, item.name) for item in fields(self) if item.repr}
        shown.update({name: redact_url(shown[name]) for name in URL_SETTINGS if shown[name]})
        return f"Settings({', '.join(f'{name}={value!r}' for name, value in shown.items())})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, validate: bool = True) -> Settings:
        """Read RELAY_*, SLACK_*, GATE_URL and SPINNAKER_UI_URL; raise ConfigError naming the bad key.
        `validate=False` keeps unsafe combinations (for `doctor`, which reports them)."""
        env = os.environ if environ is None else environ
        config_path = env.get("RELAY_CONFIG") or None
        settings = cls(
            slack_bot_token=_secret(env, "SLACK_BOT_TOKEN"),
            slack_signing_secret=_secret(env, "SLACK_SIGNING_SECRET"),
            slack_app_token=_secret(env, "SLACK_APP_TOKEN"),
            slack_api_url=_url(env, "SLACK_API_URL") or DEFAULT_SLACK_API_URL,
            spinnaker_ui_url=(_url(env, "SPINNAKER_UI_URL") or cls.spinnaker_ui_url).rstrip("/"),
            gate_url=(_url(env, "GATE_URL") or "").rstrip("/") or None,
            gate_token=_secret(env, "GATE_TOKEN"),
            gate_username=env.get("GATE_USERNAME") or None,
            gate_password=_secret(env, "GATE_PASSWORD"),
            gate_client_cert=env.get("GATE_CLIENT_CERT") or None,
            gate_client_key=env.get("GATE_CLIENT_KEY") or None,
            gate_ca_bundle=env.get("GATE_CA_BUNDLE") or None,
            gate_timeout=_number(env, "GATE_TIMEOUT", float, cls.gate_timeout),
            gate_user_header=_flag(env, "GATE_SEND_USER_HEADER", False),
            fiat_url=(_url(env, "RELAY_FIAT_URL") or "").rstrip("/") or None,
            database_url=database_url(_url(env, "RELAY_DATABASE_URL") or DEFAULT_DATABASE_URL),
            echo_username=env.get("RELAY_ECHO_USERNAME") or None,
            echo_password=_secret(env, "RELAY_ECHO_PASSWORD"),
            echo_token=_secret(env, "RELAY_ECHO_TOKEN"),
            notification_types=_csv(env, "RELAY_NOTIFICATION_TYPES", "slack"),
            config_path=config_path,
            bind=env.get("RELAY_BIND") or cls.bind,
            max_event_bytes=_number(env, "RELAY_MAX_EVENT_BYTES", int, cls.max_event_bytes, minimum=1),
            command_rate=_number(env, "RELAY_COMMAND_RATE", int, cls.command_rate, minimum=1),
            max_addresses_per_event=_number(env, "RELAY_MAX_ADDRESSES_PER_EVENT", int,
                                            cls.max_addresses_per_event, minimum=1),
            join_channels=_flag(env, "RELAY_JOIN_CHANNELS", True),
            max_slack_bytes=_number(env, "RELAY_MAX_SLACK_BYTES", int, cls.max_slack_bytes, minimum=1),
            message_per_run=_flag(env, "RELAY_MESSAGE_PER_RUN", True),
            channel_interval=_number(env, "RELAY_CHANNEL_INTERVAL", float, cls.channel_interval),
            delivery_max_attempts=_number(env, "RELAY_DELIVERY_MAX_ATTEMPTS", int, cls.delivery_max_attempts,
                                          minimum=1),
            lease_seconds=_number(env, "RELAY_LEASE_SECONDS", float, cls.lease_seconds, minimum=1),
            delivery_concurrency=_number(env, "RELAY_DELIVERY_CONCURRENCY", int, cls.delivery_concurrency,
                                         minimum=1),
            job_concurrency=_number(env, "RELAY_JOB_CONCURRENCY", int, cls.job_concurrency, minimum=1),
            job_deadline=_number(env, "RELAY_JOB_DEADLINE", float, cls.job_deadline, minimum=1),
            log_format=env.get("RELAY_LOG_FORMAT") or "text",
            log_level=(env.get("RELAY_LOG_LEVEL") or cls.log_level).upper(),
            metrics_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
            web_workers=_number(env, "RELAY_WEB_WORKERS", int, cls.web_workers),
            forwarded_allow_ips=env.get("FORWARDED_ALLOW_IPS") or cls.forwarded_allow_ips,
            slack_workspace_url=(_url(env, "SLACK_WORKSPACE_URL") or "").rstrip("/") or None,
            console_auth=(env.get("RELAY_CONSOLE_AUTH") or "off").strip().lower(),
            console_secret=_secret(env, "RELAY_CONSOLE_SECRET"),
            console_users=_console_users(env.get("RELAY_CONSOLE_USERS") or ""),
            console_proxies=tuple(_items(env.get("RELAY_CONSOLE_PROXIES"))),
            console_operators=frozenset(_items(env.get("RELAY_CONSOLE_OPERATORS"))),
            console_viewers=frozenset(_items(env.get("RELAY_CONSOLE_VIEWERS"))),
            console_oidc_issuer=(_url(env, "RELAY_CONSOLE_OIDC_ISSUER") or "").rstrip("/") or None,
            console_oidc_client_id=env.get("RELAY_CONSOLE_OIDC_CLIENT_ID") or None,
            console_oidc_client_secret=_secret(env, "RELAY_CONSOLE_OIDC_CLIENT_SECRET"),
            rules=load_rules(config_path) if config_path else RelayRules(),
        )
        if validate:
            settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse combinations that would run insecurely or not at all."""
        if self.slack_bot_token and not self.echo_auth_configured:
            raise ConfigError("RELAY_ECHO_TOKEN or RELAY_ECHO_USERNAME/RELAY_ECHO_PASSWORD must be set "
                              "when SLACK_BOT_TOKEN is set, so that only Echo can make the relay post")
        if bool(self.echo_username) != bool(self.echo_password):
            raise ConfigError("RELAY_ECHO_USERNAME and RELAY_ECHO_PASSWORD must be set together")
        if self.log_format not in ("text", "json"):
            raise ConfigError("RELAY_LOG_FORMAT: must be 'text' or 'json'")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"RELAY_LOG_LEVEL: must be one of {', '.join(LOG_LEVELS)}")
        for key, url in (("SLACK_API_URL", self.slack_api_url), ("SPINNAKER_UI_URL", self.spinnaker_ui_url),
                         ("GATE_URL", self.gate_url), ("RELAY_FIAT_URL", self.fiat_url)):
            if url is not None and not _is_http_url(url):
                raise ConfigError(f"{key}: {redact_url(url)!r} is not an http:// or https:// URL")
        if url_userinfo(self.spinnaker_ui_url)[0]:
            raise ConfigError("SPINNAKER_UI_URL: must not carry a user or password; it is in every link the "
                              "relay posts to Slack")
        _check_database_url(self.database_url)
        parse_bind(self.bind, key="RELAY_BIND")
        self._validate_console()

    def _validate_console(self) -> None:
        """The console is off, or on with a session secret, someone in a role, and its mode's settings."""
        if self.slack_workspace_url is not None and not _is_http_url(self.slack_workspace_url):
            raise ConfigError("SLACK_WORKSPACE_URL: not an http:// or https:// URL (https://acme.slack.com)")
        if self.console_auth not in CONSOLE_AUTH_MODES:
            raise ConfigError(f"RELAY_CONSOLE_AUTH: must be one of {', '.join(CONSOLE_AUTH_MODES)}")
        if not self.console_enabled:
            return
        if not self.console_secret:
            raise ConfigError("RELAY_CONSOLE_SECRET must be set when the console is on: it signs the session")
        if not (self.console_operators or self.console_viewers):
            raise ConfigError("RELAY_CONSOLE_OPERATORS or RELAY_CONSOLE_VIEWERS must name someone: the "
                              "console lets in only the people they list")
        if self.console_auth == "basic" and not self.console_users:
            raise ConfigError("RELAY_CONSOLE_USERS must list NAME:PASSWORD_HASH pairs with "
                              "RELAY_CONSOLE_AUTH=basic")
        if self.console_auth == "proxy":
            if not self.console_proxies:
                raise ConfigError("RELAY_CONSOLE_PROXIES must list the auth proxy's addresses with "
                                  "RELAY_CONSOLE_AUTH=proxy")
            for proxy in self.console_proxies:
                try:
                    ipaddress.ip_network(proxy, strict=False)
                except ValueError:
                    raise ConfigError(f"RELAY_CONSOLE_PROXIES: {proxy!r} is not an address or "
                                      "CIDR") from None
        if self.console_auth == "oidc":
            if not (self.console_oidc_issuer and self.console_oidc_client_id
                    and self.console_oidc_client_secret):
                raise ConfigError("RELAY_CONSOLE_OIDC_ISSUER, RELAY_CONSOLE_OIDC_CLIENT_ID and "
                                  "RELAY_CONSOLE_OIDC_CLIENT_SECRET must be set with RELAY_CONSOLE_AUTH=oidc")
            if not _is_http_url(self.console_oidc_issuer):
                raise ConfigError("RELAY_CONSOLE_OIDC_ISSUER: not an http:// or https:// URL")


def redact_url(url: str) -> str:
    """The URL with any user and password before its host replaced, for showing it."""
    return URL_USERINFO.sub(rf"\1{REDACTED}@", url)


def url_userinfo(url: str) -> tuple[str, str]:
    """The userinfo before a URL's host and the password in it, as written ('' for what is not there)."""
    match = URL_USERINFO.match(url)
    userinfo = match.group(2) if match else ""
    return userinfo, userinfo.partition(":")[2]


def load_rules(path: str) -> RelayRules:
    """Load and validate the YAML rules file; any problem becomes one line naming the key."""
    try:
        with open(path, encoding="utf-8") as stream:
            document = yaml.safe_load(stream) or {}
    except OSError as err:
        raise ConfigError(f"RELAY_CONFIG: cannot read {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"RELAY_CONFIG: {path} is not valid YAML: {_yaml_problem(err)}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"RELAY_CONFIG: {path} must hold a mapping at the top level")
    try:
        return RELAY_CONFIG_SCHEMA.load(document)
    except ValidationError as err:
        raise ConfigError(f"RELAY_CONFIG: {path}: {config_error(err.messages)}") from None


def _yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line: the problem and where it is."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or " ".join(str(err).split())
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def database_url(url: str) -> str:
    """`postgres://` and `postgresql://` (as hosting platforms hand them out) mean PostgreSQL through
    psycopg, the driver the relay installs; other URLs are kept as given."""
    scheme, separator, rest = url.partition("://")
    if separator and scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return url


def parse_bind(bind: str, *, key: str) -> tuple[str, int] | None:
    """HOST:PORT (or [IPv6]:PORT) as (host, port); None for Gunicorn's `unix:PATH`. Raises ConfigError."""
    if bind.startswith("unix:"):
        return None
    host, separator, port = bind.rpartition(":")
    if not separator or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{key}: {bind!r} is not HOST:PORT with a port from 1 to 65535 "
                          "(e.g. 0.0.0.0:8080)")
    return host.strip("[]") or "0.0.0.0", int(port)


def _check_database_url(url: str) -> None:
    """A SQLAlchemy URL for a supported backend; errors never repeat the URL, which may hold a password."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise ConfigError("RELAY_DATABASE_URL: not a database URL (sqlite:///relay.sqlite3 or "
                          "postgresql+psycopg://user@host/db)") from None
    if backend not in DATABASE_BACKENDS:
        raise ConfigError(f"RELAY_DATABASE_URL: {backend} is not supported; use sqlite:///relay.sqlite3 "
                          "or postgresql://user@host/db")


def _secret(env: Mapping[str, str], key: str) -> str | None:
    """A secret setting, refused when it is shorter than MIN_SECRET_LENGTH; errors never repeat it."""
    value = env.get(key) or None
    if value is not None and len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{key}: a secret must be at least {MIN_SECRET_LENGTH} characters long")
    return value


def _url(env: Mapping[str, str], key: str) -> str | None:
    """A URL setting, refused when it carries a password shorter than MIN_SECRET_LENGTH."""
    value = env.get(key) or None
    password = unquote(url_userinfo(value or "")[1])
    if password and len(password) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{key}: the password in the URL must be at least {MIN_SECRET_LENGTH} characters "
                          "long")
    return value


def _items(raw: str | None) -> list[str]:
    """A comma-separated list, blanks dropped."""
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


def _console_users(raw: str) -> tuple[tuple[str, str], ...]:
    """NAME:HASH pairs, comma-separated, the hashes as werkzeug's generate_password_hash writes them
    (`method$salt$hash`); errors never repeat a hash."""
    users = []
    for item in _items(raw):
        name, _, password_hash = item.partition(":")
        if not name or password_hash.count("$") != 2:
            raise ConfigError("RELAY_CONSOLE_USERS: each entry must be NAME:PASSWORD_HASH, the hash made by "
                              "werkzeug.security.generate_password_hash (see docs/console.md)")
        users.append((name.strip(), password_hash.strip()))
    return tuple(users)


def _csv(env: Mapping[str, str], key: str, default: str) -> frozenset[str]:
    values = frozenset(item.strip() for item in (env.get(key) or default).split(",") if item.strip())
    if not values:
        raise ConfigError(f"{key}: must name at least one notification type")
    return values


def _number(env: Mapping[str, str], key: str, kind: type, default: float, *, minimum: float = 0) -> float:
    raw = env.get(key)
    if raw in (None, ""):
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{key}: {raw!r} is not {NUMBER_KINDS[kind]}") from None
    if not math.isfinite(value) or value < minimum:
        raise ConfigError(f"{key}: must be a number of at least {minimum}")
    return value


def _flag(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = (env.get(key) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{key}: {raw!r} is not true or false")
