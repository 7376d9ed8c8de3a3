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
from tests.processes import Relay, free_port, relay_environment, stop_all, wait_healthy

ECHO_TOKEN = "bench-echo-token"
HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {ECHO_TOKEN}"}


@dataclass
class Server:
    """A process serving HTTP on 127.0.0.1."""

    process: Relay
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class RelayUnderTest:
    """A running relay (serve with its dispatcher) and the FakeSlack it posts to."""

    server: Server
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
def serving(module: str, args: list[str], *, env: dict[str, str], log: Path) -> Iterator[Server]:
    """`python -m MODULE ARGS --bind 127.0.0.1:PORT`, once it answers /healthz; stopped afterwards."""
    port = free_port()
    process = Relay([*args, "--bind", f"127.0.0.1:{port}"], relay_environment(**env), log, module=module)
    try:
        server = Server(process, f"http://127.0.0.1:{port}")
        wait_healthy(server.url, process)
        yield server
    finally:
        process.stop()


@contextlib.contextmanager
def running_relay(directory: Path, *, database_url: str | None, slack_interval: float = 1.0,
                  relay_interval: float = 1.0, slack_latency: float = 0.0, workers: int = 0,
                  env: dict[str, str] | None = None) -> Iterator[RelayUnderTest]:
    """FakeSlack pacing posts like Slack (one a second per channel) and answering each call after
    `slack_latency` seconds, and `slackops-relay serve` using it (with `env` added to its environment), with
    `workers` more `slackops-relay worker` processes beside its own dispatcher."""
    url = database_url or f"sqlite:///{directory / 'relay.sqlite3'}"
    with FakeSlack(channel_interval=slack_interval, latency=slack_latency) as slack:
        env = {"SLACK_BOT_TOKEN": slack.token, "SLACK_API_URL": slack.api_url, "RELAY_ECHO_TOKEN": ECHO_TOKEN,
               "RELAY_DATABASE_URL": url, "RELAY_CHANNEL_INTERVAL": str(relay_interval), **(env or {})}
        with serving("relay.cli", ["serve", "--upgrade"], env=env, log=directory / "relay.log") as server:
            extra = [Relay(["worker"], relay_environment(**env), directory / f"worker-{number}.log")
                     for number in range(workers)]
            try:
                yield RelayUnderTest(server=server, slack=slack, database_url=url, workdir=directory)
            finally:
                stop_all(extra)


@contextlib.contextmanager
def running_baseline(directory: Path, *, signing_secret: str = "baseline") -> Iterator[Server]:
    """The baseline app (parse JSON and answer 202; check a Slack signature and answer 200) under the same
    Gunicorn options."""
    with serving("bench.baseline", ["--signing-secret", signing_secret], env={},
                 log=directory / "baseline.log") as server:
        yield server


def warm_up(relay: RelayUnderTest) -> None:
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
