"""The `slackops-relay` command: serve, worker, socket, preview, deliveries, judgments, db, and setup."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import click
import yaml
from marshmallow import ValidationError
from slack_sdk.errors import SlackApiError

from relay.clients.slack import classify
from relay.config import Settings
from relay.errors import ConfigError
from relay.logs import Redactor, configure_logging
from relay.setup.echo_setup import echo_config_text
from relay.setup.failures import explain
from relay.setup.listings import deliveries_table, judgments_table, wait_stats
from relay.setup.manifest import APP_NAME, app_manifest
from relay.setup.preview import preview_lines
from relay.setup.startup import check_gate, warn_about_scopes
from relay.spinnaker.echo_events import EVENT_TYPES, NotAnExecution, echo_event, notifying
from relay.store import FAILED, Store, migrate
from relay.wiring import build_services
from schemas.config import Duration, first_error
from schemas.echo import EVENT_SCHEMA
from schemas.strict_json import reject_constant

log = logging.getLogger(__name__)


def load_settings() -> Settings:
    """Settings from the environment, with logging set up from them; a bad configuration ends the command
    with one clear line."""
    try:
        settings = Settings.from_env()
    except ConfigError as err:
        raise click.ClickException(err.message) from None
    configure_logging(settings)
    return settings


def _ready_store(settings: Settings, *, upgrade: bool) -> Store:
    store = Store.from_url(settings.database_url)
    try:
        if upgrade:
            migrate.upgrade(store)
        migrate.require_head(store)
    except ConfigError as err:
        store.engine.dispose()
        raise click.ClickException(err.message) from None
    return store


class RelayGroup(click.Group):
    """Commands whose every failure ends in one line naming the problem and the fix (and exit status 1);
    `--debug` lets the traceback through instead."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as err:
            if ctx.params.get("debug"):
                raise
            raise click.ClickException(explain(err)) from None


@click.group(cls=RelayGroup)
@click.option("--debug", is_flag=True, help="Show the full traceback when a command fails.")
def cli(debug: bool) -> None:
    """SlackOps Relay: Spinnaker pipelines in Slack."""


@cli.command()
@click.option("--bind", help="HOST:PORT to listen on (default RELAY_BIND or 0.0.0.0:8080).")
@click.option("--upgrade", is_flag=True, help="Apply database migrations before starting.")
@click.option("--no-dispatcher", is_flag=True, help="Serve HTTP only; run `slackops-relay worker` elsewhere.")
def serve(bind: str | None, upgrade: bool, no_dispatcher: bool) -> None:
    """Run the relay under Gunicorn, with the delivery dispatcher beside it."""
    from relay.app import log_setup_warnings
    from relay.serving import RelayServer, check_bind, gunicorn_options

    settings = load_settings()
    check_bind(bind or settings.bind, key="--bind" if bind else "RELAY_BIND")
    _ready_store(settings, upgrade=upgrade).engine.dispose()
    log_setup_warnings(settings)  # once here; Gunicorn's workers build the app without repeating them
    warn_about_scopes(settings)
    options = gunicorn_options(settings, bind=bind)
    if options["workers"] > 1 and not settings.metrics_dir:
        click.echo("PROMETHEUS_MULTIPROC_DIR is not set: /metrics counts only the worker answering a scrape.")
    RelayServer(options, with_dispatcher=not no_dispatcher, stop_seconds=settings.stop_seconds).run()


