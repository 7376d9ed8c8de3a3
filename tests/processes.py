"""Relay processes for tests: `python -m relay.cli ...` children, free ports, and waiting on conditions."""

from __future__ import annotations

import contextlib
import os
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
# slack_sdk and requests would route 127.0.0.1 through these (slack_sdk ignores NO_PROXY).
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


class Relay:
    """`python -m relay.cli ARGS` (or another module) as a child process, its output kept in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, *, module: str = "relay.cli",
                 cwd: Path | None = None) -> None:
        self.log = log
        self.output = log.open("wb")
        # A process group of its own, so that kill() ends it with everything it started in one SIGKILL.
        self.process = subprocess.Popen([sys.executable, "-m", module, *args], env=env, cwd=cwd,
                                        stdout=self.output, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL the process and all it started (Gunicorn's workers, the dispatcher), the way a container
        runtime or the OOM killer does: no handler runs, no lease is handed back."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.output.close()

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
    """SIGTERM every process first, so they shut down side by side, then wait for each; one still running
    after the wait is killed, so a test's teardown never leaves a process behind."""
    relays = list(relays)
    for relay in relays:
        if relay.process.poll() is None:
            relay.process.send_signal(signal.SIGTERM)
    for relay in relays:
        try:
            relay.stop()
        except subprocess.TimeoutExpired:
            relay.process.kill()
            relay.process.wait(timeout=30)


def relay_environment(**overrides: str) -> dict[str, str]:
    """This environment without proxies or relay settings, the project on PYTHONPATH, plus `overrides`."""
    env = {key: value for key, value in os.environ.items()
           if key not in PROXY_VARIABLES and not key.startswith(("RELAY_", "SLACK_", "GATE_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**env, **overrides}


def wait_healthy(url: str, relay: Relay, timeout: float = 30.0) -> None:
    """Wait until `url` + /healthz answers 200; fail early with the output if the process ends."""
    with requests.Session() as session:
        session.trust_env = False

        def healthy() -> bool:
            if relay.process.poll() is not None:
                raise AssertionError(f"{relay.log.name}: exited with {relay.process.returncode}\n"
                                     f"{relay.tail()}")
            try:
                return session.get(url + "/healthz", timeout=1.0).ok
            except requests.RequestException:
                return False

        wait_until(healthy, timeout, f"{url}/healthz", [relay])


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


