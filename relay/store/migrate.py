"""Schema versions: apply Alembic migrations and refuse to run on a schema that is not at head."""

from __future__ import annotations

import logging
from collections.abc import Callable

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from relay.errors import ConfigError
from relay.store import Store

log = logging.getLogger(__name__)


def alembic_config(store: Store) -> Config:
    """An Alembic config pointing at the packaged migrations and the store's database."""
    config = Config()
    config.set_main_option("script_location", "relay.store:migrations")
    # ConfigParser interpolates "%": escape it, or URL-encoded passwords and query options break.
    url = store.engine.url.render_as_string(hide_password=False).replace("%", "%%")
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(store: Store, revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    _migrate(store, command.upgrade, revision)


def downgrade(store: Store, revision: str) -> None:
    """Revert migrations down to `revision` ("base" removes every table), before rolling back a release."""
    _migrate(store, command.downgrade, revision)


def _migrate(store: Store, step: Callable[[Config, str], None], revision: str) -> None:
    """Run an Alembic command in one transaction that holds the migration lock, and log what changed."""
    before = current_revision(store)
    config = alembic_config(store)
    with store.engine.begin() as connection:
        store.lock_for_migrations(connection)
        config.attributes["connection"] = connection
        step(config, revision)
    after = current_revision(store)
    if after != before:
        log.info("database schema migrated from %s to %s", before or "empty", after or "empty")


def head_revision(store: Store) -> str:
    return ScriptDirectory.from_config(alembic_config(store)).get_current_head()


def current_revision(store: Store) -> str | None:
    with store.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _known(store: Store, revision: str) -> bool:
    """Whether this relay's migrations include `revision` (a newer release may have written another)."""
    try:
        return ScriptDirectory.from_config(alembic_config(store)).get_revision(revision) is not None
    except CommandError:
        return False


def require_head(store: Store) -> None:
    """Stop startup with one clear line when the database is unmigrated, behind, or ahead of this code."""
    current, head = current_revision(store), head_revision(store)
    if current == head:
        return
    if current is None:
        raise ConfigError("the database has no relay schema yet: run `slackops-relay db upgrade` "
                          "(or start with --upgrade)")
    if not _known(store, current):
        raise ConfigError(f"the database schema ({current}) is newer than this relay ({head}): "
                          "upgrade the relay")
    raise ConfigError(f"the database schema is at {current}, this relay needs {head}: "
                      "run `slackops-relay db upgrade`")
