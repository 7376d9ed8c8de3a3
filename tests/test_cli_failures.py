"""Every failure a user can cause ends a command with one line naming the problem and the fix, and exit 1."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import make_url

from relay.cli import cli
from relay.store import Store, migrate
from tests.fake_gate import FakeGate
from tests.fakes import FakeSlack
from tests.processes import free_port

DATABASE_COMMANDS = [
    pytest.param(["db", "current"], id="db-current"),
    pytest.param(["db", "upgrade"], id="db-upgrade"),
    pytest.param(["db", "downgrade", "base"], id="db-downgrade"),
    pytest.param(["serve"], id="serve"),
    pytest.param(["worker"], id="worker"),
    pytest.param(["deliveries"], id="deliveries"),
    pytest.param(["judgments"], id="judgments"),
]


def run(*args: str, **environ: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=environ, catch_exceptions=False)


def assert_one_line(result: Result, *fragments: str) -> None:
    """The command ends with exit 1 and one `Error:` line holding `fragments`, and nothing else on stderr."""
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.fixture
def migrated_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'relay.sqlite3'}"
    migrate.upgrade(Store.from_url(url))
    return url


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
def test_cli_unwritable_sqlite_path_is_one_line(tmp_path: Path, command: list[str]) -> None:
    url = f"sqlite:///{tmp_path / 'missing-directory' / 'relay.sqlite3'}"
    result = run(*command, RELAY_DATABASE_URL=url)
    assert_one_line(result, "cannot write the SQLite database", "RELAY_DATABASE_URL=")


@pytest.mark.postgres
@pytest.mark.parametrize("command", DATABASE_COMMANDS)
def test_cli_missing_postgres_database_is_one_line(command: list[str]) -> None:
    server = os.environ.get("RELAY_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("RELAY_TEST_POSTGRES_URL is not set")
    url = make_url(server).set(database="relay_no_such_database", password="s3cret-pw-of-the-database")
    result = run(*command, RELAY_DATABASE_URL=url.render_as_string(hide_password=False))
    assert_one_line(result, 'database "relay_no_such_database" does not exist', "check that it is running")
    assert "s3cret-pw-of-the-database" not in result.output


@pytest.mark.parametrize(
    "command",
    [pytest.param(["serve"], id="serve"), pytest.param(["worker"], id="worker"),
     pytest.param(["deliveries"], id="deliveries"), pytest.param(["judgments"], id="judgments")],
)
def test_cli_unmigrated_database_is_one_line(tmp_path: Path, command: list[str]) -> None:
    result = run(*command, RELAY_DATABASE_URL=f"sqlite:///{tmp_path / 'relay.sqlite3'}")
    assert_one_line(result, "no relay schema yet", "slackops-relay db upgrade")


def test_cli_db_downgrade_to_an_unknown_revision_is_one_line(migrated_url: str) -> None:
    result = run("db", "downgrade", "9999", RELAY_DATABASE_URL=migrated_url)
    assert_one_line(result, "'9999'", "give a revision this relay knows")


def test_cli_debug_shows_the_traceback(migrated_url: str) -> None:
    result = CliRunner().invoke(cli, ["--debug", "db", "downgrade", "9999"],
                                env={"RELAY_DATABASE_URL": migrated_url})
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "CommandError"


@pytest.mark.parametrize(
    ("command", "environ", "fragment"),
    [
        pytest.param(["serve"], {"RELAY_BIND": "nonsense"}, "RELAY_BIND: 'nonsense' is not HOST:PORT",
                     id="serve-bind-nonsense"),
        pytest.param(["serve"], {"RELAY_BIND": "0.0.0.0:99999"}, "port from 1 to 65535",
                     id="serve-port-99999"),
        pytest.param(["serve", "--bind", "localhost"], {}, "--bind: 'localhost' is not HOST:PORT",
                     id="serve-bind-option"),
        pytest.param(["serve"], {"RELAY_BIND": "relay.invalid:8080"}, "cannot listen on relay.invalid:8080",
                     id="serve-unknown-host"),
        pytest.param(["worker", "--ops-bind", "9102"], {}, "--ops-bind: '9102' is not HOST:PORT",
                     id="worker-ops-bind"),
    ],
)
def test_cli_bad_listen_address_is_one_line(migrated_url: str, command: list[str], environ: dict[str, str],
                                            fragment: str) -> None:
    result = run(*command, RELAY_DATABASE_URL=migrated_url, **environ)
    assert_one_line(result, fragment)


def test_cli_serve_on_a_port_in_use_is_one_line(migrated_url: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        result = run("serve", "--bind", bind, RELAY_DATABASE_URL=migrated_url)
    assert_one_line(result, f"--bind: cannot listen on {bind}", "choose a free port")


def socket_environment(database_url: str, slack_api_url: str, **extra: str) -> dict[str, str]:
    return {"RELAY_DATABASE_URL": database_url, "SLACK_API_URL": slack_api_url,
            "SLACK_BOT_TOKEN": "xoxb-token-of-the-relay", "SLACK_APP_TOKEN": "xapp-token-of-the-relay",
            "RELAY_ECHO_TOKEN": "echo-token-of-the-relay", **extra}


def test_cli_socket_with_slack_unreachable_is_one_line(migrated_url: str) -> None:
    api_url = f"http://127.0.0.1:{free_port()}/api/"
    result = run("socket", **socket_environment(migrated_url, api_url))
    assert_one_line(result, f"cannot reach Slack at {api_url}", "check SLACK_API_URL")
    assert "xapp-1" not in result.output


def test_cli_socket_with_gate_unreachable_is_one_line(migrated_url: str) -> None:
    gate_url = f"http://127.0.0.1:{free_port()}"
    with FakeSlack() as slack:
        result = run("socket", **socket_environment(migrated_url, slack.api_url, GATE_URL=gate_url))
    assert_one_line(result, f"GATE_URL {gate_url}: Gate unreachable", "check the address")


def test_cli_socket_with_gate_refusing_the_relay_is_one_line(migrated_url: str) -> None:
    with FakeSlack() as slack, FakeGate(token="right-token-of-the-relay") as gate:
        environ = socket_environment(migrated_url, slack.api_url, GATE_URL=gate.url,
                                     GATE_TOKEN="wrong-token-of-the-relay")
        result = run("socket", **environ)
    assert_one_line(result, "Gate answered 401", "credentials")


@pytest.mark.parametrize(
    "command",
    [pytest.param(["serve"], id="serve"), pytest.param(["worker"], id="worker"),
     pytest.param(["socket"], id="socket"), pytest.param(["deliveries"], id="deliveries"),
     pytest.param(["judgments"], id="judgments"), pytest.param(["db", "upgrade"], id="db-upgrade"),
     pytest.param(["doctor"], id="doctor"), pytest.param(["echo-config", "--url", "http://relay:8080"],
                                                           id="echo-config"),
     pytest.param(["preview", "tests/payloads/event_pipeline_starting.json"], id="preview")],
)
def test_cli_bad_setting_is_one_line_for_every_command(command: list[str]) -> None:
    result = run(*command, RELAY_CHANNEL_INTERVAL="soon")
    assert_one_line(result, "RELAY_CHANNEL_INTERVAL: 'soon' is not a number")
