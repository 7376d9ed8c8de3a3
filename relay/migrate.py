"""Schema versions: apply Alembic migrations and refuse to run on a schema that is not at head."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from relay.errors import ConfigError
from relay.store import Store


def alembic_config(store: Store) -> Config:
    """An Alembic config pointing at the packaged migrations and the store's database."""
    config = Config()
    config.set_main_option("script_location", "relay:migrations")
    config.set_main_option("sqlalchemy.url", store.engine.url.render_as_string(hide_password=False))
    return config


def upgrade(store: Store, revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    config = alembic_config(store)
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def head_revision(store: Store) -> str:
    return ScriptDirectory.from_config(alembic_config(store)).get_current_head()


def current_revision(store: Store) -> str | None:
    with store.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def require_head(store: Store) -> None:
    """Stop startup with one clear line when the database is unmigrated, behind, or ahead of this code."""
    current, head = current_revision(store), head_revision(store)
    if current == head:
        return
    if current is None:
        raise ConfigError("the database has no relay schema yet: run `slackops-relay db upgrade` "
                          "(or start with --upgrade)")
    scripts = ScriptDirectory.from_config(alembic_config(store))
    if scripts.get_revision(current) is None:
        raise ConfigError(f"the database schema ({current}) is newer than this relay ({head}): upgrade the relay")
    raise ConfigError(f"the database schema is at {current}, this relay needs {head}: run `slackops-relay db upgrade`")
