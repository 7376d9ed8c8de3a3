"""Tests for relay/config.py and schemas/config.py: environment parsing, the YAML rules file, secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from relay.config import Settings
from relay.errors import ConfigError
from relay.models import ApproverPolicy, Route

AUTH = {"RELAY_ECHO_USERNAME": "echo", "RELAY_ECHO_PASSWORD": "echo-password-of-the-relay"}


def test_config_defaults_from_an_empty_environment() -> None:
    settings = Settings.from_env({})
    assert settings.dry_run
    assert not settings.echo_auth_configured
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.spinnaker_ui_url == "http://localhost:9000"
    assert settings.database_url == "sqlite:///slackops-relay.sqlite3"
    assert settings.notification_types == frozenset({"slack"})
    assert settings.bind == "0.0.0.0:8080"
    assert settings.max_event_bytes == 16 * 1024 * 1024
    assert settings.max_slack_bytes == 1024 * 1024
    assert settings.command_rate == 20
    assert settings.message_per_run is True
    assert settings.channel_interval == 1.0
    assert settings.delivery_max_attempts == 12
    assert (settings.max_addresses_per_event, settings.join_channels) == (50, True)
    assert settings.rules.routes == ()
    assert settings.rules.channels == {}


def test_config_reads_every_variable(tmp_path: Path) -> None:
    rules = tmp_path / "relay.yml"
    rules.write_text("routes: []\n")
    settings = Settings.from_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-1-bot-token-value",
            "SLACK_API_URL": "http://127.0.0.1:9/api/",
            "SPINNAKER_UI_URL": "https://deck.example.com/",
            "GATE_URL": "https://gate.example.com/",
            "RELAY_DATABASE_URL": "postgresql+psycopg://relay:database-password-1@db/relay",
            "RELAY_ECHO_TOKEN": "t0ken-of-sixteen-chars",
            "RELAY_NOTIFICATION_TYPES": " slack , slackops ,",
            "RELAY_CONFIG": str(rules),
            "RELAY_BIND": "127.0.0.1:9000",
            "RELAY_MAX_EVENT_BYTES": "1024",
            "RELAY_MAX_SLACK_BYTES": "4096",
            "RELAY_MESSAGE_PER_RUN": "off",
            "RELAY_CHANNEL_INTERVAL": "0.25",
            "RELAY_DELIVERY_MAX_ATTEMPTS": "3",
            "RELAY_LEASE_SECONDS": "5",
            "RELAY_LOG_FORMAT": "json",
            "RELAY_MAX_ADDRESSES_PER_EVENT": "5",
            "RELAY_JOIN_CHANNELS": "off",
            "RELAY_DELIVERY_CONCURRENCY": "4",
            "RELAY_JOB_CONCURRENCY": "2",
            "RELAY_JOB_DEADLINE": "30",
        }
    )
    assert not settings.dry_run
    assert (settings.max_addresses_per_event, settings.join_channels) == (5, False)
    assert settings.echo_token == "t0ken-of-sixteen-chars"
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"
    assert settings.spinnaker_ui_url == "https://deck.example.com"
    assert settings.gate_url == "https://gate.example.com"
    assert settings.database_url == "postgresql+psycopg://relay:database-password-1@db/relay"
    assert settings.notification_types == frozenset({"slack", "slackops"})
    assert settings.config_path == str(rules)
    assert settings.bind == "127.0.0.1:9000"
    assert (settings.max_event_bytes, settings.message_per_run, settings.channel_interval) == (
        1024,
        False,
        0.25,
    )
    assert (settings.delivery_max_attempts, settings.lease_seconds, settings.log_format) == (3, 5.0, "json")
    assert settings.max_slack_bytes == 4096
    assert (settings.delivery_concurrency, settings.job_concurrency, settings.job_deadline) == (4, 2, 30.0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("1", True),
        ("YES", True),
        (" on ", True),
        ("false", False),
        ("0", False),
        ("No", False),
        ("off", False),
        ("", True),
    ],
)
def test_config_reads_flags(raw: str, expected: bool) -> None:
    assert Settings.from_env({"RELAY_MESSAGE_PER_RUN": raw}).message_per_run is expected


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        pytest.param({"RELAY_MAX_EVENT_BYTES": "lots"}, "RELAY_MAX_EVENT_BYTES", id="not-a-number"),
        pytest.param({"RELAY_MAX_EVENT_BYTES": "1.5"}, "RELAY_MAX_EVENT_BYTES", id="not-an-integer"),
        pytest.param({"RELAY_MAX_EVENT_BYTES": "0"}, "RELAY_MAX_EVENT_BYTES", id="zero-bytes"),
        pytest.param({"RELAY_MAX_EVENT_BYTES": "-1"}, "RELAY_MAX_EVENT_BYTES", id="negative"),
        pytest.param({"RELAY_MAX_SLACK_BYTES": "0"}, "RELAY_MAX_SLACK_BYTES", id="zero-slack-bytes"),
        pytest.param({"RELAY_MAX_SLACK_BYTES": "1MiB"}, "RELAY_MAX_SLACK_BYTES", id="slack-bytes-with-unit"),
        pytest.param({"RELAY_CHANNEL_INTERVAL": "nan"}, "RELAY_CHANNEL_INTERVAL", id="nan"),
        pytest.param({"RELAY_CHANNEL_INTERVAL": "inf"}, "RELAY_CHANNEL_INTERVAL", id="infinite"),
        pytest.param({"RELAY_CHANNEL_INTERVAL": "-0.5"}, "RELAY_CHANNEL_INTERVAL", id="negative-interval"),
        pytest.param({"RELAY_DELIVERY_MAX_ATTEMPTS": "0"}, "RELAY_DELIVERY_MAX_ATTEMPTS", id="no-attempts"),
        pytest.param({"RELAY_LEASE_SECONDS": "0"}, "RELAY_LEASE_SECONDS", id="no-lease"),
        pytest.param({"RELAY_COMMAND_RATE": "0"}, "RELAY_COMMAND_RATE", id="no-commands"),
        pytest.param({"RELAY_COMMAND_RATE": "lots"}, "RELAY_COMMAND_RATE", id="rate-not-a-number"),
        pytest.param({"RELAY_DELIVERY_CONCURRENCY": "0"}, "RELAY_DELIVERY_CONCURRENCY",
                     id="no-delivery-threads"),
        pytest.param({"RELAY_JOB_CONCURRENCY": "1.5"}, "RELAY_JOB_CONCURRENCY", id="job-threads-not-integer"),
        pytest.param({"RELAY_JOB_DEADLINE": "0"}, "RELAY_JOB_DEADLINE", id="no-job-deadline"),
        pytest.param({"RELAY_MAX_ADDRESSES_PER_EVENT": "0"}, "RELAY_MAX_ADDRESSES_PER_EVENT",
                     id="no-addresses"),
        pytest.param({"RELAY_JOIN_CHANNELS": "sometimes"}, "RELAY_JOIN_CHANNELS", id="join-not-a-flag"),
        pytest.param({"RELAY_MESSAGE_PER_RUN": "maybe"}, "RELAY_MESSAGE_PER_RUN", id="not-a-flag"),
        pytest.param({"RELAY_NOTIFICATION_TYPES": " , ,"}, "RELAY_NOTIFICATION_TYPES", id="no-types"),
        pytest.param({"RELAY_LOG_FORMAT": "xml"}, "RELAY_LOG_FORMAT", id="log-format"),
        pytest.param({"SLACK_BOT_TOKEN": "xoxb-1-bot-token-value"}, "RELAY_ECHO_TOKEN",
                     id="token-without-webhook-auth"),
        pytest.param({"RELAY_ECHO_USERNAME": "echo"}, "RELAY_ECHO_USERNAME", id="username-without-password"),
        pytest.param({"RELAY_ECHO_PASSWORD": "echo-password-of-the-relay"}, "RELAY_ECHO_USERNAME",
                     id="password-without-username"),
        pytest.param({"RELAY_DATABASE_URL": "not a url"}, "RELAY_DATABASE_URL", id="database-url"),
        pytest.param(
            {"RELAY_DATABASE_URL": "mysql://db/relay"}, "RELAY_DATABASE_URL", id="unsupported-database"
        ),
        pytest.param(
            {"SPINNAKER_UI_URL": "deck.example.com"}, "SPINNAKER_UI_URL", id="ui-url-without-scheme"
        ),
        pytest.param({"SLACK_API_URL": "ftp://slack.example.com/"}, "SLACK_API_URL", id="slack-url-scheme"),
        pytest.param({"GATE_URL": "gate:8084"}, "GATE_URL", id="gate-url-without-scheme"),
        pytest.param({"RELAY_CONFIG": "/nonexistent/relay.yml"}, "RELAY_CONFIG", id="missing-rules-file"),
        pytest.param({"RELAY_BIND": "nonsense"}, "RELAY_BIND", id="bind-without-port"),
        pytest.param({"RELAY_BIND": "0.0.0.0:99999"}, "RELAY_BIND", id="bind-port-out-of-range"),
        pytest.param({"RELAY_BIND": "0.0.0.0:http"}, "RELAY_BIND", id="bind-port-not-a-number"),
    ],
)
def test_config_errors_name_the_key(environ: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(environ)
    message = raised.value.message
    assert key in message
    assert "\n" not in message


def test_config_errors_never_show_secrets() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(
            {
                "SLACK_BOT_TOKEN": "xoxb-very-secret-bot-token",
                "RELAY_ECHO_PASSWORD": "echo-password-of-the-relay",
                "RELAY_DATABASE_URL": "postgresql+psycopg://relay:database-password-1@/",
            }
        )
    assert "xoxb-very-secret" not in raised.value.message and "echo-password" not in raised.value.message


def test_config_repr_hides_secrets() -> None:
    settings = Settings.from_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-secret-bot-token",
            "SLACK_SIGNING_SECRET": "signing-secret-value",
            "SLACK_APP_TOKEN": "xapp-secret-app-token",
            "RELAY_ECHO_USERNAME": "echo",
            "RELAY_ECHO_PASSWORD": "echo-password-value",
            "RELAY_ECHO_TOKEN": "echo-token-of-the-relay",
            "RELAY_DATABASE_URL": "postgresql+psycopg://relay:database-password-1@db:5432/relay",
        }
    )
    shown = repr(settings) + str(settings)
    for secret in (
        "xoxb-secret-bot-token",
        "signing-secret-value",
        "xapp-secret-app-token",
        "echo-password-value",
        "echo-token-of-the-relay",
        "database-password-1",
    ):
        assert secret not in shown
    assert "echo_username='echo'" in shown  # what is not secret still helps


def rules_file(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "relay.yml"
    path.write_text(text)
    return {"RELAY_CONFIG": str(path)}


def test_config_loads_routes_and_approvers(tmp_path: Path) -> None:
    settings = Settings.from_env(
        rules_file(
            tmp_path,
            """
