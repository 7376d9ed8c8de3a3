"""Gunicorn settings for the relay's web process in a container.

    gunicorn --config deploy/gunicorn.conf.py

The defaults are relay.serving.gunicorn_options (the ones `slackops-relay serve` uses); only what a
container needs is added here. Every setting can still be overridden on the command line.
"""

from relay.app import log_setup_warnings
from relay.config import Settings
from relay.errors import ConfigError
from relay.logs import configure_logging
from relay.serving import freeze_startup_objects, gunicorn_options

try:
    settings = Settings.from_env()
except ConfigError as err:
    raise SystemExit(f"slackops-relay: {err.message}") from None
configure_logging(settings)
globals().update(gunicorn_options(settings))
log_setup_warnings(settings)  # once, here in the master, not in every worker

wsgi_app = "relay.app:create_app(announce=False)"
post_worker_init = freeze_startup_objects  # each worker, once its app is built
# Worker heartbeats on a memory filesystem: a container's disk may be slow, or read-only.
worker_tmp_dir = "/dev/shm"
