"""Gunicorn settings for the relay's web process in a container.

    gunicorn --config deploy/gunicorn.conf.py

The defaults are relay.serving.gunicorn_options (the ones `slackops-relay serve` uses); only what a
container needs is added here. Every setting can still be overridden on the command line.
"""

from relay.config import Settings
from relay.errors import ConfigError
from relay.logs import configure_logging
from relay.serving import gunicorn_options

try:
    settings = Settings.from_env()
except ConfigError as err:
    raise SystemExit(f"slackops-relay: {err.message}") from None
configure_logging(settings)
globals().update(gunicorn_options(settings))

wsgi_app = "relay.app:create_app()"
# Worker heartbeats on a memory filesystem: a container's disk may be slow, or read-only.
worker_tmp_dir = "/dev/shm"
# Gunicorn 25.1+ opens a control socket under $HOME; nothing in a container uses it
# (older versions ignore this setting).
control_socket_disable = True
