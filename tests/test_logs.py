"""Log lines: one per request and per delivery, text or JSON, with the request id, and never a secret."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator

import pytest

from relay.app import create_app
from relay.clients.slack import SlackPoster, build_client
from relay.config import Settings
from relay.logs import REDACTED, RelayFormatter, StderrHandler, configure_logging
from relay.metrics import Metrics
from relay.services import Services
from relay.store import Store
from relay.wiring import feature_handlers
from tests.events import execution, pipeline_event, stage_event
from tests.fakes import FakeSlack

BOT_TOKEN = "xoxb-4242-secret-bot-token"
ECHO_PASSWORD = "echo-pass-Zq9-of-the-relay"
ECHO_TOKEN = "echo-bearer-Wk7-of-the-relay"
SIGNING_SECRET = "signing-secret-8f7e"
SIGNATURE = "v0=" + "ab12" * 16


@pytest.fixture
def relay_logging() -> Iterator[Callable[[Settings], None]]:
    """Configure the relay's logging for one test, and take it down afterwards."""
    root = logging.getLogger()
    level = root.level
    yield configure_logging
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)
    root.setLevel(level)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_logs_never_contain_tokens_passwords_or_signatures(
        migrated_store: Store, relay_logging, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeSlack(token=BOT_TOKEN) as fake:
        settings = Settings(slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
                            slack_api_url=fake.api_url, echo_username="echo", echo_password=ECHO_PASSWORD,
                            echo_token=ECHO_TOKEN, log_format="json", log_level="DEBUG")
        relay_logging(settings)
        metrics = Metrics()
        poster = SlackPoster(build_client(token=BOT_TOKEN, base_url=fake.api_url, metrics=metrics))
        services = Services(handlers=feature_handlers(),
                            settings=settings, store=migrated_store, poster=poster, metrics=metrics)
        client = create_app(services=services).test_client()
        basic = "Basic " + base64.b64encode(f"echo:{ECHO_PASSWORD}".encode()).decode()
        wrong = "Basic " + base64.b64encode(b"echo:not-the-password").decode()
        assert client.post("/echo/events", json=pipeline_event("starting", execution(id="r1")),
                           headers={"Authorization": basic}).status_code == 202
        second = pipeline_event("starting", execution(id="r2"))
        assert client.post(f"/echo/events?token={ECHO_TOKEN}", json=second,
                           headers={"Authorization": f"Bearer {ECHO_TOKEN}"}).status_code == 202
        refused = client.post("/echo/events", json=pipeline_event("starting"),
                              headers={"Authorization": wrong, "X-Slack-Signature": SIGNATURE})
        assert refused.status_code == 401
        fake.fail_next("chat.postMessage", error="invalid_auth")
        dispatcher = services.dispatcher(channel_interval=0.0)
        assert [dispatcher.run_once(), dispatcher.run_once()] == [1, 1]
        logging.getLogger("slack_sdk").debug("careless library: token=%s auth=%s", BOT_TOKEN, basic)
    captured = capsys.readouterr().err
    lines = json_lines(captured)
    assert len([line for line in lines if line["logger"] == "relay.requests"]) == 3
    assert any(line["message"].startswith("delivered ") for line in lines)
    assert any("failed for good: invalid_auth" in line["message"] for line in lines)
    assert REDACTED in captured
    for secret in (BOT_TOKEN, ECHO_PASSWORD, ECHO_TOKEN, SIGNING_SECRET, SIGNATURE, basic.split()[1],
                   wrong.split()[1]):
        assert secret not in captured


def test_request_lines_are_json_with_the_request_id(migrated_store: Store, relay_logging,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(log_format="json")
    relay_logging(settings)
    client = create_app(services=Services(handlers=feature_handlers(),
                                          settings=settings, store=migrated_store, poster=None)).test_client()
    client.post("/echo/events", json=pipeline_event("starting"), headers={"X-Request-Id": "from-ingress-1"})
    client.get("/healthz")
    requests = [line for line in json_lines(capsys.readouterr().err) if line["logger"] == "relay.requests"]
    assert [(line["method"], line["path"], line["status"]) for line in requests] == [
        ("POST", "/echo/events", 202), ("GET", "/healthz", 200)]
    assert requests[0]["request_id"] == "from-ingress-1"
    assert requests[1]["request_id"] != "from-ingress-1"
    assert all(isinstance(line["duration_ms"], float) for line in requests)


@pytest.mark.parametrize(("level", "posted", "logged"), [("INFO", 200, 2), ("DEBUG", 5, 5)])
def test_request_lines_of_ignored_events_are_sampled_at_info_with_their_request_ids(
        migrated_store: Store, relay_logging, capsys: pytest.CaptureFixture[str], level: str, posted: int,
        logged: int) -> None:
    settings = Settings(log_format="json", log_level=level)
    relay_logging(settings)
    client = create_app(services=Services(handlers=feature_handlers(),
                                          settings=settings, store=migrated_store, poster=None)).test_client()
    ignored = [f"ignored-{n}" for n in range(posted)]
    for request_id in ignored:
        response = client.post("/echo/events", json=stage_event("starting", kind="task"),
                               headers={"X-Request-Id": request_id})
        assert (response.status_code, response.headers["X-Request-Id"]) == (200, request_id)
    client.post("/echo/events", json=pipeline_event("starting"), headers={"X-Request-Id": "queued-1"})
    requests = [line for line in json_lines(capsys.readouterr().err) if line["logger"] == "relay.requests"]
    sampled = [line for line in requests if line["request_id"] in ignored]
    assert len(sampled) == logged
    one_in = posted // logged
    assert all(line.get("sampled_one_in", 1) == one_in for line in sampled)
    assert all(("(1 in" in line["message"]) == (one_in > 1) for line in sampled)
    assert [(line["request_id"], line["status"]) for line in requests[-1:]] == [("queued-1", 202)]
    assert "sampled_one_in" not in requests[-1]


@pytest.mark.parametrize("line", [
    "sent with Authorization: BEARER abc.def", "auth basic dXNlcjpwYXNz", "token xoxb-1-2-abc",
    "app xapp-1-A-2-abc", "sig v0=" + "ab" * 32, "url postgresql://relay:pw@db/relay",
    "hook https://HOOKS.slack.com/services/T0/B0/x", "wss://wss.slack.com/link/?ticket=abc&app=x",
])
def test_redactor_blanks_every_credential_kind_in_any_case(line: str) -> None:
    assert REDACTED in RelayFormatter(json_lines=False).redact(line)


def test_text_request_lines_keep_to_one_line(migrated_store: Store, relay_logging,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(log_format="text")
    relay_logging(settings)
    client = create_app(services=Services(handlers=feature_handlers(),
                                          settings=settings, store=migrated_store, poster=None)).test_client()
    client.get("/nowhere%0Aforged INFO line", headers={"X-Request-Id": "abc"})
    [line] = [line for line in capsys.readouterr().err.splitlines() if "relay.requests" in line]
    assert "[abc] GET /nowhere\\nforged INFO line 404" in line


def test_formatter_redacts_secrets_in_messages_fields_and_tracebacks() -> None:
    formatter = RelayFormatter(json_lines=True, secrets=['pa"ss\\word'])
    try:
        raise RuntimeError('connect failed with pa"ss\\word')
    except RuntimeError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "user token %s", ("xoxp-1-2-3",), None)
        record.exc_info = __import__("sys").exc_info()
    record.header = 'Bearer abc.def and pa"ss\\word'
    line = formatter.format(record)
    parsed = json.loads(line)
    assert 'pa"ss\\word' not in json.dumps(parsed) and 'pa"ss\\word' not in parsed["message"]
    assert parsed["message"].startswith(f"user token {REDACTED}")
    assert "Traceback" in parsed["message"] and f"connect failed with {REDACTED}" in parsed["message"]
    assert parsed["header"] == f"Bearer {REDACTED} and {REDACTED}"


def test_settings_name_every_secret_for_redaction() -> None:
    secrets = [f"secret-number-{n}-value" for n in range(1, 11)]
    settings = Settings(slack_bot_token=secrets[0], slack_signing_secret=secrets[1],
                        slack_app_token=secrets[2], gate_token=secrets[3], gate_password=secrets[4],
                        echo_password=secrets[5], echo_token=secrets[6], echo_username="echo",
                        database_url=f"postgresql+psycopg://relay:{secrets[7]}@db/relay",
                        gate_url=f"http://relay:{secrets[8]}@gate:8084",
                        fiat_url=f"http://fiat-user:{secrets[9]}@fiat:7003")
    assert set(settings.secrets) == {*secrets, f"relay:{secrets[7]}", f"relay:{secrets[8]}",
                                     f"fiat-user:{secrets[9]}"}


@pytest.mark.parametrize("line, secret", [
    pytest.param("Gate at http://relay:gate-password-of-the-relay@gate:8084/auth/user refused",
                 "gate-password-of-the-relay", id="configured-url"),
    pytest.param("Gate at gate:8084 said gate-password-of-the-relay was wrong", "gate-password-of-the-relay",
                 id="configured-password-alone"),
    pytest.param("Gate at http://relay:p%40ss-w0rd-of-the-relay@gate:8084 refused", "p%40ss",
                 id="configured-url-percent-encoded"),
    pytest.param("proxy http://someone:hunter2@proxy:3128 refused", "hunter2", id="unknown-url-password"),
    pytest.param("proxy http://only-a-token@proxy:3128 refused", "only-a-token", id="unknown-url-user"),
    pytest.param("posting to https://hooks.slack.com/actions/T0123/4567/AbCdEf0123 failed", "AbCdEf0123",
                 id="response-url"),
    pytest.param("connecting to wss://wss-primary.slack.com/link/?ticket=9f8e7d6c&app_id=A1", "9f8e7d6c",
                 id="socket-mode-ticket"),
])
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_logs_redact_credentials_in_urls(line: str, secret: str, log_format: str, relay_logging,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    relay_logging(Settings(gate_url="http://relay:gate-password-of-the-relay@gate:8084",
                           fiat_url="http://relay:p%40ss-w0rd-of-the-relay@fiat:7003", log_format=log_format))
    logging.getLogger("relay.test").warning("%s", line)
    captured = capsys.readouterr().err
    assert REDACTED in captured and line.split()[0] in captured
    assert secret not in captured


