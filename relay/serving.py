"""Running the relay: Gunicorn for the app (with the dispatcher as a sibling process of the Gunicorn
master), and a small HTTP server for a standalone worker's health and metrics."""

from __future__ import annotations

import gc
import logging
import math
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from relay.config import Settings, parse_bind
from relay.errors import ConfigError
from relay.metrics import reset_multiprocess_dir
from relay.services import Services

log = logging.getLogger(__name__)

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def gunicorn_options(settings: Settings, *, bind: str | None = None) -> dict[str, Any]:
    """Production defaults, shared by `slackops-relay serve` and deploy/gunicorn.conf.py."""
    return {
        "bind": bind or settings.bind,
        "workers": settings.web_workers or default_workers(),
        # Requests wait on the database, not the CPU: threads are cheap concurrency for that.
        "worker_class": "gthread",
        "threads": 8,
        # A worker silent this long is killed and replaced; handlers answer in milliseconds.
        "timeout": 30,
        # On SIGTERM, requests in flight get this long to finish before workers are killed.
        "graceful_timeout": 30,
        # Longer than a load balancer's idle timeout (60 s for ingress-nginx and AWS ALB), so the balancer,
        # not the relay, closes idle connections and never sends a request into one being closed.
        "keepalive": 75,
        # Each worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads new connections
        # over them; on one shared socket, a caller's few keep-alive connections (Echo's, an ingress's) can
        # all land on the worker that happened to be waiting, leaving the others idle.
        "reuse_port": True,
        # The request line and headers are bounded here; bodies by RELAY_MAX_EVENT_BYTES and
        # RELAY_MAX_SLACK_BYTES in the app.
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        # Proxies trusted for X-Forwarded-Proto and friends: the ingress's addresses.
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        # The relay logs each request itself (with its request id, as text or JSON): no access log.
        "accesslog": None,
        "logger_class": "relay.logs.GunicornLogger",
        "on_starting": lambda _server: reset_multiprocess_dir(settings.metrics_dir),
        # Gunicorn 25.1+ opens a control socket under $HOME (and says so); the relay does not use it.
        "control_socket_disable": True,
    }


def default_workers() -> int:
    """CPU count plus one, between 2 and 8: gthread workers mostly wait on I/O."""
    return max(2, min(8, available_cpus() + 1))


def available_cpus() -> int:
    """CPUs this process may use: a container's cgroup quota when set, else the CPUs it may run on."""
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()
        if quota != "max":
            return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class RelayServer(BaseApplication):
    """Gunicorn serving `create_app()`, optionally starting `slackops-relay worker` beside it."""

    def __init__(self, options: dict[str, Any], *, with_dispatcher: bool, stop_seconds: float) -> None:
        self.options = options
        self.with_dispatcher = with_dispatcher
        self.stop_seconds = stop_seconds  # how long the dispatcher may take to stop before it is killed
        self.dispatcher: subprocess.Popen | None = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # settings this Gunicorn version does not have are left out
                self.cfg.set(key, value)
        if self.with_dispatcher:
            self.cfg.set("when_ready", self._start_dispatcher)
            self.cfg.set("on_exit", self._stop_dispatcher)

    def load(self):
        from relay.app import create_app

        app = create_app(announce=False)
        freeze_startup_objects()
        return app

    def _start_dispatcher(self, _server) -> None:
        command = [sys.executable, "-m", "relay.cli", "worker", "--parent-pid", str(os.getpid())]
        self.dispatcher = subprocess.Popen(command)
        log.info("dispatcher started as pid %d", self.dispatcher.pid)

    def _stop_dispatcher(self, _server) -> None:
        if self.dispatcher is None or self.dispatcher.poll() is not None:
            return
        self.dispatcher.terminate()
        try:
            self.dispatcher.wait(timeout=self.stop_seconds)
        except subprocess.TimeoutExpired:
            self.dispatcher.kill()


def freeze_startup_objects(_worker: object = None) -> None:
    """Move what a worker built at startup (the app, its services and their modules, which live as long as
    the worker) out of the garbage collector's sight: the full collections that every event's parsed JSON
    triggers now and then no longer walk it. A Gunicorn `post_worker_init` hook, or called after the app is
    built."""
    gc.freeze()


def check_bind(bind: str, *, key: str) -> None:
    """Refuse in one line, before anything starts, an address that is malformed or cannot be listened on."""
    address = parse_bind(bind, key=key)
    if address is None:
        return
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    try:
        socket.create_server(address, family=family).close()
    except OSError as err:
        reason = err.strerror or " ".join(str(err).split())
        raise ConfigError(f"{key}: cannot listen on {bind}: {reason}; choose a free port on an address of "
                          "this machine") from None


class QuietHandler(WSGIRequestHandler):
    """The app logs each request itself."""

    def log_request(self, *args: Any) -> None:
        pass


def start_ops_server(services: Services, bind: str) -> BaseWSGIServer:
    """Serve /healthz, /readyz and /metrics for a standalone worker from a background thread."""
    from relay.app import create_app

    host, _, port = bind.rpartition(":")
    app = create_app(services=services, ops_only=True)
    server = make_server(host.strip("[]") or "0.0.0.0", int(port), app, threaded=True,
                         request_handler=QuietHandler)
    threading.Thread(target=server.serve_forever, name="ops-server", daemon=True).start()
    log.info("worker health and metrics on http://%s/metrics", bind)
    return server
