"""Tests for relay/cli.py with click's test runner: preview, deliveries, db, and configuration errors."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import unquote

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import insert

from relay.cli import cli
from relay.config import Settings
from relay.notifications.plan import receive
from relay.setup.preview import BLOCK_KIT_BUILDER
from relay.store import Store, migrate
from relay.store.tables import judgment_timers
from relay.wiring import build_services
from schemas.echo import EVENT_SCHEMA
from tests.events import JUDGMENT_STAGE_ID, PAYLOADS, execution, pipeline_event, stage_event
from tests.fakes import FakeSlack

EVENT_FILE = PAYLOADS / "event_pipeline_starting.json"
PARENT_UPDATE = ", posted once and then updated in place"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'relay.sqlite3'}"


def run(*args: str, **environ: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=environ, catch_exceptions=False)


def test_cli_preview_prints_block_kit_and_a_builder_link() -> None:
    result = run("preview", str(EVENT_FILE), SPINNAKER_UI_URL="https://deck.example.com")
    assert result.exit_code == 0, result.stdout
    header, *lines = result.stdout.splitlines()
    assert header == ("# pipeline.starting to #deploys (when pipeline.starting): the run's message in "
                      "#deploys" + PARENT_UPDATE)
    body = json.loads("\n".join(lines[:-1]))
    assert body["text"] == "Compute's Simple Wait Pipeline pipeline is starting"
    assert "https://deck.example.com/#/applications/compute/executions/details/" in json.dumps(body)
    link = lines[-1]
    assert link.startswith(BLOCK_KIT_BUILDER)
    assert json.loads(unquote(link.removeprefix(BLOCK_KIT_BUILDER))) == {"blocks": body["blocks"]}


def test_cli_preview_prints_one_message_per_address(tmp_path: Path) -> None:
    preference = {"type": "slack", "when": ["pipeline.complete"]}
    run_ = execution(notifications=[{**preference, "address": "#a"}, {**preference, "address": "#b"}])
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(pipeline_event("complete", run_)))
    result = run("preview", str(event_file))
    assert result.exit_code == 0
    headers = [line for line in result.stdout.splitlines() if line.startswith("# ")]
    assert headers == [
        f"# pipeline.complete to #a (when pipeline.complete): the run's message in #a{PARENT_UPDATE}",
        f"# pipeline.complete to #b (when pipeline.complete): the run's message in #b{PARENT_UPDATE}",
    ]
    assert result.stdout.count(BLOCK_KIT_BUILDER) == 2


def test_cli_preview_shows_the_runs_message_and_the_thread_reply(tmp_path: Path) -> None:
    preference = {"type": "slack", "address": "#deploys", "when": ["stage.complete"]}
    event_file = tmp_path / "event.json"
    context = {"sendNotifications": True, "notifications": [preference]}
    event_file.write_text(json.dumps(stage_event("complete", context=context)))
    result = run("preview", str(event_file))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith("#")] == [
        "# stage.complete to #deploys (when stage.complete): the run's message in #deploys" + PARENT_UPDATE,
        "# stage.complete to #deploys (when stage.complete): a reply in the run's thread in #deploys",
    ]
    assert result.stdout.count(BLOCK_KIT_BUILDER) == 2


def test_cli_preview_says_why_an_event_gives_no_message(tmp_path: Path) -> None:
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(stage_event("starting", kind="task")))
    result = run("preview", str(event_file))
    assert (result.exit_code, result.stdout) == (0, "no message: task events never notify\n")


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("{not json", id="not-json"),
        pytest.param("[1, 2]", id="not-an-object"),
        pytest.param('{"content": {}}', id="not-an-event"),
        pytest.param('{"details": {"type": "orca:pipeline:starting"}, "content": {"x": NaN}}', id="nan"),
        pytest.param("[" * 100_000, id="deeply-nested"),
    ],
)
def test_cli_preview_of_a_bad_file_is_one_line(tmp_path: Path, content: str) -> None:
    event_file = tmp_path / "event.json"
    event_file.write_text(content)
    result = run("preview", str(event_file))
    assert result.exit_code != 0
    assert result.stderr.startswith(f"Error: {event_file}: ")
    assert result.stderr.count("\n") == 1


def headers(result: Result) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("# ")]


def bodies(result: Result) -> list[dict]:
    """The JSON bodies between the headers and the Builder links."""
    found, lines = [], []
    for line in result.stdout.splitlines():
        if line.startswith("# "):
            lines = []
        elif line.startswith(BLOCK_KIT_BUILDER):
            found.append(json.loads("\n".join(lines)))
        else:
            lines.append(line)
    return found


def test_cli_preview_of_a_failed_execution_shows_parent_update_and_alert_in_the_channel() -> None:
    failed_run = PAYLOADS / "orca_execution_with_manualJudgment_in_parent.json"
    result = run("preview", "--execution", str(failed_run), "--type", "orca:pipeline:failed",
                 "--channel", "#deploys")
    assert result.exit_code == 0, result.stdout
    assert headers(result) == [
        "# pipeline.canceled to #deploys (when pipeline.failed): the run's message in #deploys"
        + PARENT_UPDATE,
        "# pipeline.canceled to #deploys (when pipeline.failed): a reply in the run's thread in #deploys, "
        "also shown in the channel"]
    parent, alert = bodies(result)
    assert alert["reply_broadcast"] is True and "reply_broadcast" not in parent
    said = json.dumps(alert, ensure_ascii=False)
    assert "*Failed stage:*" in said and "Create New ASG › Deploy in us-east-1" in said


def test_cli_preview_of_a_stage_posts_the_parent_then_replies_in_its_thread() -> None:
    result = run("preview", "--execution", str(PAYLOADS / "gate_GET_pipelines_id_running.json"),
                 "--type", "orca:stage:starting", "--stage", "1", "--channel", "#deploys")
    assert result.exit_code == 0, result.stdout
    assert headers(result) == [
        "# stage.starting to #deploys (when stage.starting): the run's message in #deploys" + PARENT_UPDATE,
        "# stage.starting to #deploys (when stage.starting): a reply in the run's thread in #deploys"]


def test_cli_preview_of_a_judgment_shows_its_copy_in_the_channel(tmp_path: Path) -> None:
    execution_file = tmp_path / "execution.json"
    execution_file.write_text(json.dumps(execution()))
    result = run("preview", "--execution", str(execution_file), "--type", "orca:stage:starting",
                 "--stage", JUDGMENT_STAGE_ID)
    assert result.exit_code == 0, result.stdout
    assert headers(result)[-1] == ("# judgment.awaiting to playback-features (when manualJudgment): a reply "
                                   "in the run's thread in playback-features, also shown in the channel")


@pytest.mark.parametrize(("environ", "follow_up"), [
    ({}, "its from → to stays unknown (no GATE_URL to look it up)"),
    ({"GATE_URL": "https://gate.example.com"},
     "then its from → to is looked up from Gate and that line rewritten"),
], ids=["no-gate", "gate"])
def test_cli_preview_of_a_deploy_stage_shows_its_from_to(tmp_path: Path, environ: dict,
                                                         follow_up: str) -> None:
    execution_file = tmp_path / "execution.json"
    parent = json.loads((PAYLOADS / "orca_execution_with_manualJudgment_in_parent.json").read_text())
    execution_file.write_text(json.dumps(parent["trigger"]["parentExecution"]))
    result = run("preview", "--execution", str(execution_file), "--type", "orca:stage:complete",
                 "--stage", "2", "--channel", "#deploys", **environ)  # refId 2: Deploy to US West
    assert result.exit_code == 0, result.stdout
    assert headers(result)[-1] == ("# stage.complete to #deploys (when stage.complete): a reply in the run's "
                                   f"thread in #deploys; {follow_up}")
    reply = json.dumps(bodies(result)[-1], ensure_ascii=False)
    assert "*Change* from _unknown_ → to _unknown_" in reply  # started by its parent: no version of its own


def test_cli_preview_of_an_execution_without_preferences_says_so() -> None:
    result = run("preview", "--execution", str(PAYLOADS / "gate_GET_pipelines_id_succeeded.json"),
                 "--type", "orca:pipeline:complete")
    assert (result.exit_code, result.stdout) == (0, "no message: no notification preference matches\n")


@pytest.mark.parametrize(("args", "error"), [
    (["--type", "orca:stage:failed"], "a stage event needs --stage; its stages by refId: 1 (Wait)"),
    (["--type", "orca:stage:failed", "--stage", "9"], "no stage with refId or id 9"),
    ([], "--execution needs --type"),
])
def test_cli_preview_of_an_execution_refuses_what_it_cannot_build(args: list[str], error: str) -> None:
    result = run("preview", "--execution", str(PAYLOADS / "gate_GET_pipelines_id_running.json"), *args)
    assert result.exit_code != 0 and error in result.stderr


def test_cli_preview_of_a_file_that_is_no_execution_is_one_line(tmp_path: Path) -> None:
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(pipeline_event("starting")))
    result = run("preview", "--execution", str(event_file), "--type", "orca:pipeline:failed")
    assert result.exit_code != 0
    assert result.stderr == f"Error: {event_file}: not a Gate execution (an object with id and stages)\n"


def test_cli_db_upgrade_and_current(database_url: str) -> None:
    head = migrate.head_revision(Store.from_url(database_url))
    assert run("db", "current", RELAY_DATABASE_URL=database_url).stdout == f"current none, head {head}\n"
    upgraded = run("db", "upgrade", RELAY_DATABASE_URL=database_url)
    assert (upgraded.exit_code, upgraded.stdout) == (0, f"database at revision {head}\n")
    assert run("db", "current", RELAY_DATABASE_URL=database_url).stdout == f"current {head}, head {head}\n"
    assert run("db", "upgrade", RELAY_DATABASE_URL=database_url).exit_code == 0  # idempotent


def test_cli_deliveries_needs_a_migrated_database(database_url: str) -> None:
    result = run("deliveries", RELAY_DATABASE_URL=database_url)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: the database has no relay schema yet: run `slackops-relay db upgrade` "
        "(or start with --upgrade)\n"
    )


@pytest.fixture
def outbox(database_url: str) -> Store:
    """Three deliveries sent to a fake Slack: one delivered, one to a removed, one to an archived channel."""
    store = Store.from_url(database_url)
    migrate.upgrade(store)
    with FakeSlack() as fake:
        fake.remove_channel("#gone")
        fake.add_channel("#old", archived=True)
        settings = Settings(
            slack_bot_token=fake.token,
            slack_api_url=fake.api_url,
            database_url=database_url,
            echo_token="echo-token-of-the-cli-tests",
            channel_interval=0,
        )
        for channel in ("#deploys", "#gone", "#old"):
            preference = {"type": "slack", "address": channel, "when": ["pipeline.starting"]}
            event = EVENT_SCHEMA.load(pipeline_event("starting", execution(notifications=[preference])))
            receive(event, b"", settings=settings, store=store)
        dispatcher = build_services(settings).dispatcher()
        while dispatcher.run_once():
            pass
    return store


def delivery_lines(output: str) -> list[list[str]]:
    header, *rows = output.splitlines()
    assert header.split() == ["ID", "CREATED", "(UTC)", "STATUS", "TEMPLATE", "CHANNEL", "ATTEMPTS", "LAST",
                              "ERROR"]
    return [line.split() for line in rows]


def test_cli_deliveries_lists_every_delivery_with_its_reason(database_url: str, outbox: Store) -> None:
    result = run("deliveries", RELAY_DATABASE_URL=database_url)
    assert result.exit_code == 0
    rows = delivery_lines(result.stdout)
    assert [(row[0], row[3], row[4], row[5], row[-1]) for row in rows] == [
        ("3", "failed", "pipeline.starting", "#old", "is_archived"),
        ("2", "failed", "pipeline.starting", "#gone", "channel_not_found"),
        ("1", "sent", "pipeline.starting", "#deploys", "0"),
    ]


def test_cli_deliveries_failed_only(database_url: str, outbox: Store) -> None:
    result = run("deliveries", "--failed", RELAY_DATABASE_URL=database_url)
    assert [row[0] for row in delivery_lines(result.stdout)] == ["3", "2"]
    assert delivery_lines(result.stdout)[1][-2:] == ["1", "channel_not_found"]


def test_cli_deliveries_retry_queues_a_failed_delivery_again(database_url: str, outbox: Store) -> None:
    result = run("deliveries", "--retry", "2", RELAY_DATABASE_URL=database_url)
    assert (result.exit_code, result.stdout) == (0, "delivery 2 queued again\n")
    (retried,) = [row for row in outbox.list_deliveries() if row["id"] == 2]
    assert (retried["status"], retried["attempts"], retried["last_error"]) == ("pending", 0, None)
    assert [
        row[0]
        for row in delivery_lines(run("deliveries", "--failed", RELAY_DATABASE_URL=database_url).stdout)
    ] == ["3"]


@pytest.mark.parametrize("delivery_id", ["1", "99"])
def test_cli_deliveries_retry_refuses_what_has_not_failed(
    database_url: str, outbox: Store, delivery_id: str
) -> None:
    result = run("deliveries", "--retry", delivery_id, RELAY_DATABASE_URL=database_url)
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: delivery {delivery_id} is not a failed delivery\n",
    )


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["preview", str(EVENT_FILE)], id="preview"),
        pytest.param(["deliveries"], id="deliveries"),
        pytest.param(["db", "upgrade"], id="db-upgrade"),
        pytest.param(["db", "current"], id="db-current"),
        pytest.param(["worker"], id="worker"),
        pytest.param(["serve"], id="serve"),
    ],
)
def test_cli_bad_relay_config_is_one_line_and_fails(
    tmp_path: Path, database_url: str, command: list[str]
) -> None:
    config = tmp_path / "relay.yml"
    config.write_text("routes:\n  - when: [pipeline.finished]\n    channel: '#x'\n")
    result = run(*command, RELAY_CONFIG=str(config), RELAY_DATABASE_URL=database_url)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: RELAY_CONFIG: {config}: routes.0.when.0: Must be one of:")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        pytest.param(
            {"RELAY_CONFIG": "/nonexistent/relay.yml"},
            "Error: RELAY_CONFIG: cannot read /nonexistent/relay.yml: No such file or directory\n",
            id="missing-config",
        ),
        pytest.param(
            {"RELAY_DATABASE_URL": "postgres-ish"},
            "Error: RELAY_DATABASE_URL: not a database URL",
            id="bad-url",
        ),
        pytest.param(
            {"SLACK_BOT_TOKEN": "xoxb-secret-tok1"}, "Error: RELAY_ECHO_TOKEN or RELAY_ECHO_USERNAME",
            id="no-auth",
        ),
    ],
)
def test_cli_configuration_errors_are_one_line(environ: dict[str, str], message: str) -> None:
    result = run("db", "current", **environ)
    assert result.exit_code == 1
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1
    assert "xoxb-secret-tok1" not in result.output


def test_cli_judgments_listing_is_plain_text_with_unknown_applications() -> None:
    from relay.setup.listings import judgments_table
    from relay.store import Judgment
    from schemas.mrkdwn import link, slack_date

    judgment = Judgment(
        id=7, execution_id="01RUN", stage_id="02STAGE", address="#deploys", application=None,
        decision="continue", input_index=None, judgment_input=None, reason=None, user_id="U0APPROVER",
        user_email=None,
        channel_id="C1", message_ts="1.1", thread_ts=None, status="stale", claim=None, gate_status=None,
        gate_user=None, stage_status=None, snapshot=None, received_at=1_700_000_000,
        claimed_at=None, patched_at=None,
        finished_at=None,
        detail=f"judged by <@U0OTHER> at {slack_date(1_700_000_000)} in {link('https://deck/r', 'the run')}",
    )
    header, line = judgments_table([judgment])
    assert line.split()[3:] == ["stale", "continue", "U0APPROVER", "unknown", "01RUN/02STAGE", "judged", "by",
                                "@U0OTHER", "at", "2023-11-14", "22:13", "UTC", "in", "the", "run"]


SECRET_SETTINGS = ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "GATE_TOKEN",
                   "GATE_PASSWORD", "RELAY_ECHO_PASSWORD", "RELAY_ECHO_TOKEN"]


@pytest.mark.parametrize("command", [["serve"], ["worker"], ["doctor"], ["socket"]])
@pytest.mark.parametrize("key", SECRET_SETTINGS)
def test_cli_refuses_to_start_with_a_short_secret(database_url: str, command: list[str], key: str) -> None:
    result = run(*command, **{key: "t"}, RELAY_DATABASE_URL=database_url)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: {key}: a secret must be at least 16 characters long\n"


@pytest.mark.parametrize("command", [["serve"], ["worker"], ["doctor"]])
@pytest.mark.parametrize("key", ["GATE_URL", "RELAY_FIAT_URL", "SLACK_API_URL"])
def test_cli_refuses_to_start_with_a_short_password_in_a_url(database_url: str, command: list[str],
                                                            key: str) -> None:
    result = run(*command, **{key: "http://relay:pw@127.0.0.1:9"}, RELAY_DATABASE_URL=database_url)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: {key}: the password in the URL must be at least 16 characters long\n"


def test_cli_deliveries_never_show_a_configured_secret(database_url: str, outbox: Store) -> None:
    password = "gate-password-of-the-relay"
    with FakeSlack() as fake:
        settings = Settings(slack_bot_token=fake.token, slack_api_url=fake.api_url, database_url=database_url,
                            echo_token="echo-token-of-the-cli-tests", channel_interval=0)
        preference = {"type": "slack", "address": "#deploys", "when": ["pipeline.starting"]}
        event = EVENT_SCHEMA.load(pipeline_event("starting", execution(notifications=[preference])))
        receive(event, b"", settings=settings, store=outbox)
        # a proxy in front of Slack answering with what it was told, credentials included
        fake.fail_next("chat.postMessage", error=f"proxy_refused_{password}")
        build_services(settings, store=outbox).dispatcher(max_attempts=1).run_once()

    result = run("deliveries", "--failed", RELAY_DATABASE_URL=database_url,
                 GATE_URL=f"http://relay:{password}@gate:8084")
    assert "proxy_refused_[redacted]" in result.stdout
    assert password not in result.stdout


def test_cli_judgments_stats_give_waits_per_application_and_approver(database_url: str) -> None:
    store = Store.from_url(database_url)
    migrate.upgrade(store)
    now = time.time()
    waits = [("payments", "ann@example.com", "decided", 600),
             ("payments", "bob@example.com", "decided", 3600),
             ("payments", None, "expired", 3 * 86400), ("compute", "ann@example.com", "decided", 120),
             ("compute", "ann@example.com", "decided", 40 * 86400)]  # ended long before the window
    with store.engine.begin() as conn:
        for index, (application, judge, outcome, waited) in enumerate(waits):
            ended = now - (60 * 86400 if waited == 40 * 86400 else 60)
            conn.execute(insert(judgment_timers), {
                "key": f"run{index}/stage", "execution_id": f"run{index}", "stage_id": "stage",
                "application": application, "started_at": ended - waited, "deadline": ended, "plan": "{}",
                "reminded": "{}", "escalated": False, "dms_pending": False, "outcome": outcome,
                "judge": judge, "ended_at": ended, "version": 1})
    store.engine.dispose()

    result = run("judgments", "--stats", "--since", "30d", RELAY_DATABASE_URL=database_url)

    assert result.exit_code == 0, result.output
    rows = [line.split("  ") for line in result.stdout.splitlines()]
    cells = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    assert cells == [
        ["application", "judgments", "p50", "p90", "max"],
        ["compute", "1", "2 m", "2 m", "2 m"],
        ["payments", "3", "1 h", "72 h", "72 h"],
        [],
        ["approver", "judgments", "p50", "p90", "max"],
        ["ann@example.com", "2", "2 m", "10 m", "10 m"],
        ["bob@example.com", "1", "1 h", "1 h", "1 h"],
        ["nobody (expired)", "1", "72 h", "72 h", "72 h"],
    ]


def test_cli_judgments_stats_refuse_a_window_that_is_no_duration(database_url: str) -> None:
    store = Store.from_url(database_url)
    migrate.upgrade(store)
    store.engine.dispose()
    result = CliRunner().invoke(cli, ["judgments", "--stats", "--since", "a month"],
                                env={"RELAY_DATABASE_URL": database_url})
    assert result.exit_code == 2
    assert "--since" in result.output and "not a duration" in result.output
