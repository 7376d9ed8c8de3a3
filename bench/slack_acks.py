"""How fast the relay acknowledges Slack: each /spinnaker command, and the App Home's `app_home_opened` event,
over HTTP (a real `slackops-relay serve`) and over Socket Mode (a real `slackops-relay socket`), against the
fake Slack, next to the baseline app that only checks the signature under the same Gunicorn options. Slack
allows 3 seconds.

    python bench/slack_acks.py [--requests 200]
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import click
import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import running_baseline  # noqa: E402
from relay.store import Store, migrate  # noqa: E402
from tests.chatops import ALICE, command_fields, form_body  # noqa: E402
from tests.fake_gate import FakeGate  # noqa: E402
from tests.fake_socket_mode import FakeSocketMode  # noqa: E402
from tests.fakes import FakeSlack  # noqa: E402
from tests.processes import Relay, free_port, http_status, wait_until  # noqa: E402
from tests.slack_requests import SIGNING_SECRET, app_home_opened, signed  # noqa: E402

COMMANDS = ("help", "status compute", "pending compute", "run compute Deploy",
            "cancel 01D4NH3V9D1RK8GX4036M8BAXV")
SLACK_BUDGET_MS = 3000.0
EVENT_IDS = (f"EvBENCH{number:08d}" for number in itertools.count())  # each a new event, as Slack sends them


@click.command()
@click.option("--requests", "count", default=200, show_default=True,
              help="Requests per command and transport.")
def main(count: int) -> None:
    """Time `count` acknowledgements of each command, over HTTP and over Socket Mode."""
    click.echo(f"# {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
               f"{count} requests per row, Slack's budget {SLACK_BUDGET_MS:.0f} ms")
    click.echo(f"{'transport':<12}{'command':<16}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    with tempfile.TemporaryDirectory() as directory, FakeSlack() as slack, FakeSocketMode() as sockets, \
            FakeGate() as gate:
        slack.add_user(ALICE, email="alice@example.com")
        slack.socket_url = sockets.url
        folder = Path(directory)
        env = relay_env(slack, folder, gate_url=gate.url)
        bind = f"127.0.0.1:{free_port()}"
        base_url = f"http://{bind}"
        with running_baseline(folder, signing_secret=SIGNING_SECRET) as baseline:
            report("baseline", "any", [http_ack(slack, baseline.url, "help") for _ in range(count)])
        with relay(["serve", "--bind", bind, "--no-dispatcher"], env, folder) as web:
            wait_until(lambda: http_status(f"{base_url}/healthz") == 200, 30.0, "the relay to serve", [web])
            for text in COMMANDS:
                report("http", text, [http_ack(slack, base_url, text) for _ in range(count)])
            report("http", "app_home_opened", [http_event_ack(base_url) for _ in range(count)])
        with relay(["socket", "--no-dispatcher"], env, folder) as socket_mode:
            wait_until(lambda: sockets.connections, 30.0, "the relay to connect", [socket_mode])
            for text in COMMANDS:
                report("socket", text, [socket_ack(slack, sockets, text) for _ in range(count)])
            report("socket", "app_home_opened", [socket_event_ack(sockets) for _ in range(count)])


def relay_env(slack: FakeSlack, directory: Path, *, gate_url: str) -> dict[str, str]:
    database = f"sqlite:///{directory / 'relay.sqlite3'}"
    migrate.upgrade(Store.from_url(database))
    rules = directory / "relay.yml"
    rules.write_text(yaml.safe_dump({policy: {"*": {"users": [ALICE]}}
                                     for policy in ("approvers", "runners", "cancelers")}))
    return {**os.environ, "PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": slack.token,
            "SLACK_API_URL": slack.api_url, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_APP_TOKEN": slack.app_token, "RELAY_ECHO_TOKEN": "bench-echo-token",
            "RELAY_DATABASE_URL": database, "RELAY_CONFIG": str(rules),
            # Acks never wait for Gate (no dispatcher runs jobs); `socket` checks that it answers at startup.
            "GATE_URL": gate_url,
            "RELAY_LOG_LEVEL": "WARNING"}


def http_ack(slack: FakeSlack, base_url: str, text: str) -> float:
    body = form_body(command_fields(slack, text))
    started = time.perf_counter()
    response = requests.post(f"{base_url}/slack/commands", data=body, headers=signed(body), timeout=10)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed


def http_event_ack(base_url: str) -> float:
    """An Events API request: the relay records the event and queues its job, and answers."""
    body = json.dumps(app_home_opened(ALICE, event_id=next(EVENT_IDS))).encode()
    headers = {**signed(body), "Content-Type": "application/json"}
    started = time.perf_counter()
    response = requests.post(f"{base_url}/slack/events", data=body, headers=headers, timeout=10)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed


def socket_event_ack(sockets: FakeSocketMode) -> float:
    envelope = sockets.send_envelope("events_api", app_home_opened(ALICE, event_id=next(EVENT_IDS)))
    return sockets.wait_for_ack(envelope).seconds * 1000


def socket_ack(slack: FakeSlack, sockets: FakeSocketMode, text: str) -> float:
    envelope = sockets.send_envelope("slash_commands", command_fields(slack, text))
    return sockets.wait_for_ack(envelope).seconds * 1000


def report(transport: str, text: str, millis: list[float]) -> None:
    p95 = statistics.quantiles(millis, n=20)[-1]
    p50 = statistics.median(millis)
    click.echo(f"{transport:<12}{text.split()[0]:<16}{p50:>9.1f}{p95:>9.1f}{max(millis):>9.1f}")


@contextlib.contextmanager
def relay(args: list[str], env: dict[str, str], directory: Path) -> Iterator[Relay]:
    process = Relay(args, env, directory / f"{args[0]}.log")
    try:
        yield process
    finally:
        process.stop()


if __name__ == "__main__":
    main()
