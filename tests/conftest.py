"""Shared pytest fixtures."""

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine

from relay.store import metadata

# slack_sdk routes even 127.0.0.1 through these and ignores NO_PROXY, so the local fakes would be unreachable.
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep proxies from the environment away from calls to the local fakes."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def postgres_url() -> Iterator[str | None]:
    """RELAY_TEST_POSTGRES_URL with the relay's tables dropped before and after the test; None when unset."""
    url = os.environ.get("RELAY_TEST_POSTGRES_URL")
    if not url:
        yield None
        return
    _drop_relay_tables(url)
    yield url
    _drop_relay_tables(url)


def _drop_relay_tables(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        metadata.drop_all(conn)
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    engine.dispose()
