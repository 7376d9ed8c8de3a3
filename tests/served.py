"""A `slackops-relay serve` process (Gunicorn and its dispatcher) configured only through its environment, and
raw HTTP for what an attacker sends but a client library will not: a body that never ends, or chunks."""

from __future__ import annotations

import contextlib
import http.client
import json
import select
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.processes import Relay, free_port, relay_environment, wait_healthy
from tests.slack_requests import SIGNING_SECRET


@dataclass
class Served:
    """A running relay: its base URL and its process."""

    url: str
    relay: Relay

    def post(self, path: str, data: bytes, headers: dict[str, str]) -> requests.Response:
        with requests.Session() as session:
            session.trust_env = False
            return session.post(self.url + path, data=data, headers=headers, timeout=10)


@contextlib.contextmanager
def served_relay(tmp_path: Path, *, serve_args: tuple[str, ...] = (), **env: str) -> Iterator[Served]:
    """`slackops-relay serve --upgrade` (plus `serve_args`) on a SQLite file in `tmp_path`, signing with the
    test secret, one web worker, plus `env`; stopped afterwards."""
    port = free_port()
    settings = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "RELAY_WEB_WORKERS": "1",
                "RELAY_CHANNEL_INTERVAL": "0",
                "RELAY_DATABASE_URL": f"sqlite:///{tmp_path / 'relay.sqlite3'}",
                **env}
    relay = Relay(["serve", "--upgrade", "--bind", f"127.0.0.1:{port}", *serve_args],
                  relay_environment(**settings), tmp_path / "relay.log", cwd=tmp_path)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, relay, timeout=60)
        yield Served(url, relay)
    finally:
        relay.stop(timeout=60)


@dataclass(frozen=True)
class Answer:
    """What the server answered, how much of the body had been sent by then, and how long it took."""

    status: int
    body: dict[str, Any] | None
    sent: int
    seconds: float


def stream_post(url: str, path: str, chunks: Iterable[bytes], *, headers: dict[str, str],
                chunked: bool = False, timeout: float = 10.0) -> Answer:
    """POST `chunks` one by one (as chunked transfer coding when `chunked`), stopping as soon as the server
    answers, as a client sending a huge body would see it."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    began = time.monotonic()
    connection.putrequest("POST", path)
    for name, value in {**headers, **({"Transfer-Encoding": "chunked"} if chunked else {})}.items():
        connection.putheader(name, value)
    connection.endheaders()
    sent = 0
    with contextlib.suppress(OSError):  # the server may close its end once it has answered
        for chunk in chunks:
            if select.select([connection.sock], [], [], 0)[0]:
                break
            connection.sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            sent += len(chunk)
        else:
            if chunked:
                connection.sock.sendall(b"0\r\n\r\n")
    response = connection.getresponse()
    data = response.read()
    seconds = time.monotonic() - began
    connection.close()
    return Answer(response.status, json.loads(data) if data else None, sent, seconds)


def filler(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """`total` bytes of form-encoded junk in chunks of `size`."""
    for offset in range(0, total, size):
        yield b"x" * min(size, total - offset)