@cli.command()
@click.option("--upgrade", is_flag=True, help="Apply database migrations before starting.")
@click.option("--ops-bind", metavar="HOST:PORT", help="Serve /healthz, /readyz and /metrics here.")
@click.option("--parent-pid", type=int, hidden=True, help="Stop when this process is gone.")
def worker(upgrade: bool, ops_bind: str | None, parent_pid: int | None) -> None:
    """Run the delivery dispatcher alone (any number of workers may share one database). SIGTERM lets the
    deliveries and jobs in flight finish and hands the rest back to the queue."""
    from relay.serving import check_bind, start_ops_server

    settings = load_settings()
    if ops_bind:
        check_bind(ops_bind, key="--ops-bind")
    _ready_store(settings, upgrade=upgrade).engine.dispose()
    if not parent_pid:  # `serve` said it already for the worker it starts
        warn_about_scopes(settings)
    services = build_services(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if parent_pid:
        threading.Thread(target=_stop_when_orphaned, args=(parent_pid, stop), daemon=True).start()
    ops_server = start_ops_server(services, ops_bind) if ops_bind else None
    try:
        services.dispatcher().run(stop)
    finally:
        if ops_server is not None:
            ops_server.shutdown()


def _stop_when_orphaned(parent_pid: int, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        if os.getppid() != parent_pid:
            stop.set()


@cli.command()
@click.argument("event_file", type=click.File("rb"), required=False)
@click.option("--execution", "execution_file", type=click.File("rb"),
              help="A Gate execution (GET /pipelines/{id}) to build the event from, instead of EVENT_FILE.")
@click.option("--type", "event_type", type=click.Choice(EVENT_TYPES),
              help="The event to build (with --execution).")
@click.option("--stage", "stage_ref", help="The stage's refId or id, for a stage event.")
@click.option("--channel",
              help="Notify this address on every event, as if the run named it (with --execution).")
def preview(event_file, execution_file, event_type: str | None, stage_ref: str | None,
            channel: str | None) -> None:
    """Print what the dispatcher would do with an Echo event (EVENT_FILE, or one built from a Gate execution
    with --execution and --type): each delivery's action and channel, its Slack message, and a Block Kit
    Builder link."""
    settings = load_settings()
    if (event_file is None) == (execution_file is None):
        raise click.UsageError("give an EVENT_FILE, or --execution FILE with --type")
    if execution_file is not None and not event_type:
        raise click.UsageError("--execution needs --type, e.g. --type orca:pipeline:failed")
    if event_file is not None and (event_type or stage_ref or channel):
        raise click.UsageError("--type, --stage and --channel go with --execution")
    source = event_file or execution_file
    try:
        document = json.loads(source.read(), parse_constant=reject_constant)
        if execution_file is not None:
            run = notifying(document, channel) if channel and isinstance(document, dict) else document
            document = echo_event(run, event_type, stage_ref=stage_ref)
        event = EVENT_SCHEMA.load(document)
    except NotAnExecution as err:
        raise click.ClickException(f"{source.name}: {err}") from None
    except ValidationError as err:
        problem = first_error(err.messages)
        raise click.ClickException(f"{source.name}: not an Echo event: {problem}") from None
    except (ValueError, RecursionError) as err:
        raise click.ClickException(f"{source.name}: not JSON: {' '.join(str(err).split())}") from None
    for line in preview_lines(event, settings):
        click.echo(line)


@cli.command()
@click.option("--failed", is_flag=True, help="Only deliveries that failed for good.")
@click.option("--retry", "retry_id", type=int, help="Queue this failed delivery again.")
@click.option("--limit", default=50, show_default=True)
def deliveries(failed: bool, retry_id: int | None, limit: int) -> None:
    """List recent deliveries with their status and last error, or retry a failed one."""
    settings = load_settings()
    store = _ready_store(settings, upgrade=False)
    redact = Redactor(settings.secrets)
    if retry_id is not None:
        if not store.retry_delivery(retry_id, now=time.time()):
            raise click.ClickException(f"delivery {retry_id} is not a failed delivery")
        click.echo(f"delivery {retry_id} queued again")
        return
    for line in deliveries_table(store.list_deliveries(status=FAILED if failed else None, limit=limit)):
        click.echo(redact(line))


@cli.command()
@click.option("--limit", default=50, show_default=True)
@click.option("--stats", is_flag=True, help="How long judgments waited: p50, p90 and max per application and "
                                            "per approver.")
@click.option("--since", default="30d", show_default=True,
              help="With --stats: the waits that ended this recently.")
def judgments(limit: int, stats: bool, since: str) -> None:
    """List Manual Judgments made from Slack: who, what, why, and what Spinnaker answered."""
    settings = load_settings()
    store = _ready_store(settings, upgrade=False)
    redact = Redactor(settings.secrets)
    if stats:
        try:
            window = Duration().deserialize(since)
        except ValidationError:
            raise click.BadParameter("not a duration like 30d, 12h or 90m", param_hint="--since") from None
        ended = store.ended_waits(since=time.time() - window)
        lines = wait_stats(ended) if ended else ["no judgment waited and ended in that time"]
    else:
        lines = judgments_table(store.list_judgments(limit=limit))
    for line in lines:
        click.echo(redact(line))


@cli.group()
@click.pass_context
def db(ctx: click.Context) -> None:
    """Database schema commands."""
    store = Store.from_url(load_settings().database_url)
    ctx.call_on_close(store.engine.dispose)
    ctx.obj = store


@db.command("upgrade")
@click.pass_obj
def db_upgrade(store: Store) -> None:
    """Apply all migrations."""
    migrate.upgrade(store)
    click.echo(f"database at revision {migrate.current_revision(store)}")


@db.command("downgrade")
@click.argument("revision")
@click.pass_obj
def db_downgrade(store: Store, revision: str) -> None:
    """Revert migrations down to REVISION (before running an older relay release)."""
    migrate.downgrade(store, revision)
    click.echo(f"database at revision {migrate.current_revision(store) or 'none'}")


@db.command("current")
@click.pass_obj
def db_current(store: Store) -> None:
    """Show the database's schema revision and the one this relay needs."""
    click.echo(f"current {migrate.current_revision(store) or 'none'}, head {migrate.head_revision(store)}")


@cli.command()
@click.option("--no-dispatcher", is_flag=True, help="Only the socket; run `slackops-relay worker` elsewhere.")
@click.option("--ops-bind", metavar="HOST:PORT", help="Serve /healthz, /readyz and /metrics here.")
def socket(no_dispatcher: bool, ops_bind: str | None) -> None:
    """Receive Slack's clicks and commands over Socket Mode (SLACK_APP_TOKEN), with no public endpoint."""
    from relay.serving import check_bind, start_ops_server
    from relay.socket_mode import SocketModeRelay

    settings = load_settings()
    if not (settings.slack_app_token or "").startswith("xapp-"):
        raise click.ClickException("SLACK_APP_TOKEN must be the app-level token (xapp-…) with "
                                   "connections:write")
    if settings.dry_run:
        raise click.ClickException("SLACK_BOT_TOKEN must be set: Socket Mode answers in Slack")
    if ops_bind:
        check_bind(ops_bind, key="--ops-bind")
    _ready_store(settings, upgrade=False).engine.dispose()
    services = build_services(settings)
    check_gate(settings)
    relay = SocketModeRelay(services, app_token=settings.slack_app_token, web_client=services.poster.client)
    try:
        with _quiet("slack_sdk"):  # its own error line would repeat the one below
            relay.connect()
    except SlackApiError as err:
        raise click.ClickException(f"Slack refused a Socket Mode connection: {classify(err).error}") from None
    except OSError as err:
        raise click.ClickException(f"cannot reach Slack at {settings.slack_api_url} "
                                   f"({getattr(err, 'reason', err)}): check SLACK_API_URL and the network "
                                   "(a proxy?)") from None
    warn_about_scopes(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    ops_server = start_ops_server(services, ops_bind) if ops_bind else None
    try:
        if no_dispatcher:
            stop.wait()
        else:
            services.dispatcher().run(stop)
    finally:
        relay.close()
        if ops_server is not None:
            ops_server.shutdown()


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Silence a library's logger for a call whose failure the command reports itself."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


@cli.command()
@click.option("--url", help="The relay's public HTTPS address, which Slack calls (not with --socket-mode).")
@click.option("--socket-mode", is_flag=True, help="Slack delivers clicks and commands over Socket Mode.")
@click.option("--name", default=APP_NAME, show_default=True, help="The app's name (35 characters at most).")
@click.option("--format", "output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def manifest(url: str | None, socket_mode: bool, name: str, output: str) -> None:
    """Print the Slack app manifest, for "Create an app → From an app manifest"."""
    if url and not url.startswith("https://"):
        raise click.BadParameter("Slack only calls https:// URLs", param_hint="--url")
    if not url and not socket_mode:
        raise click.UsageError("give --url (the relay's public HTTPS address), or use --socket-mode")
    if url and socket_mode:
        raise click.UsageError("give --url or --socket-mode, not both: with Socket Mode Slack calls no URL")
    if not 0 < len(name) <= 35:
        raise click.BadParameter("must be 1 to 35 characters", param_hint="--name")
    document = app_manifest(url=url, socket_mode=socket_mode, name=name)
    if output == "json":
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(yaml.safe_dump(document, sort_keys=False), nl=False)


@cli.command("echo-config")
@click.option("--url", required=True, help="The relay's address as Echo reaches it (http://relay:8080).")
def echo_config(url: str) -> None:
    """Print Echo's configuration (echo-local.yml, and a SpinnakerService) with the relay's credentials."""
    if not url.startswith(("http://", "https://")) or not urlsplit(url).netloc:
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="--url")
    click.echo(echo_config_text(load_settings(), url), nl=False)


@cli.command()
@click.option("--approve", "choice", flag_value="approve", help="Approve the judgment without asking.")
@click.option("--reject", "choice", flag_value="reject", help="Reject the judgment without asking.")
def demo(choice: str | None) -> None:
    """Show the whole loop with no Slack and no Spinnaker: a sample run's messages, its Manual Judgment
    clicked, and the run finishing."""
    from relay.demo.run import DemoFailed, run_demo

    def ask() -> str:
        return choice or click.prompt("Approve or Reject?", type=click.Choice(["approve", "reject"]),
                                      default="approve")

    with tempfile.TemporaryDirectory(prefix="slackops-relay-demo-") as workdir:
        try:
            run_demo(choose=ask, out=click.echo, workdir=Path(workdir))
        except DemoFailed as err:
            raise click.ClickException(f"the demo stopped: {err}") from None


@cli.command()
def doctor() -> None:
    """Check the setup end to end (Slack, secrets, Gate, Fiat, database, channels); exit 1 on failures."""
    from relay.setup.doctor import FAIL, diagnose, render

    try:
        settings = Settings.from_env(validate=False)
    except ConfigError as err:
        raise click.ClickException(err.message) from None
    findings = diagnose(settings)
    click.echo(render(findings), nl=False)
    if any(finding.status == FAIL for finding in findings):
        sys.exit(1)


def main() -> None:
    cli(prog_name="slackops-relay")


if __name__ == "__main__":
    sys.exit(main())