routes:
  - application: "payments*"
    pipeline: "deploy-prod*"
    when: [pipeline.failed, manualJudgment]
    channel: "#payments-deploys"
  - when: [pipeline.complete]
    channel: C0123ABCD
approvers:
  payments:
    users: [alice@example.com]
    groups: [payments-oncall]
""",
        )
    )
    assert settings.rules.routes == (
        Route(
            application="payments*",
            pipeline="deploy-prod*",
            when=("pipeline.failed", "manualJudgment"),
            channel="#payments-deploys",
        ),
        Route(application="*", pipeline="*", when=("pipeline.complete",), channel="C0123ABCD"),
    )
    assert settings.rules.approvers == {
        "payments": ApproverPolicy(
            users=frozenset({"alice@example.com"}), groups=frozenset({"payments-oncall"})
        )
    }


def test_config_loads_the_channel_allow_list(tmp_path: Path) -> None:
    settings = Settings.from_env(rules_file(tmp_path, """
channels:
  "payments*": ["#payments-*", C0123ABCD]
  "*": ["#deploys"]
"""))
    assert settings.rules.channels == {"payments*": ("#payments-*", "C0123ABCD"), "*": ("#deploys",)}


def test_config_empty_rules_file_means_no_rules(tmp_path: Path) -> None:
    assert Settings.from_env(rules_file(tmp_path, "")).rules.routes == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("route:\n  - channel: '#x'\n", "unknown key route; did you mean routes?",
                     id="unknown-top-level-key"),
        pytest.param(
            "routes:\n  - when: [pipeline.failed]\n    chanel: '#x'\n",
            "routes.0: unknown key chanel; did you mean channel?",
            id="misspelt-route-key",
        ),
        pytest.param(
            "approvers:\n  '*': {user: [alice@example.com]}\n",
            "approvers.*: unknown key user; did you mean users?",
            id="misspelt-approver-key",
        ),
        pytest.param(
            "routes:\n  - when: [pipeline.failed]\n    channel: '#x'\n    colour: red\n",
            "routes.0: unknown key colour (known keys: application, channel, pipeline, when)",
            id="unknown-route-key",
        ),
        pytest.param(
            "routes:\n  - when: [pipeline.failed]\n",
            "routes.0.channel: Missing data for required field.",
            id="missing-channel",
        ),
        pytest.param(
            "routes:\n  - when: [pipeline.fail]\n    channel: '#x'\n",
            "routes.0.when.0: Must be one of:",
            id="bad-when",
        ),
        pytest.param(
            "routes:\n  - when: pipeline.failed\n    channel: '#x'\n",
            "routes.0.when: Not a valid list.",
            id="when-not-a-list",
        ),
        pytest.param(
            "routes:\n  - when: []\n    channel: '#x'\n",
            "routes.0.when: Shorter than minimum length 1.",
            id="empty-when",
        ),
        pytest.param(
            "routes:\n  - when: [pipeline.failed]\n    channel: ''\n",
            "routes.0.channel: Shorter than",
            id="empty-channel",
        ),
        pytest.param(
            "routes:\n  - when: [pipeline.failed]\n    channel: '#x'\n    application: [a]\n",
            "routes.0.application: Not a valid string.",
            id="application-not-a-string",
        ),
        pytest.param("routes:\n", "routes: Field may not be null.", id="routes-null"),
        pytest.param("routes: {}\n", "routes: Not a valid list.", id="routes-not-a-list"),
        pytest.param(
            "approvers:\n  payments:\n    anyone: perhaps\n",
            "approvers.payments.anyone: Not a valid",
            id="approver-not-a-boolean",
        ),
        pytest.param("channels:\n  payments: []\n", "channels.payments: Shorter than minimum length 1.",
                     id="channels-empty-list"),
        pytest.param("channels:\n  payments: '#payments'\n", "channels.payments: Not a valid list.",
                     id="channels-not-a-list"),
        pytest.param("channels:\n  payments: ['']\n", "channels.payments.0: Shorter than",
                     id="channels-empty-glob"),
        pytest.param("- routes\n", "must hold a mapping", id="top-level-list"),
        pytest.param("routes: [\n", "is not valid YAML", id="broken-yaml"),
        pytest.param("routes:\n\t- when: x\n", "is not valid YAML", id="tab-indentation"),
    ],
)
def test_config_rules_errors_are_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(rules_file(tmp_path, text))
    message = raised.value.message
    assert message.startswith("RELAY_CONFIG: ")
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://relay:password-of-the-db@db:5432/relay",
         "postgresql+psycopg://relay:password-of-the-db@db:5432/relay"),
        ("postgresql://relay@db/relay?sslmode=require", "postgresql+psycopg://relay@db/relay?sslmode=require"),
        ("postgresql+psycopg://relay@db/relay", "postgresql+psycopg://relay@db/relay"),
        ("sqlite:///relay.sqlite3", "sqlite:///relay.sqlite3"),
    ],
)
def test_config_database_url_maps_postgres_schemes_to_psycopg(url: str, expected: str) -> None:
    assert Settings.from_env({"RELAY_DATABASE_URL": url}).database_url == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"RELAY_WEB_WORKERS": "x"}, "RELAY_WEB_WORKERS: 'x' is not a whole number"),
        ({"GATE_TIMEOUT": "soon"}, "GATE_TIMEOUT: 'soon' is not a number"),
    ],
)
def test_config_number_errors_read_as_english(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(environ)
    assert raised.value.message == message


@pytest.mark.parametrize("bind", ["0.0.0.0:8080", "127.0.0.1:1", "[::1]:65535", "unix:/run/relay.sock"])
def test_config_accepts_listen_addresses(bind: str) -> None:
    assert Settings.from_env({"RELAY_BIND": bind}).bind == bind
@pytest.mark.parametrize("key", ["GATE_URL", "RELAY_FIAT_URL", "SLACK_API_URL", "RELAY_DATABASE_URL"])
def test_config_repr_hides_the_userinfo_of_urls(key: str) -> None:
    scheme = "postgresql+psycopg" if key == "RELAY_DATABASE_URL" else "http"
    settings = Settings.from_env({key: f"{scheme}://relay-user:url-password-of-the-relay@host:8084/x"})
    shown = repr(settings) + str(settings)
    assert f"{scheme}://[redacted]@host:8084/x" in shown
    assert "url-password-of-the-relay" not in shown and "relay-user" not in shown


SECRET_SETTINGS = ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "GATE_TOKEN",
                   "GATE_PASSWORD", "RELAY_ECHO_PASSWORD", "RELAY_ECHO_TOKEN"]


@pytest.mark.parametrize("key", SECRET_SETTINGS)
@pytest.mark.parametrize("value", ["t", "fifteen-chars-x"])
def test_config_refuses_short_secrets(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({key: value}, validate=False)
    assert raised.value.message == f"{key}: a secret must be at least 16 characters long"


@pytest.mark.parametrize("key", SECRET_SETTINGS)
def test_config_takes_secrets_of_sixteen_characters(key: str) -> None:
    assert "sixteen-chars-xy" in Settings.from_env({key: "sixteen-chars-xy"}, validate=False).secrets


@pytest.mark.parametrize("key", ["GATE_URL", "RELAY_FIAT_URL", "SLACK_API_URL", "RELAY_DATABASE_URL"])
def test_config_refuses_short_passwords_in_urls(key: str) -> None:
    scheme = "postgresql+psycopg" if key == "RELAY_DATABASE_URL" else "http"
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({key: f"{scheme}://relay:pw%21@host/x"}, validate=False)
    assert raised.value.message == f"{key}: the password in the URL must be at least 16 characters long"


def test_config_refuses_credentials_in_the_spinnaker_ui_url() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"SPINNAKER_UI_URL": "https://deck-user:deck-password-of-the-relay@deck"})
    message = raised.value.message
    assert message.startswith("SPINNAKER_UI_URL: ") and "deck-password" not in message


def test_config_url_errors_hide_the_userinfo() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"GATE_URL": "ftp://relay:gate-password-of-the-relay@gate"})
    assert raised.value.message == "GATE_URL: 'ftp://[redacted]@gate' is not an http:// or https:// URL"


CONSOLE_ON = {"RELAY_CONSOLE_AUTH": "basic", "RELAY_CONSOLE_SECRET": "console-session-secret",
              "RELAY_CONSOLE_USERS": "olga:pbkdf2:sha256:1000$salt$0123abcd",
              "RELAY_CONSOLE_OPERATORS": "olga"}


def test_config_reads_the_console_settings() -> None:
    settings = Settings.from_env({**CONSOLE_ON, "RELAY_CONSOLE_VIEWERS": "vic, group:release",
                                  "RELAY_CONSOLE_PROXIES": "10.0.0.0/8, 127.0.0.1",
                                  "SLACK_WORKSPACE_URL": "https://acme.slack.com/"})
    assert settings.console_enabled and settings.console_auth == "basic"
    assert settings.console_users == (("olga", "pbkdf2:sha256:1000$salt$0123abcd"),)
    assert settings.console_viewers == {"vic", "group:release"}
    assert settings.console_proxies == ("10.0.0.0/8", "127.0.0.1")
    assert settings.slack_workspace_url == "https://acme.slack.com"
    assert "0123abcd" not in repr(settings) and "console-session-secret" not in repr(settings)
    assert not Settings.from_env({}).console_enabled


@pytest.mark.parametrize(("changes", "message"), [
    ({"RELAY_CONSOLE_AUTH": "ldap"}, "RELAY_CONSOLE_AUTH: must be one of off, oidc, proxy, basic"),
    ({"RELAY_CONSOLE_SECRET": ""}, "RELAY_CONSOLE_SECRET must be set"),
    ({"RELAY_CONSOLE_SECRET": "short"}, "RELAY_CONSOLE_SECRET: a secret must be at least 16"),
    ({"RELAY_CONSOLE_OPERATORS": ""}, "RELAY_CONSOLE_OPERATORS or RELAY_CONSOLE_VIEWERS must name someone"),
    ({"RELAY_CONSOLE_USERS": ""}, "RELAY_CONSOLE_USERS must list NAME:PASSWORD_HASH pairs"),
    ({"RELAY_CONSOLE_USERS": "olga:plain-text-password"}, "RELAY_CONSOLE_USERS: each entry must be NAME:"),
    ({"RELAY_CONSOLE_AUTH": "proxy"}, "RELAY_CONSOLE_PROXIES must list the auth proxy's addresses"),
    ({"RELAY_CONSOLE_AUTH": "proxy", "RELAY_CONSOLE_PROXIES": "the-proxy"},
     "'the-proxy' is not an address"),
    ({"RELAY_CONSOLE_AUTH": "oidc"}, "RELAY_CONSOLE_OIDC_ISSUER, RELAY_CONSOLE_OIDC_CLIENT_ID and"),
    ({"RELAY_CONSOLE_AUTH": "oidc", "RELAY_CONSOLE_OIDC_ISSUER": "accounts.example.com",
      "RELAY_CONSOLE_OIDC_CLIENT_ID": "relay",
      "RELAY_CONSOLE_OIDC_CLIENT_SECRET": "oidc-client-secret-value"},
     "RELAY_CONSOLE_OIDC_ISSUER: not an http"),
    ({"SLACK_WORKSPACE_URL": "acme.slack.com"}, "SLACK_WORKSPACE_URL: not an http"),
])
def test_config_console_fails_closed_on_incomplete_settings(changes: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env({**CONSOLE_ON, **changes})


def test_config_stop_seconds_wait_for_the_longest_call_in_flight_within_the_job_deadline() -> None:
    assert Settings().stop_seconds == 15.0  # Slack's and Gate's 10 s, and the hand-back
    assert Settings(gate_timeout=40.0).stop_seconds == 45.0
    assert Settings(gate_timeout=40.0, job_deadline=20.0).stop_seconds == 25.0
