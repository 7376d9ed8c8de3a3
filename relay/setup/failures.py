"""What went wrong in a command, as one line that names the problem and the fix."""

from __future__ import annotations

from alembic.util import CommandError
from sqlalchemy.exc import DBAPIError, NoSuchModuleError

from relay.errors import ConfigError

MISSING_SCHEMA_HINTS = ("no such table", "does not exist")


def explain(err: BaseException) -> str:
    """One line for the failures a user can cause; anything else names the error and how to see more."""
    if isinstance(err, ConfigError):
        return err.message
    if isinstance(err, DBAPIError):
        return _database(err)
    if isinstance(err, NoSuchModuleError):
        return (f"RELAY_DATABASE_URL: {_one_line(err)}: use sqlite:///relay.sqlite3 or "
                "postgresql://user@host/db")
    if isinstance(err, CommandError):
        return (f"{_one_line(err)}: give a revision this relay knows (`slackops-relay db current` shows "
                "them; `base` removes every table)")
    if isinstance(err, OSError):
        where = f" ({err.filename})" if err.filename else ""
        return f"{err.strerror or _one_line(err)}{where}: check the path and its permissions"
    return f"{type(err).__name__}: {_one_line(err)} (run with --debug for the traceback)"


def _database(err: DBAPIError) -> str:
    """The driver's own reason (it never includes the password) and what to check."""
    reason = _one_line(err.orig) if err.orig is not None else _one_line(err)
    if any(hint in reason for hint in MISSING_SCHEMA_HINTS) and "database" not in reason:
        return (f"the database has no relay schema ({reason}): run `slackops-relay db upgrade` "
                "(or start with --upgrade)")
    if "unable to open database file" in reason or "readonly database" in reason:
        return (f"cannot write the SQLite database ({reason}): its directory must exist and be writable; "
                "set RELAY_DATABASE_URL=sqlite:////writable/path/relay.sqlite3")
    return (f"cannot use the database ({reason}): check that it is running and that RELAY_DATABASE_URL "
            "names the right host, port, database and user")


def _one_line(value: object) -> str:
    return " ".join(str(value).split())
