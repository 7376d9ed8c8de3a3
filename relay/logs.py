"""Log lines as text or JSON, each carrying its request id, with secrets blanked out wherever they appear."""

from __future__ import annotations

import json
import logging
import random
import re
import sys
import time
from collections.abc import Iterable
from contextvars import ContextVar

from gunicorn import glogging

from relay.config import REDACTED, URL_USERINFO, Settings

# Credentials the relay was not told about but may still see: Slack tokens, HTTP credentials, signatures,
# the user and password in any URL, Slack's webhook and response_url paths (they let anyone post), and the
# ticket of a Socket Mode connection URL.
CREDENTIAL_PATTERNS = (
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+"), REDACTED),
    (re.compile(r"\bxapp-[A-Za-z0-9-]+"), REDACTED),
    (re.compile(r"\b(Basic|Bearer)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1 " + REDACTED),
    (re.compile(r"\bv0=[0-9a-f]{64}\b"), REDACTED),
    (URL_USERINFO, r"\1" + REDACTED + "@"),
    (re.compile(r"(\bhooks\.slack\.com/)[^\s\"'<>|]+", re.IGNORECASE), r"\1" + REDACTED),
    (re.compile(r"(\bticket=)[^&\s\"'<>|]+"), r"\1" + REDACTED),
)
# Text every credential pattern above needs (in lower case): an ASCII line holding none of them, the usual
# case, skips the patterns.
CREDENTIAL_MARKERS = ("xox", "xapp-", "basic", "bearer", "v0=", "://", "hooks.slack.com/", "ticket=")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# LogRecord attributes every record has; anything else was passed with `extra=` and is a field of the line.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-Id when it is a sane token, else a new one: 128 random bits (from `random`,
    reseeded in each forked worker; an id needs to be unique, not secret, and uuid4 reads the OS's entropy
    on every request)."""
    if header and REQUEST_ID.match(header):
        return header
    return f"{random.getrandbits(128):032x}"


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being handled (None outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


class Redactor:
    """Replaces known secrets and credential-shaped strings in text bound for a log, a terminal or a
    message."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # A secret can appear raw, or JSON-escaped inside a JSON line.
        self.secrets = sorted({form for secret in secrets for form in (secret, json.dumps(secret)[1:-1])},
                              key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        if text.isascii():
            lowered = text.lower()
            if not any(marker in lowered for marker in CREDENTIAL_MARKERS):
                return text
        for pattern, replacement in CREDENTIAL_PATTERNS:
            text = pattern.sub(replacement, text)
        return text


class RelayFormatter(logging.Formatter):
    """One line per record, text or JSON, with known secrets and credential-shaped strings replaced."""

    def __init__(self, *, json_lines: bool, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.json_lines = json_lines
        self.redact = Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        fields = {key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES}
        request_id = fields.pop("request_id", None)
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        if self.json_lines:
            document = {"time": _timestamp(record.created), "level": record.levelname, "logger": record.name,
                        "message": message}
            if request_id:
                document["request_id"] = request_id
            line = json.dumps({**document, **fields}, default=str, ensure_ascii=False)
        else:  # the message says it all; fields passed with `extra=` are for JSON consumers
            stamp = _timestamp(record.created)
            line = f"{stamp} {record.levelname} {record.name} [{request_id or '-'}] {message}"
        return self.redact(line)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a record arrives, so redirecting it later still works."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr


def configure_logging(settings: Settings) -> None:
    """Send every logger's records to stderr in the configured format and level (configuring again
    replaces the relay's handler, not handlers others added)."""
    handler = StderrHandler()
    handler.setFormatter(RelayFormatter(json_lines=settings.log_format == "json", secrets=settings.secrets))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # Alembic narrates each connection it inspects (every readiness probe); relay.migrate logs what changed.
    logging.getLogger("alembic").setLevel(logging.WARNING)


class GunicornLogger(glogging.Logger):
    """Gunicorn's own messages go through the relay's handler, so they share its format; its access log
    stays off because the relay logs each request itself, with the request id."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
        self.error_log.propagate = True


def _timestamp(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"
