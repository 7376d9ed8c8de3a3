"""Settings from the environment and the YAML rules file; the only reader of os.environ."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit

import yaml
from marshmallow import ValidationError
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from relay.errors import ConfigError
from relay.models import RelayRules
from schemas.config import RELAY_CONFIG_SCHEMA, first_error

DEFAULT_DATABASE_URL = "sqlite:///slackops-relay.sqlite3"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DATABASE_BACKENDS = ("sqlite", "postgresql")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Settings:
    """Everything the relay is told at startup. Secrets are kept out of repr()."""

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
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)  # may hold a password
    echo_username: str | None = None
    echo_password: str | None = field(default=None, repr=False)
    echo_token: str | None = field(default=None, repr=False)
    notification_types: frozenset[str] = frozenset({"slack"})
    config_path: str | None = None
    bind: str = "0.0.0.0:8080"
    max_event_bytes: int = 16 * 1024 * 1024
    max_addresses_per_event: int = 50
    join_channels: bool = True
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
    rules: RelayRules = field(default_factory=RelayRules)

    @property
    def dry_run(self) -> bool:
        """Without a bot token nothing is sent to Slack: messages are rendered, stored and logged."""
        return not self.slack_bot_token

    @property
    def echo_auth_configured(self) -> bool:
        return bool(self.echo_token or (self.echo_username and self.echo_password))

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every configured secret value (the fields kept out of repr(); of the database URL, its password),
        for the log formatter to blank out wherever it appears."""
        hidden = [item.name for item in fields(self) if not item.repr and item.name != "database_url"]
        values = [getattr(self, name) for name in hidden] + [make_url(self.database_url).password]
        return tuple(str(value) for value in values if value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, validate: bool = True) -> Settings:
        """Read RELAY_*, SLACK_*, GATE_URL and SPINNAKER_UI_URL; raise ConfigError naming the bad key.
        `validate=False` keeps unsafe combinations (for `doctor`, which reports them)."""
        env = os.environ if environ is None else environ
        config_path = env.get("RELAY_CONFIG") or None
        settings = cls(
            slack_bot_token=env.get("SLACK_BOT_TOKEN") or None,
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET") or None,
            slack_app_token=env.get("SLACK_APP_TOKEN") or None,
            slack_api_url=env.get("SLACK_API_URL") or DEFAULT_SLACK_API_URL,
            spinnaker_ui_url=(env.get("SPINNAKER_UI_URL") or cls.spinnaker_ui_url).rstrip("/"),
            gate_url=(env.get("GATE_URL") or "").rstrip("/") or None,
            gate_token=env.get("GATE_TOKEN") or None,
            gate_username=env.get("GATE_USERNAME") or None,
            gate_password=env.get("GATE_PASSWORD") or None,
            gate_client_cert=env.get("GATE_CLIENT_CERT") or None,
            gate_client_key=env.get("GATE_CLIENT_KEY") or None,
            gate_ca_bundle=env.get("GATE_CA_BUNDLE") or None,
            gate_timeout=_number(env, "GATE_TIMEOUT", float, cls.gate_timeout),
            gate_user_header=_flag(env, "GATE_SEND_USER_HEADER", False),
            fiat_url=(env.get("RELAY_FIAT_URL") or "").rstrip("/") or None,
            database_url=env.get("RELAY_DATABASE_URL") or DEFAULT_DATABASE_URL,
            echo_username=env.get("RELAY_ECHO_USERNAME") or None,
            echo_password=env.get("RELAY_ECHO_PASSWORD") or None,
            echo_token=env.get("RELAY_ECHO_TOKEN") or None,
            notification_types=_csv(env, "RELAY_NOTIFICATION_TYPES", "slack"),
            config_path=config_path,
            bind=env.get("RELAY_BIND") or cls.bind,
            max_event_bytes=_number(env, "RELAY_MAX_EVENT_BYTES", int, cls.max_event_bytes, minimum=1),
            max_addresses_per_event=_number(env, "RELAY_MAX_ADDRESSES_PER_EVENT", int,
                                            cls.max_addresses_per_event, minimum=1),
            join_channels=_flag(env, "RELAY_JOIN_CHANNELS", True),
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
                raise ConfigError(f"{key}: {url!r} is not an http:// or https:// URL")
        _check_database_url(self.database_url)


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
        raise ConfigError(f"RELAY_CONFIG: {path}: {first_error(err.messages)}") from None


def _yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line: the problem and where it is."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or " ".join(str(err).split())
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _check_database_url(url: str) -> None:
    """A SQLAlchemy URL for a supported backend; errors never repeat the URL, which may hold a password."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise ConfigError("RELAY_DATABASE_URL: not a database URL (sqlite:///relay.sqlite3 or "
                          "postgresql+psycopg://user@host/db)") from None
    if backend not in DATABASE_BACKENDS:
        raise ConfigError(f"RELAY_DATABASE_URL: {backend} is not supported; use SQLite or PostgreSQL")


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
        raise ConfigError(f"{key}: {raw!r} is not a {kind.__name__}") from None
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
