"""Running the app under Gunicorn, with the dispatcher as a sibling process of the Gunicorn master."""

from __future__ import annotations

import logging
import multiprocessing
import os
import subprocess
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from relay.config import Settings

log = logging.getLogger(__name__)


def gunicorn_options(settings: Settings, *, bind: str | None = None) -> dict[str, Any]:
    """Production defaults: threads for I/O-bound requests, bounded timeouts, graceful shutdown."""
    return {
        "bind": bind or settings.bind,
        "workers": max(2, min(8, multiprocessing.cpu_count() + 1)),
        "worker_class": "gthread",
        "threads": 8,
        "timeout": 30,
        "graceful_timeout": 30,
        "keepalive": 5,
        "limit_request_line": 8190,
        "forwarded_allow_ips": os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        "accesslog": "-",
        "errorlog": "-",
    }


class RelayServer(BaseApplication):
    """Gunicorn serving `create_app()`, optionally starting `slackops-relay worker` beside it."""

    def __init__(self, options: dict[str, Any], *, with_dispatcher: bool) -> None:
        self.options = options
        self.with_dispatcher = with_dispatcher
        self.dispatcher: subprocess.Popen | None = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        if self.with_dispatcher:
            self.cfg.set("when_ready", self._start_dispatcher)
            self.cfg.set("on_exit", self._stop_dispatcher)

    def load(self):
        from relay.app import create_app

        return create_app()

    def _start_dispatcher(self, _server) -> None:
        command = [sys.executable, "-m", "relay.cli", "worker", "--parent-pid", str(os.getpid())]
        self.dispatcher = subprocess.Popen(command)
        log.info("dispatcher started as pid %d", self.dispatcher.pid)

    def _stop_dispatcher(self, _server) -> None:
        if self.dispatcher is None or self.dispatcher.poll() is not None:
            return
        self.dispatcher.terminate()
        try:
            self.dispatcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.dispatcher.kill()
