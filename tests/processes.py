"""The relay's commands as real processes on 127.0.0.1, for process-level tests and the benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import requests

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# slack_sdk and requests would route 127.0.0.1 through these (slack_sdk ignores NO_PROXY).
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """This environment without proxies or relay settings, the project on PYTHONPATH, plus `overrides`."""
    env = {key: value for key, value in os.environ.items()
           if key not in PROXY_VARIABLES and not key.startswith(("RELAY_", "SLACK_", "GATE_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    env.update(overrides)
    return env


class Process:
    """A Python module run as `python -m MODULE ARGS` in its own process group, output sent to a log file.

    Its own process group lets `kill()` end it together with everything it started (Gunicorn's workers,
    the dispatcher) in one SIGKILL, the way a container runtime or the OOM killer does."""

    def __init__(self, module: str, args: Sequence[str], *, env: Mapping[str, str], log_path: Path) -> None:
        self.module = module
        self.args = list(args)
        self.env = child_environment(env)
        self.log_path = log_path
        self.popen: subprocess.Popen | None = None

    def start(self) -> Process:
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen([sys.executable, "-m", self.module, *self.args], env=self.env,
                                          cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, "not started"
        return self.popen.pid

    def kill(self) -> None:
        """SIGKILL the whole process group: no handler runs, no lease is handed back."""
        self._signal_group(signal.SIGKILL)
        self._reap(10.0)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the process (a graceful shutdown), then SIGKILL whatever is left of its group."""
        if self.popen is None or self.popen.poll() is not None:
            self._signal_group(signal.SIGKILL)
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        finally:
            self._signal_group(signal.SIGKILL)
            self._reap(10.0)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _signal_group(self, signum: int) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def _reap(self, timeout: float) -> None:
        if self.popen is not None:
            self.popen.wait(timeout)

    def __enter__(self) -> Process:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class HttpProcess(Process):
    """A Process serving HTTP on 127.0.0.1:`port`; `start()` returns once `health_path` answers 200."""

    def __init__(self, module: str, args: Sequence[str], *, port: int, env: Mapping[str, str], log_path: Path,
                 health_path: str = "/healthz", startup_timeout: float = 30.0) -> None:
        super().__init__(module, args, env=env, log_path=log_path)
        self.port = port
        self.health_path = health_path
        self.startup_timeout = startup_timeout

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HttpProcess:
        super().start()
        deadline = time.monotonic() + self.startup_timeout
        with requests.Session() as session:
            session.trust_env = False
            while True:
                if self.popen is not None and self.popen.poll() is not None:
                    raise RuntimeError(f"{self.module} exited with {self.popen.returncode}:\n"
                                       f"{self.log_tail()}")
                try:
                    if session.get(self.url + self.health_path, timeout=1.0).status_code == 200:
                        return self
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{self.module} did not answer within {self.startup_timeout:g}s:\n"
                                       f"{self.log_tail()}")
                time.sleep(0.05)  # polling a server that is still starting; the deadline bounds it


def relay_server(*, port: int, env: Mapping[str, str], log_path: Path,
                 dispatcher: bool = True) -> HttpProcess:
    """`slackops-relay serve --upgrade` on 127.0.0.1:`port` under the production Gunicorn config."""
    args = ["serve", "--upgrade", "--bind", f"127.0.0.1:{port}"] + ([] if dispatcher else ["--no-dispatcher"])
    return HttpProcess("relay.cli", args, port=port, env=env, log_path=log_path)


def relay_worker(*, env: Mapping[str, str], log_path: Path) -> Process:
    """`slackops-relay worker`: the delivery dispatcher alone."""
    return Process("relay.cli", ["worker"], env=env, log_path=log_path)
