"""`slackops-relay doctor` against healthy and broken setups built from the fakes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml
from click.testing import CliRunner, Result

from relay.cli import cli
from relay.setup.manifest import BOT_SCOPES
from relay.store import Store, migrate
from tests.fake_gate import FakeFiat, FakeGate
from tests.fakes import FakeSlack

SIGNING_SECRET = "doctor-signing-secret-value"
ECHO_PASSWORD = "doctor-echo-password-value"
GATE_TOKEN = "doctor-gate-token-value"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(scopes=",".join(BOT_SCOPES)) as fake:
        fake.add_channel("deploys")
        yield fake
    assert fake.errors == []


@pytest.fixture
def gate() -> Iterator[FakeGate]:
    with FakeGate(token=GATE_TOKEN, identity="relay@example.com") as fake:
        yield fake
    assert fake.errors == []


@pytest.fixture
def env(slack: FakeSlack, gate: FakeGate, tmp_path: Path) -> dict[str, str]:
    """A setup where everything is right."""
    database = f"sqlite:///{tmp_path / 'relay.sqlite3'}"
    migrate.upgrade(Store.from_url(database))
    rules = tmp_path / "relay.yml"
    rules.write_text(yaml.safe_dump({"routes": [{"channel": "#deploys", "when": ["pipeline.failed"]}]}))
    return {"SLACK_BOT_TOKEN": slack.token, "SLACK_API_URL": slack.api_url,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_APP_TOKEN": "", "RELAY_ECHO_USERNAME": "echo",
            "RELAY_ECHO_PASSWORD": ECHO_PASSWORD, "RELAY_ECHO_TOKEN": "", "GATE_URL": gate.url,
            "GATE_TOKEN": GATE_TOKEN, "GATE_USERNAME": "", "RELAY_FIAT_URL": "",
            "RELAY_DATABASE_URL": database, "RELAY_CONFIG": str(rules)}


class Row(NamedTuple):
    status: str
    detail: str
    fix: str


def doctor(env: dict[str, str]) -> tuple[Result, dict[str, Row]]:
    """Run the command; its table as {check: Row}, read by the header's column positions."""
    result = CliRunner().invoke(cli, ["doctor"], env=env)
    header, *lines = result.output.splitlines()
    assert header.split() == ["CHECK", "RESULT", "DETAIL", "FIX"]
    edges = [0, *(header.index(column) for column in ("RESULT", "DETAIL", "FIX")), None]
    cells = [[line[a:b].strip() for a, b in zip(edges, edges[1:], strict=False)] for line in lines]
    rows = {check: Row(*rest) for check, *rest in cells}
    for secret in (SIGNING_SECRET, ECHO_PASSWORD, GATE_TOKEN, "xoxb-fake-bot-token"):
        assert secret not in result.output
    return result, rows


def test_doctor_passes_a_healthy_setup(env: dict[str, str], gate: FakeGate) -> None:
    result, rows = doctor(env)

    assert result.exit_code == 0, result.output
    assert {check: row.status for check, row in rows.items()} == {
        "configuration": "ok", "Slack token": "ok", "Slack scopes": "ok", "authorization": "ok",
        "signing secret": "ok",
        "Socket Mode": "skip", "webhook auth": "ok", "Gate": "ok", "Fiat": "skip", "database": "ok",
        "channel #deploys": "ok"}
    assert rows["Slack token"].detail == "workspace Relay Test as @relay"
    assert rows["Gate"].detail == f"{gate.url} as relay@example.com"
    head = migrate.head_revision(Store.from_url(env["RELAY_DATABASE_URL"]))
    assert rows["database"].detail == f"schema at revision {head}"
    assert all(row.fix == "" for row in rows.values() if row.status == "ok")


