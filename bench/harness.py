"""The systems under test: the relay's real processes beside a FakeSlack, and the baseline app."""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click
import requests

from bench.workload import body, run_for
from tests import events
from tests.fakes import FakeSlack
from tests.processes import HttpProcess, free_port, relay_server

ECHO_TOKEN = "bench-echo-token"
HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {ECHO_TOKEN}"}


@dataclass
class Relay:
    """A running relay (serve with its dispatcher) and the FakeSlack it posts to."""

    server: HttpProcess
    slack: FakeSlack
    database_url: str
    workdir: Path

    @property
    def events_url(self) -> str:
        return self.server.url + "/echo/events"


def database_option(function):
    return click.option("--database-url", default=None,
                        help="An empty database for the relay (default: a fresh SQLite file).")(function)


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as path:
        yield Path(path)


@contextlib.contextmanager
def running_relay(directory: Path, *, database_url: str | None, slack_interval: float = 1.0,
                  relay_interval: float = 1.0) -> Iterator[Relay]:
    """FakeSlack pacing posts like Slack (one a second per channel), and `slackops-relay serve` using it."""
    url = database_url or f"sqlite:///{directory / 'relay.sqlite3'}"
    with FakeSlack(channel_interval=slack_interval) as slack:
        env = {"SLACK_BOT_TOKEN": slack.token, "SLACK_API_URL": slack.api_url, "RELAY_ECHO_TOKEN": ECHO_TOKEN,
               "RELAY_DATABASE_URL": url, "RELAY_CHANNEL_INTERVAL": str(relay_interval)}
        with relay_server(port=free_port(), env=env, log_path=directory / "relay.log") as server:
            yield Relay(server=server, slack=slack, database_url=url, workdir=directory)


@contextlib.contextmanager
def running_baseline(directory: Path) -> Iterator[HttpProcess]:
    """The baseline app (parse JSON, answer 202) under the same Gunicorn options."""
    port = free_port()
    with HttpProcess("bench.baseline", ["--bind", f"127.0.0.1:{port}"], port=port, env={},
                     log_path=directory / "baseline.log") as server:
        yield server


def warm_up(relay: Relay) -> None:
    """One event through the whole path: the dispatcher process starts after the webhook first answers."""
    data = body(events.pipeline_event("starting", run_for("small", channel="#warm-up")), event_id="warm-up",
                run_id="warm-up")
    statuses = post_all(relay.events_url, [data], senders=1)
    if statuses != [202]:
        raise RuntimeError(f"the relay answered the warm-up event with {statuses[0]}")
    relay.slack.wait_for(lambda: relay.slack.messages("#warm-up"), timeout=60,
                         description="the warm-up message")


def post_all(url: str, bodies: Iterable[bytes], *, senders: int) -> list[int]:
    """POST every body to `url` over `senders` concurrent keep-alive connections; the statuses, in order."""
    local = threading.local()

    def post(data: bytes) -> int:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.trust_env = False
        return local.session.post(url, data=data, headers=HEADERS, timeout=60).status_code

    with ThreadPoolExecutor(senders) as pool:
        return list(pool.map(post, bodies))
