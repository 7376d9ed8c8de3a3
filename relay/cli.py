"""The `slackops-relay` command: serve, worker, socket, preview, deliveries, judgments, db, and setup."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from urllib.parse import quote

import click
import yaml
from marshmallow import ValidationError
from slack_sdk.errors import SlackApiError

from relay.clients.slack import classify
from relay.config import Settings
from relay.errors import ConfigError
from relay.logs import configure_logging
from relay.notifications.match import decide
from relay.notifications.render import render
from relay.setup.echo_setup import echo_config_text
from relay.setup.manifest import APP_NAME, app_manifest
from relay.store import FAILED, Store, migrate
from relay.wiring import build_services
from schemas.config import first_error
from schemas.echo import EVENT_SCHEMA
from schemas.strict_json import reject_constant

BLOCK_KIT_BUILDER = "https://app.slack.com/block-kit-builder/#"


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


@click.group()
def cli() -> None:
    """SlackOps Relay: Spinnaker pipelines in Slack."""


@cli.command()
@click.option("--bind", help="HOST:PORT to listen on (default RELAY_BIND or 0.0.0.0:8080).")
@click.option("--upgrade", is_flag=True, help="Apply database migrations before starting.")
@click.option("--no-dispatcher", is_flag=True, help="Serve HTTP only; run `slackops-relay worker` elsewhere.")
def serve(bind: str | None, upgrade: bool, no_dispatcher: bool) -> None:
    """Run the relay under Gunicorn, with the delivery dispatcher beside it."""
    from relay.serving import RelayServer, gunicorn_options

    settings = load_settings()
    _ready_store(settings, upgrade=upgrade).engine.dispose()
    if settings.dry_run:
        click.echo("SLACK_BOT_TOKEN is not set: dry-run mode, messages are rendered, stored and logged, "
                   "not sent.")
    options = gunicorn_options(settings, bind=bind)
    if options["workers"] > 1 and not settings.metrics_dir:
        click.echo("PROMETHEUS_MULTIPROC_DIR is not set: /metrics counts only the worker answering a scrape.")
    RelayServer(options, with_dispatcher=not no_dispatcher).run()


@cli.command()
@click.option("--upgrade", is_flag=True, help="Apply database migrations before starting.")
@click.option("--ops-bind", metavar="HOST:PORT", help="Serve /healthz, /readyz and /metrics here.")
@click.option("--parent-pid", type=int, hidden=True, help="Stop when this process is gone.")
def worker(upgrade: bool, ops_bind: str | None, parent_pid: int | None) -> None:
    """Run the delivery dispatcher alone (any number of workers may share one database). SIGTERM lets the
    deliveries and jobs in flight finish and hands the rest back to the queue."""
    from relay.serving import start_ops_server

    settings = load_settings()
    _ready_store(settings, upgrade=upgrade).engine.dispose()
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
@click.argument("event_file", type=click.File("rb"))
def preview(event_file) -> None:
    """Print the Slack messages an Echo event would produce, with a Block Kit Builder link for each."""
    settings = load_settings()
    try:
        event = EVENT_SCHEMA.load(json.loads(event_file.read(), parse_constant=reject_constant))
    except ValidationError as err:
        problem = first_error(err.messages)
        raise click.ClickException(f"{event_file.name}: not an Echo event: {problem}") from None
    except (ValueError, RecursionError) as err:
        raise click.ClickException(f"{event_file.name}: not JSON: {' '.join(str(err).split())}") from None
    decision = decide(event, types=settings.notification_types, routes=settings.rules.routes)
    if not decision.notifications:
        click.echo(f"no message: {decision.reason}")
        return
    for notification in decision.notifications:
        body = render(notification, settings.spinnaker_ui_url)
        click.echo(f"# {notification.template} to {notification.address} (when {notification.when})")
        click.echo(json.dumps(body, indent=2, ensure_ascii=False))
        click.echo(BLOCK_KIT_BUILDER + quote(json.dumps({"blocks": body["blocks"]}, separators=(",", ":"))))


@cli.command()
@click.option("--failed", is_flag=True, help="Only deliveries that failed for good.")
@click.option("--retry", "retry_id", type=int, help="Queue this failed delivery again.")
@click.option("--limit", default=50, show_default=True)
def deliveries(failed: bool, retry_id: int | None, limit: int) -> None:
    """List recent deliveries with their status and last error, or retry a failed one."""
    store = _ready_store(load_settings(), upgrade=False)
    if retry_id is not None:
        if not store.retry_delivery(retry_id, now=time.time()):
            raise click.ClickException(f"delivery {retry_id} is not a failed delivery")
        click.echo(f"delivery {retry_id} queued again")
        return
    for row in store.list_deliveries(status=FAILED if failed else None, limit=limit):
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row["created_at"]))
        click.echo(f"{row['id']:>6}  {created}  {row['status']:<10} {row['template']:<20} "
                   f"{row['channel']:<24} attempts={row['attempts']}  {row['last_error'] or ''}")


@cli.command()
@click.option("--limit", default=50, show_default=True)
def judgments(limit: int) -> None:
    """List Manual Judgments made from Slack: who, what, why, and what Spinnaker answered."""
    store = _ready_store(load_settings(), upgrade=False)
    for row in store.list_judgments(limit=limit):
        received = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row.received_at))
        who = row.user_email or row.user_id
        choice = f" [{row.judgment_input}]" if row.judgment_input else ""
        reason = f" reason={json.dumps(row.reason)}" if row.reason else ""
        gate = f" gate={row.gate_status}" if row.gate_status else ""
        stage = f" stage={row.stage_status}" if row.stage_status else ""
        click.echo(f"{row.id:>6}  {received}  {row.status:<11} {row.decision:<8}{choice} by {who}  "
                   f"{row.application or '?'} {row.execution_id}/{row.stage_id}{gate}{stage}{reason}"
                   f"  {row.detail or ''}".rstrip())


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
    from relay.serving import start_ops_server
    from relay.socket_mode import SocketModeRelay

    settings = load_settings()
    if not (settings.slack_app_token or "").startswith("xapp-"):
        raise click.ClickException("SLACK_APP_TOKEN must be the app-level token (xapp-…) with "
                                   "connections:write")
    if settings.dry_run:
        raise click.ClickException("SLACK_BOT_TOKEN must be set: Socket Mode answers in Slack")
    _ready_store(settings, upgrade=False).engine.dispose()
    services = build_services(settings)
    relay = SocketModeRelay(services, app_token=settings.slack_app_token, web_client=services.poster.client)
    try:
        relay.connect()
    except SlackApiError as err:
        raise click.ClickException(f"Slack refused a Socket Mode connection: {classify(err).error}") from None
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
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="--url")
    click.echo(echo_config_text(load_settings(), url), nl=False)


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
