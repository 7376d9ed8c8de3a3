"""Relay processes for tests: `python -m relay.cli ...` children, free ports, and waiting on conditions."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]


class Relay:
    """`python -m relay.cli ARGS` (or another module) as a child process, its output kept in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, *, module: str = "relay.cli",
                 cwd: Path | None = None) -> None:
        self.log = log
        self.output = log.open("wb")
        self.process = subprocess.Popen([sys.executable, "-m", module, *args], env=env, cwd=cwd,
                                        stdout=self.output, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the process unless it has ended, and wait for its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.output.close()

    def tail(self) -> str:
        """The end of the process's output."""
        return self.log.read_text(errors="replace")[-3000:]


def stop_all(relays: Iterable[Relay]) -> None:
    """SIGTERM every process first, so they shut down side by side, then wait for each."""
    relays = list(relays)
    for relay in relays:
        if relay.process.poll() is None:
            relay.process.send_signal(signal.SIGTERM)
    for relay in relays:
        relay.stop()


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_status(url: str) -> int | None:
    """The HTTP status `url` answers with, or None while nothing listens."""
    try:
        return requests.get(url, timeout=2).status_code
    except requests.ConnectionError:
        return None


def wait_until(condition: Callable[[], Any], timeout: float, what: str, relays: Iterable[Relay] = ()) -> Any:
    """`condition()`'s first truthy value; on timeout, fail with the relays' output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)  # polling interval while waiting for a condition, not a fixed wait
    logs = "\n".join(f"--- {relay.log.name}\n{relay.tail()}" for relay in relays)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")


