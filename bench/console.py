"""The console's pages and JSON API with 100,000 judgments and 1,000,000 deliveries in PostgreSQL: the
server time of each request (Flask's test client, in process: routing, auth, SQL, templates) beside the bare
store query behind it, in the same run. The data goes into a database of its own, created and dropped here.

    python -m bench.console [--server-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import base64
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import click
from sqlalchemy import create_engine, make_url, text
from werkzeug.security import generate_password_hash

from relay.app import create_app
from relay.config import Settings
from relay.models import ApproverPolicy
from relay.rules.policy import JUDGE, Policy
from relay.services import Services
from relay.store import JudgmentFilter, Store, migrate

JUDGMENTS, DELIVERIES = 100_000, 1_000_000
WAITING = 300  # judgments still waiting among them
APPLICATIONS, PIPELINES, APPROVERS, CHANNELS = 40, 200, 300, 500
DAY = 86400.0
BUDGET_MS = 100.0
PASSWORD = "bench-console-password"
STATUSES = ["decided"] * 80 + ["refused"] * 12 + ["failed"] * 3 + ["stale"] * 3 + ["unconfirmed"] * 2
DELIVERY_STATUSES = ["sent"] * 960 + ["failed"] * 20 + ["pending"] * 10 + ["superseded"] * 9 + ["sending"]
BACKLOG, STUCK_SHARE = 50_000, 0.01  # pending deliveries are among the newest, but for 1% of them


@dataclass(frozen=True)
class Case:
    """A request, and the bare store calls that fetch its data."""

    path: str
    bare: Callable[[Store, float], object]


def cases(now: float) -> list[Case]:
    since, until = now - 30 * DAY, now - 23 * DAY
    return [
        Case("/console/waiting", lambda s, n: s.judgment_messages(
            [row["key"] for row in s.waiting_judgments()])),
        Case("/console/decisions", lambda s, n: s.judgments_page(JudgmentFilter(), limit=51)),
        Case("/console/decisions?application=app-07", lambda s, n: s.judgments_page(
            JudgmentFilter(application="app-07"), limit=51)),
        Case("/console/decisions?pipeline=deploy-117", lambda s, n: s.judgments_page(
            JudgmentFilter(pipeline="deploy-117"), limit=51)),
        Case("/console/decisions?approver=user-042@example.com", lambda s, n: s.judgments_page(
            JudgmentFilter(approver="user-042@example.com"), limit=51)),
        Case("/console/decisions?outcome=rejected", lambda s, n: s.judgments_page(
            JudgmentFilter(outcome="rejected"), limit=51)),
        Case(f"/console/decisions?from={_day(since)}&to={_day(until)}", lambda s, n: s.judgments_page(
            JudgmentFilter(since=since, until=until + DAY), limit=51)),
        Case("/console/decisions?before=50000", lambda s, n: s.judgments_page(
            JudgmentFilter(), before=50_000, limit=51)),
        Case("/console/deliveries", lambda s, n: (s.queue_stats(), s.failed_deliveries(limit=51),
                                                  s.stuck_deliveries(now=n, after=300.0))),
        Case("/console/analytics", lambda s, n: s.ended_waits(since=n - 30 * DAY)),
        Case("/api/v1/judgments", lambda s, n: s.judgments_page(JudgmentFilter(), limit=51)),
        Case("/api/v1/judgments?state=waiting", lambda s, n: s.judgment_messages(
            [row["key"] for row in s.waiting_judgments()])),
        Case("/api/v1/deliveries", lambda s, n: (s.queue_stats(), s.failed_deliveries(limit=51),
                                                 s.stuck_deliveries(now=n, after=300.0))),
        Case("/api/v1/stats", lambda s, n: s.ended_waits(since=n - 30 * DAY)),
    ]


TIMER_COLUMNS = ("key, execution_id, stage_id, application, started_at, deadline, plan, reminded, escalated, "
                 "dms_pending, next_at, outcome, judge, ended_at, version, pipeline, stage_name")
JUDGMENT_COLUMNS = ("execution_id, stage_id, address, application, decision, user_id, user_email, "
                    "channel_id, message_ts, status, received_at, finished_at, claim")
DELIVERY_COLUMNS = ("event_id, thread_key, channel, action, rank, template, payload, status, attempts, "
                    "next_attempt_at, last_error, created_at, sent_at")


def seed(store: Store, now: float) -> None:
    """COPY the judgments, their timers and messages, and the deliveries, straight into the tables."""
    rng = random.Random(15)
    timers, judgments = [], []
    for n in range(JUDGMENTS):
        execution, application = f"01HBENCH{n:08}", f"app-{rng.randrange(APPLICATIONS):02}"
        waiting = n >= JUDGMENTS - WAITING
        started = now - rng.random() * (2 if waiting else 365) * DAY
        waited = rng.lognormvariate(8.0, 1.2)
        ended = None if waiting else started + waited
        approver = f"user-{rng.randrange(APPROVERS):03}@example.com"
        status, decision = rng.choice(STATUSES), rng.choice(("continue", "continue", "continue", "stop"))
        outcome = None if waiting else ("continued" if decision == "continue" else "stopped")
        timers.append((f"{execution}/mj", execution, "mj", application, started, started + 3 * DAY,
                       '{"every": {}, "snapshot": {}}', "{}", False, False,
                       started + 3 * DAY if waiting else None, outcome, None if waiting else approver, ended,
                       1, f"deploy-{rng.randrange(PIPELINES):03}", "Approve production"))
        if not waiting:
            judgments.append((execution, "mj", "#deploys", application, decision, f"U{n:08}", approver,
                              "C0DEPLOYS", f"{started:.6f}", status, ended - 5, ended,
                              f"{execution}/mj" if status == "decided" else None))
    # A relay writes timers as stages start and judgments as people click: rows in the order of time.
    timers.sort(key=lambda row: row[4])
    judgments.sort(key=lambda row: row[10])
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        _copy(cursor, "judgment_timers", TIMER_COLUMNS, timers)
        _copy(cursor, "judgments", JUDGMENT_COLUMNS, judgments)
        _copy(cursor, "messages", "key, channel, ts, rank, updated_at",
              ((f"01HBENCH{n:08}/mj@#deploys", "C0DEPLOYS", f"{now - n:.6f}", 0, now)
               for n in range(JUDGMENTS)))
        _copy(cursor, "channels", "channel, next_allowed_at, joined",
              ((f"C{n:08}", 0.0, True) for n in range(CHANNELS)))
        _copy(cursor, "deliveries", DELIVERY_COLUMNS, _deliveries(rng, now))
        raw.commit()
        raw.driver_connection.autocommit = True
        cursor.execute("VACUUM ANALYZE")  # as autovacuum leaves a table this old
    finally:
        raw.close()


def _deliveries(rng: random.Random, now: float):
    """90 days of deliveries, oldest first: sent or superseded, 2% failed for good, and the backlog (pending
    or in flight) among the newest, but for a few stuck for days."""
    for n in range(DELIVERIES):
        created = now - (DELIVERIES - n) * 90 * DAY / DELIVERIES
        status = rng.choice(DELIVERY_STATUSES)
        if status in ("pending", "sending") and n < DELIVERIES - BACKLOG and rng.random() > STUCK_SHARE:
            status = "sent"
        channel = f"C{n % CHANNELS:08}"
        yield (f"event-{n // 4}", f"run-{n // 8}@{channel}", channel, "reply", 0, "stage.complete",
               '{"text": "stage complete"}', status, 12 if status == "failed" else 1, created,
               "channel_not_found" if status == "failed" else None, created,
               None if status in ("pending", "sending") else created + 1)


def _copy(cursor, table: str, columns: str, rows) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def measure(call: Callable[[], object], *, repeat: int) -> list[float]:
    for _ in range(3):  # warm the connection pool, the prepared statements and the caches
        call()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return times


@click.command()
@click.option("--server-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
              show_default=True, help="A PostgreSQL server where this may create and drop a database.")
@click.option("--repeat", default=30, show_default=True, help="Timed requests per page.")
def main(server_url: str, repeat: int) -> None:
    name = f"relay_bench_console_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    store = Store.from_url(url)
    try:
        run(store, url, repeat)
    finally:
        store.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(store: Store, url: str, repeat: int) -> None:
    now = time.time()
    migrate.upgrade(store)
    began = time.perf_counter()
    seed(store, now)
    click.echo(f"seeded {JUDGMENTS:,} judgments (with their timers and messages) and {DELIVERIES:,} "
               f"deliveries in {time.perf_counter() - began:.0f} s")
    settings = Settings(database_url=url, console_auth="basic", console_secret="bench-console-secret-value",
                        console_users=(("olga", generate_password_hash(PASSWORD)),),
                        console_operators=frozenset({"olga"}), slack_workspace_url="https://acme.slack.com")
    policy = Policy({JUDGE: {"app-*": ApproverPolicy(groups=frozenset({"S0RELEASE"}))}})
    services = Services(settings=settings, store=store, poster=None, policy=policy, clock=lambda: now)
    client = create_app(services=services, announce=False).test_client()
    headers = {"Authorization": "Basic " + base64.b64encode(f"olga:{PASSWORD}".encode()).decode()}
    click.echo(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} as the timing starts")
    click.echo(f"\n| request | relay p50 ms | relay p95 ms | bare query p50 ms | under {BUDGET_MS:.0f} ms |")
    click.echo("|---|---:|---:|---:|---|")
    slowest = 0.0
    for case in cases(now):
        def request(path: str = case.path) -> None:
            answer = client.get(path, headers=headers)
            assert answer.status_code == 200, (path, answer.status_code)

        relay = measure(request, repeat=repeat)
        bare = measure(lambda case=case: case.bare(store, now), repeat=repeat)
        p95 = statistics.quantiles(relay, n=20)[-1]
        slowest = max(slowest, p95)
        click.echo(f"| `{case.path}` | {statistics.median(relay):.1f} | {p95:.1f} | "
                   f"{statistics.median(bare):.1f} | {'yes' if p95 < BUDGET_MS else '**no**'} |")
    export = "/console/decisions.csv?application=app-07"
    began = time.perf_counter()
    rows = client.get(export, headers=headers).get_data(as_text=True).count("\n") - 1
    seconds = time.perf_counter() - began
    click.echo(f"\nCSV export `{export}`: {rows:,} rows in {seconds * 1000:.0f} ms "
               f"({rows / seconds:,.0f} rows/s, streamed)")
    click.echo(f"slowest p95: {slowest:.1f} ms")


def _day(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


if __name__ == "__main__":
    main()
