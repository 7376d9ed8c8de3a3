"""Messages rendered at send time: the webhook stores the event's facts and each delivery's recipe in one
transaction, the dispatcher renders them just before it sends, and Slack gets what ingest used to render."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import event, select

from relay.notifications.match import decide
from relay.notifications.render import render
from relay.store import DeliveryDraft, DuplicateEvent, MessageRef, Store, deliveries, events, migrate
from schemas.echo import EVENT_SCHEMA
from tests.events import JUDGMENT_STAGE_ID
from tests.fakes import FakeSlack
from tests.test_delivery import UI, WAIT_STAGE_ID, Clock, Relay, Run, start_relay


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def relay(tmp_path: Path, slack: FakeSlack, clock: Clock) -> Relay:
    url = f"sqlite:///{tmp_path / 'relay.sqlite3'}"
    migrate.upgrade(Store.from_url(url))
    return start_relay(url, slack, clock)


def rows(store: Store) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(deliveries).order_by(deliveries.c.id)).mappings()]


def test_render_at_send_webhook_stores_a_recipe_and_slack_gets_the_message(
        relay: Relay, slack: FakeSlack, clock: Clock) -> None:
    document = Run().pipeline_event("starting")
    relay.receive(document)
    [queued] = rows(relay.store)
    assert (json.loads(queued["payload"]), json.loads(queued["recipe"])["render"]) == ({}, "message")
    with relay.store.engine.connect() as conn:
        assert conn.execute(select(events.c.facts)).scalar_one() is not None

    relay.drain(clock)
    [notification] = decide(EVENT_SCHEMA.load(document), types=frozenset({"slack"})).notifications
    expected = render(notification, UI)
    (message,) = slack.messages("#deploys")
    assert (message.text, message.blocks) == (expected["text"], expected["blocks"])
    [sent] = rows(relay.store)
    assert json.loads(sent["payload"]) == expected  # the row keeps what was sent


def test_render_at_send_stage_event_opens_its_run_thread_once(
        relay: Relay, slack: FakeSlack, clock: Clock) -> None:
    run = Run()
    relay.receive(run.stage_event("starting", JUDGMENT_STAGE_ID))
    relay.receive(run.stage_event("starting", WAIT_STAGE_ID))
    assert [(row["action"], row["template"]) for row in rows(relay.store)] == [
        ("upsert", "pipeline.summary"), ("reply", "judgment.awaiting"), ("reply", "stage.starting")]
    relay.drain(clock)
    (parent,) = slack.messages("#deploys")
    replies = slack.replies("#deploys", parent.ts)
    assert [reply.reply_broadcast for reply in replies] == [True, False]


def opening(run_key: str) -> DeliveryDraft:
    return DeliveryDraft(thread_key=run_key, channel="#deploys", action="upsert", template="pipeline.summary",
                         payload={}, recipe={"render": "summary"}, message_key=run_key, opens_thread=True)


def reply(run_key: str) -> DeliveryDraft:
    return DeliveryDraft(thread_key=run_key, channel="#deploys", action="reply", template="stage.starting",
                         payload={"text": "stage"}, parent_key=run_key)


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
def test_render_at_send_run_summary_is_queued_only_without_a_parent(migrated_store: Store) -> None:
    migrated_store.remember_message("run-3@#deploys", MessageRef("C1", "1.0"), now=1.0)
    for number, run in enumerate(["run-1", "run-1", "run-2", "run-3"]):
        run_key = f"{run}@#deploys"
        migrated_store.accept_event(event_id=f"e-{number}", type="orca:stage:starting", application="app",
                                    execution_id=run, drafts=[opening(run_key), reply(run_key)], now=1.0,
                                    facts={"content": {}})
    assert [(row["thread_key"], row["action"]) for row in rows(migrated_store)] == [
        ("run-1@#deploys", "upsert"), ("run-1@#deploys", "reply"), ("run-1@#deploys", "reply"),
        ("run-2@#deploys", "upsert"), ("run-2@#deploys", "reply"), ("run-3@#deploys", "reply")]


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
def test_render_at_send_event_opening_its_run_twice_queues_one_summary(migrated_store: Store) -> None:
    """Within one event, a second draft opening the same run's thread finds the first one queued."""
    run_key = f"run-{uuid.uuid4().hex}@#deploys"
    drafts = [opening(run_key), reply(run_key), opening(run_key)]
    migrated_store.accept_event(event_id=uuid.uuid4().hex, type="orca:stage:starting", application="app",
                                execution_id="run", drafts=drafts, now=1.0, facts={"content": {}})
    queued = [row["action"] for row in rows(migrated_store) if row["thread_key"] == run_key]
    assert queued == ["upsert", "reply"]