def test_doctor_fails_a_broken_setup_and_says_how_to_fix_each_part(env: dict[str, str], slack: FakeSlack,
                                                                   tmp_path: Path) -> None:
    slack.scopes = "chat:write,commands"
    slack.add_channel("lobby", member=False)
    slack.remove_channel("gone")
    rules = tmp_path / "broken.yml"
    rules.write_text(yaml.safe_dump({"routes": [{"channel": c, "when": ["pipeline.failed"]}
                                                for c in ("#deploys", "#lobby", "#gone")]}))
    empty = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    Store.from_url(empty).ping()
    env.update(SLACK_SIGNING_SECRET="", RELAY_ECHO_USERNAME="", RELAY_ECHO_PASSWORD="",
               GATE_TOKEN="wrong-gate-token-value", RELAY_DATABASE_URL=empty, RELAY_CONFIG=str(rules))

    result, rows = doctor(env)

    assert result.exit_code == 1
    failed = {check: row for check, row in rows.items() if row.status == "FAIL"}
    assert set(failed) == {"configuration", "Slack scopes", "authorization", "signing secret", "webhook auth",
                           "Gate", "database", "channel #gone"}
    assert all(row.fix for row in failed.values())
    assert "RELAY_ECHO_TOKEN or RELAY_ECHO_USERNAME" in failed["configuration"].detail
    assert failed["Slack scopes"].detail == "missing channels:join, channels:read, chat:write.public, " \
                                            "usergroups:read, users:read, users:read.email"
    assert "Bot Token Scopes" in failed["Slack scopes"].fix
    assert "Basic Information → App Credentials" in failed["signing secret"].fix
    assert "slackops-relay echo-config" in failed["webhook auth"].fix
    assert "refused the relay (Gate answered 401" in failed["Gate"].detail
    assert "GATE_TOKEN" in failed["Gate"].fix
    assert failed["database"] == Row("FAIL", "the database has no relay schema yet: run `slackops-relay db "
                                             "upgrade` (or start with --upgrade)",
                                     "run `slackops-relay db upgrade`")
    assert "no such channel" in failed["channel #gone"].detail
    assert rows["channel #deploys"].status == "ok"
    assert rows["channel #lobby"] == Row("warn", "the bot is not a member; it joins public channels when it "
                                                 "first posts", "/invite the bot in #lobby now")


def test_doctor_fails_a_channel_the_bot_is_not_in_when_joining_is_off(env: dict[str, str], slack: FakeSlack,
                                                                     tmp_path: Path) -> None:
    slack.add_channel("lobby", member=False)
    rules = tmp_path / "lobby.yml"
    rules.write_text(yaml.safe_dump({"routes": [{"channel": "#lobby", "when": ["pipeline.failed"]}]}))
    env.update(RELAY_CONFIG=str(rules), RELAY_JOIN_CHANNELS="off")

    result, rows = doctor(env)

    assert result.exit_code == 1
    assert rows["channel #lobby"] == Row("FAIL", "the bot is not a member, and does not join channels "
                                                 "(RELAY_JOIN_CHANNELS is off), so posts there fail",
                                         "/invite the bot in #lobby")


def test_doctor_reports_a_token_slack_refuses(env: dict[str, str]) -> None:
    env["SLACK_BOT_TOKEN"] = "xoxb-revoked-bot-token"

    result, rows = doctor(env)

    assert result.exit_code == 1
    assert rows["Slack token"].status == "FAIL"
    assert rows["Slack token"].detail == "auth.test: Slack refused the token (invalid_auth)"
    assert rows["Slack scopes"].status == rows["authorization"].status == "skip"
    assert not any(check.startswith("channel ") for check in rows)


@pytest.mark.parametrize(("missing", "groups", "said"), [
    ("users:read.email", False, "lacks the users:read.email scope: the relay cannot learn anyone's email"),
    ("usergroups:read", True, "lacks the usergroups:read scope: the policy names Slack user groups"),
    ("usergroups:read", False, None),
])
def test_doctor_says_which_decisions_a_missing_scope_makes_refuse_everyone(
        env: dict[str, str], slack: FakeSlack, tmp_path: Path, missing: str, groups: bool,
        said: str | None) -> None:
    slack.scopes = ",".join(scope for scope in BOT_SCOPES if scope != missing)
    approvers = {"groups": ["S0DEPLOYERS"]} if groups else {"users": ["alice@example.com"], "four_eyes": True}
    rules = tmp_path / "policy.yml"
    rules.write_text(yaml.safe_dump({"approvers": {"compute": approvers}}))
    env["RELAY_CONFIG"] = str(rules)

    _, rows = doctor(env)

    assert rows["Slack scopes"].status == "FAIL"
    if said is None:
        assert rows["authorization"].status == "ok"
    else:
        assert rows["authorization"].status == "FAIL" and said in rows["authorization"].detail
        assert "Bot Token Scopes" in rows["authorization"].fix


