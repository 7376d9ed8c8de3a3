"""Alembic migrations on SQLite and PostgreSQL: head matches the store's tables, every step goes up and
down, data survives upgrades, and startup refuses a schema that is not at head."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import MetaData, Table, insert, inspect, update

from relay.cli import cli
from relay.errors import ConfigError
from relay.store import PENDING, SENT, DeliveryDraft, Store, metadata, migrate
from relay.store.tables import channels, deliveries, events

ROOT = Path(__file__).resolve().parents[1]


def revisions_base_to_head(store: Store) -> list[str]:
    """Every revision in upgrade order (the history is linear)."""
    scripts = ScriptDirectory.from_config(migrate.alembic_config(store))
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


def schema_differences(store: Store) -> list:
    with store.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), metadata)


def relay_tables(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names()) - {"alembic_version"}


def draft(channel: str = "#deploys", thread: str = "run-1") -> DeliveryDraft:
    return DeliveryDraft(thread_key=f"{thread}@{channel}", channel=channel, action="post",
                         template="pipeline.starting", payload={"text": "hello"})


def test_migrations_head_matches_store_metadata(migrated_store: Store) -> None:
    assert migrate.current_revision(migrated_store) == migrate.head_revision(migrated_store)
    assert schema_differences(migrated_store) == []


def test_migrations_upgrade_step_by_step_and_downgrade_to_empty(db_url: str) -> None:
    store = Store.from_url(db_url)
    revisions = revisions_base_to_head(store)
    assert revisions[-1] == migrate.head_revision(store)
    for revision in revisions:
        migrate.upgrade(store, revision)
        assert migrate.current_revision(store) == revision
    assert schema_differences(store) == []
    for revision in reversed(revisions):
        migrate.downgrade(store, "-1")
        assert migrate.current_revision(store) == (revisions[revisions.index(revision) - 1]
                                                   if revision != revisions[0] else None)
    assert relay_tables(store) == set()
    migrate.upgrade(store)
    assert schema_differences(store) == []
    store.engine.dispose()


def test_migrations_keep_data_from_the_first_revision_to_head(db_url: str) -> None:
    store = Store.from_url(db_url)
    first = revisions_base_to_head(store)[0]
    migrate.upgrade(store, first)
    # Written as the first release wrote them: the columns of that revision only.
    with store.engine.begin() as conn:
        conn.execute(insert(events), {
            "event_id": "e-1", "type": "orca:pipeline:starting", "application": "compute",
            "execution_id": "run-1", "received_at": 100.0, "notifications": 1})
        conn.execute(insert(channels), {"channel": "#deploys", "next_allowed_at": 0.0, "joined": False})
        conn.execute(insert(deliveries), {
            "event_id": "e-1", "thread_key": "run-1@#deploys", "channel": "#deploys", "action": "post",
            "rank": 0, "template": "pipeline.starting", "payload": json.dumps({"text": "hello"}),
            "status": "pending", "attempts": 0, "next_attempt_at": 100.0, "created_at": 100.0})
    migrate.upgrade(store)
    assert store.event_seen("e-1")
    [delivery] = store.lease_deliveries(worker="w", now=101.0, lease=30.0, interval=1.0)
    assert delivery.payload == {"text": "hello"}
    assert store.mark_sent(delivery.id, worker="w", now=102.0, ts="1.0")
    assert store.counts_by_status() == {SENT: 1}
    store.engine.dispose()


def test_require_head_refuses_an_unmigrated_database(db_url: str) -> None:
    store = Store.from_url(db_url)
    with pytest.raises(ConfigError, match="no relay schema yet: run `slackops-relay db upgrade`"):
        migrate.require_head(store)
    store.engine.dispose()


def test_require_head_refuses_a_schema_behind_this_relay(db_url: str) -> None:
    store = Store.from_url(db_url)
    revisions = revisions_base_to_head(store)
    if len(revisions) < 2:
        pytest.skip("only one revision exists, so no schema can be behind head")
    migrate.upgrade(store, revisions[-2])
    with pytest.raises(ConfigError, match=f"at {revisions[-2]}, this relay needs {revisions[-1]}"):
        migrate.require_head(store)
    store.engine.dispose()


def test_require_head_refuses_a_schema_newer_than_this_relay(migrated_store: Store) -> None:
    with migrated_store.engine.begin() as conn:
        versions = Table("alembic_version", MetaData(), autoload_with=conn)
        conn.execute(update(versions).values(version_num="9999_from_a_newer_release"))
    with pytest.raises(ConfigError, match=r"\(9999_from_a_newer_release\) is newer than this relay"):
        migrate.require_head(migrated_store)


def test_worker_refuses_to_start_on_an_unmigrated_database(db_url: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_DATABASE_URL", db_url)
    result = CliRunner().invoke(cli, ["worker"])
    assert result.exit_code == 1
    assert "no relay schema yet: run `slackops-relay db upgrade` (or start with --upgrade)" in result.output


def test_db_commands_upgrade_report_and_downgrade(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_DATABASE_URL", db_url)
    runner = CliRunner()
    store = Store.from_url(db_url)
    head = migrate.head_revision(store)
    store.engine.dispose()
    assert f"current none, head {head}" in runner.invoke(cli, ["db", "current"]).output
    upgraded = runner.invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"database at revision {head}" in upgraded.output
    assert f"current {head}, head {head}" in runner.invoke(cli, ["db", "current"]).output
    downgraded = runner.invoke(cli, ["db", "downgrade", "base"])
    assert "database at revision none" in downgraded.output


@pytest.mark.postgres
@pytest.mark.slow
def test_migrations_started_at_once_by_several_replicas_all_succeed(postgres_schema_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RELAY_DATABASE_URL": postgres_schema_url}
    command = [sys.executable, "-m", "relay.cli", "db", "upgrade"]
    upgrades = [subprocess.Popen(command, env=env, text=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT) for _ in range(3)]
    outputs = [process.communicate(timeout=60)[0] for process in upgrades]
    assert [process.returncode for process in upgrades] == [0, 0, 0], outputs
    store = Store.from_url(postgres_schema_url)
    migrate.require_head(store)
    assert schema_differences(store) == []
    store.engine.dispose()


def test_upgrade_on_start_then_the_store_accepts_events(db_url: str) -> None:
    store = Store.from_url(db_url)
    migrate.upgrade(store)
    migrate.require_head(store)
    store.accept_event(event_id="e-2", type="orca:pipeline:starting", application="compute",
                       execution_id="run-2", drafts=[draft()], now=1.0)
    assert store.counts_by_status() == {PENDING: 1}
    store.engine.dispose()


def test_migrations_name_the_pipeline_and_stage_of_timers_started_before_the_console(db_url: str) -> None:
    store = Store.from_url(db_url)
    migrate.upgrade(store, "0008")
    snapshot = {"snapshot": {"name": "deploy-prod", "stages": [{"id": "mj", "name": "Approve production"}]}}
    with store.engine.begin() as conn:
        timers = Table("judgment_timers", MetaData(), autoload_with=conn)
        conn.execute(insert(timers).values(
            key="run-1/mj", execution_id="run-1", stage_id="mj", application="payments", started_at=1.0,
            deadline=2.0, plan=json.dumps(snapshot), reminded="{}", escalated=False, dms_pending=False,
            version=0))
    migrate.upgrade(store)
    timer = store.timer("run-1/mj")
    assert (timer.pipeline, timer.stage_name) == ("deploy-prod", "Approve production")
    store.engine.dispose()