def test_render_at_send_failure_is_retried_then_given_up(tmp_path: Path, slack: FakeSlack,
                                                         clock: Clock) -> None:
    url = f"sqlite:///{tmp_path / 'relay.sqlite3'}"
    migrate.upgrade(Store.from_url(url))
    relay = start_relay(url, slack, clock, delivery_max_attempts=2)
    draft = DeliveryDraft(thread_key="run@#deploys", channel="#deploys", action="upsert",
                          template="pipeline.starting", payload={}, recipe={"render": "summary"},
                          message_key="run@#deploys")
    relay.store.accept_event(event_id="no-facts", type="orca:pipeline:starting", application="app",
                             execution_id="run", drafts=[draft], now=clock())  # facts lost: cannot render
    relay.dispatcher.run_once()
    [retried] = rows(relay.store)
    assert (retried["status"], retried["last_error"]) == ("pending", "rendering failed: LookupError")
    clock.advance(10)
    relay.dispatcher.run_once()
    assert [row["status"] for row in rows(relay.store)] == ["failed"]
    assert slack.messages("#deploys") == []


def test_render_at_send_failed_delivery_retried_from_the_console_is_rendered_again(
        relay: Relay, slack: FakeSlack, clock: Clock) -> None:
    """A delivery the console's Retry queues again still has its recipe: the message is rendered anew."""
    document = Run().pipeline_event("starting")
    relay.receive(document)
    slack.fail_next("chat.postMessage", error="is_archived")
    relay.drain(clock)
    [failed] = rows(relay.store)
    assert (failed["status"], json.loads(failed["payload"])) == ("failed", {})
    assert relay.store.retry_delivery(failed["id"], now=clock())
    relay.drain(clock)
    [notification] = decide(EVENT_SCHEMA.load(document), types=frozenset({"slack"})).notifications
    (message,) = slack.messages("#deploys")
    assert message.text == render(notification, UI)["text"]
    assert [row["status"] for row in rows(relay.store)] == ["sent"]


def test_render_at_send_run_end_looks_nothing_up_while_its_judgment_waits(relay: Relay) -> None:
    """An end of run whose snapshot still shows its judgment waiting (Orca's snapshots lag) rewrites no
    judgment message, so the webhook reads nothing: it only writes the event and its deliveries. (Every
    statement SQLite runs is traced, those the store sends past SQLAlchemy's execution included.)"""
    statements: list[str] = []
    relay.store.engine.dispose()
    event.listen(relay.store.engine, "connect",
                 lambda dbapi_connection, _record: dbapi_connection.set_trace_callback(statements.append))
    assert relay.receive(Run().pipeline_event("complete"))["result"] == "queued"
    assert [s.split()[0].upper() for s in statements
            if not s.upper().startswith(("BEGIN", "PRAGMA", "COMMIT"))] == ["INSERT", "INSERT", "INSERT"]


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
def test_render_at_send_event_with_its_deliveries_is_accepted_once(migrated_store: Store) -> None:
    drafts = [DeliveryDraft(thread_key="run@#deploys", channel="#deploys", action=action,
                            template="pipeline.failed", payload={}, recipe={"render": render_},
                            message_key="run@#deploys")
              for action, render_ in (("upsert", "message"), ("reply", "alert"))]
    accept = {"event_id": "e-1", "type": "orca:pipeline:failed", "application": "app", "execution_id": "run",
              "drafts": drafts, "now": 1.0, "facts": {"content": {"executionId": "run"}}}
    migrated_store.accept_event(**accept)
    with pytest.raises(DuplicateEvent):
        migrated_store.accept_event(**accept)
    assert [(row["action"], json.loads(row["recipe"])["render"]) for row in rows(migrated_store)] == [
        ("upsert", "message"), ("reply", "alert")]
    assert migrated_store.event_facts("e-1") == {"content": {"executionId": "run"}}
    assert migrated_store.channels() == ["#deploys"]
