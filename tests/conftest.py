"""Shared pytest fixtures, and hypothesis profiles (HYPOTHESIS_PROFILE=thorough for a long fuzzing run)."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, make_url
from sqlalchemy.schema import CreateSchema, DropSchema

from relay.app import create_app
from relay.models import RelayRules
from relay.services import Services
from relay.store import Store, migrate
from tests.chatops import relay_services
from tests.fake_gate import FakeGate
from tests.fakes import FakeSlack

# Modest by default so the suite stays fast; no deadline, since a slow example on a loaded CI machine is
# not a bug. Too-large data is expected: the fuzzers make huge strings and deep nesting on purpose.
settings.register_profile("relay", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.data_too_large, HealthCheck.too_slow])
settings.register_profile("thorough", settings.get_profile("relay"), max_examples=2_000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "relay"))

# slack_sdk routes even 127.0.0.1 through these and ignores NO_PROXY, so the local fakes would be unreachable.
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep proxies from the environment away from calls to the local fakes."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL database CI creates for the run (`.ci/run`); PostgreSQL tests skip without one."""
    url = os.environ.get("RELAY_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("RELAY_TEST_POSTGRES_URL is not set, so no PostgreSQL server is configured for the tests")
    return url


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A URL whose connections work in a fresh PostgreSQL schema of their own (also for child processes),
    dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(CreateSchema(name))
    url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={name}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(DropSchema(name, cascade=True))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, once as a SQLite file and once as a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'relay.sqlite3'}"
    return request.getfixturevalue("postgres_schema_url")


@pytest.fixture
def migrated_store(db_url: str) -> Iterator[Store]:
    """A store whose database is migrated to head."""
    store = Store.from_url(db_url)
    migrate.upgrade(store)
    try:
        yield store
    finally:
        store.engine.dispose()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """A running fake Slack that must end the test without internal errors."""
    with FakeSlack() as fake:
        yield fake
    assert fake.errors == []


@pytest.fixture
def gate() -> Iterator[FakeGate]:
    """A running fake Gate that must end the test without internal errors."""
    with FakeGate() as fake:
        yield fake
    assert fake.errors == []


@pytest.fixture
def rules() -> RelayRules:
    """The policy and routes file; a test module overrides this fixture with its own."""
    return RelayRules()


@pytest.fixture
def services(slack: FakeSlack, gate: FakeGate, tmp_path: Path, rules: RelayRules) -> Iterator[Services]:
    """The relay's collaborators, wired to the fake Slack and the fake Gate, on a fresh SQLite database."""
    built = relay_services(slack, tmp_path, gate_url=gate.url, rules=rules)
    yield built
    built.store.engine.dispose()


@pytest.fixture
def client(services: Services) -> FlaskClient:
    """A test client of the app built on `services`."""
    return create_app(services=services).test_client()