def test_doctor_does_not_create_a_missing_database(env: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.sqlite3"
    env["RELAY_DATABASE_URL"] = f"sqlite:///{missing}"

    result, rows = doctor(env)

    assert result.exit_code == 1
    assert rows["database"] == Row("FAIL", f"no SQLite database at {missing}",
                                   "run `slackops-relay db upgrade`")
    assert not missing.exists()


def test_doctor_reports_a_gate_nobody_answers_at(env: dict[str, str]) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        env["GATE_URL"] = f"http://127.0.0.1:{unused.getsockname()[1]}"

    result, rows = doctor(env)

    assert result.exit_code == 1
    fix = "check GATE_URL and that the relay can reach Gate (x509 clients use port 8085)"
    assert rows["Gate"] == Row("FAIL", f"{env['GATE_URL']}: Gate unreachable: ConnectionError", fix)


def test_doctor_fails_credentials_gate_ignores(env: dict[str, str]) -> None:
    with FakeGate() as open_gate:  # no authentication: everyone is anonymous
        env["GATE_URL"] = open_gate.url

        result, rows = doctor(env)

    assert result.exit_code == 1
    assert rows["Gate"].status == "FAIL" and rows["Gate"].detail.endswith("takes the relay for anonymous")


def test_doctor_asks_fiat_when_it_is_configured(env: dict[str, str]) -> None:
    with FakeFiat() as fiat:
        fiat.add_user("relay@example.com", roles=["deployers"])
        url = env["RELAY_FIAT_URL"] = fiat.url
        _, healthy = doctor(env)
        fiat.outage(503)
        result, down = doctor(env)

    assert healthy["Fiat"] == Row("ok", f"{url} answers; it knows relay@example.com", "")
    assert result.exit_code == 1
    assert down["Fiat"].status == "FAIL"
    assert down["Fiat"].detail == f"{url}: Fiat answered 503"
    assert "RELAY_FIAT_URL" in down["Fiat"].fix


def test_doctor_checks_the_socket_mode_token(env: dict[str, str], slack: FakeSlack) -> None:
    slack.socket_url = "wss://wss-primary.slack.com/link/?ticket=doctor"
    env.update(SLACK_APP_TOKEN=slack.app_token, SLACK_SIGNING_SECRET="")

    _, rows = doctor(env)
    env["SLACK_APP_TOKEN"] = "xapp-revoked-app-token"
    _, broken = doctor(env)

    assert (rows["Socket Mode"].status, rows["signing secret"].status) == ("ok", "skip")
    assert broken["Socket Mode"].status == "FAIL"
    assert broken["Socket Mode"].detail == "apps.connections.open: invalid_auth"


URL_PASSWORD = "url-password-of-the-relay"


def with_userinfo(url: str, user: str = "relay") -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{user}:{URL_PASSWORD}@{rest}"


def test_doctor_never_shows_the_userinfo_of_urls(env: dict[str, str]) -> None:
    with FakeGate(username="relay", password=URL_PASSWORD) as gate, FakeFiat() as fiat:
        fiat.add_user("relay", roles=["deployers"])
        env.update(GATE_URL=with_userinfo(gate.url), GATE_TOKEN="", RELAY_FIAT_URL=with_userinfo(fiat.url))
        first, reachable = doctor(env)
        fiat.outage(503)
        gate.stop()
        result, unreachable = doctor(env)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        env["SLACK_API_URL"] = with_userinfo(f"http://127.0.0.1:{unused.getsockname()[1]}/api/")
    slack_down = CliRunner().invoke(cli, ["doctor"], env=env)

    hidden_gate, hidden_fiat = (url.replace(f"relay:{URL_PASSWORD}", "[redacted]")
                                for url in (env["GATE_URL"], env["RELAY_FIAT_URL"]))
    assert reachable["Gate"] == Row("ok", f"{hidden_gate} as relay", "")  # the userinfo still signs in
    assert reachable["Fiat"] == Row("ok", f"{hidden_fiat} answers; it knows relay", "")
    assert unreachable["Gate"].detail == f"{hidden_gate}: Gate unreachable: ConnectionError"
    assert unreachable["Fiat"].detail == f"{hidden_fiat}: Fiat answered 503"
    assert "Slack unreachable at http://[redacted]@127.0.0.1:" in slack_down.stdout
    for output in (first.output, result.output, slack_down.output):
        assert URL_PASSWORD not in output and "relay:" not in output
