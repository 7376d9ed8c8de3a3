"""Signing in to the console with OpenID Connect against a fake provider on 127.0.0.1: the code flow with
state and nonce, the id_token verified against the provider's JWKS, and refusals for anything forged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask.testing import FlaskClient

from relay.app import create_app
from relay.store import Store
from tests.console_world import console_services, console_settings, seed
from tests.fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeOIDC


@pytest.fixture
def provider() -> Iterator[FakeOIDC]:
    with FakeOIDC() as fake:
        yield fake
    assert fake.errors == []


@pytest.fixture
def client(provider: FakeOIDC, tmp_path: Path) -> Iterator[FlaskClient]:
    url = f"sqlite:///{tmp_path / 'relay.sqlite3'}"
    store = Store.from_url(url)
    store.create_schema()
    seed(store)
    settings = console_settings(url, auth="oidc", console_oidc_issuer=provider.issuer,
                                console_oidc_client_id=CLIENT_ID, console_oidc_client_secret=CLIENT_SECRET)
    yield create_app(services=console_services(settings, store), announce=False).test_client()
    store.engine.dispose()


def through_provider(client: FlaskClient, path: str = "/console/deliveries") -> tuple[str, dict[str, str]]:
    """Follow the console to the provider and back as a browser would; the callback's path and query."""
    to_login = client.get(path)
    assert to_login.status_code == 302 and to_login.location.startswith("/console/login?next=")
    to_provider = client.get(to_login.location)
    assert to_provider.status_code == 302
    authorize = parse_qs(urlsplit(to_provider.location).query)
    assert authorize["response_type"] == ["code"] and authorize["state"][0] and authorize["nonce"][0]
    assert "openid" in authorize["scope"][0].split()
    back = requests.get(to_provider.location, allow_redirects=False, timeout=10)
    assert back.status_code == 302
    callback = urlsplit(back.headers["Location"])
    return f"{callback.path}?{callback.query}", {k: v[0] for k, v in parse_qs(callback.query).items()}


def test_console_oidc_signs_in_through_the_provider_and_returns_where_it_was_going(
        client: FlaskClient, provider: FakeOIDC) -> None:
    callback, _ = through_provider(client)
    landed = client.get(callback)
    assert landed.status_code == 302 and landed.location == "/console/deliveries"
    page = client.get("/console/deliveries")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "olga" in html and 'class="role role-operator"' in html and "Sign out" in html
    assert provider.tokens_issued == 1


def test_console_oidc_sign_out_ends_the_session(client: FlaskClient) -> None:
    callback, _ = through_provider(client)
    client.get(callback)
    html = client.get("/console/waiting").get_data(as_text=True)
    token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert client.post("/console/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/console/waiting").status_code == 302  # to sign in again


def test_console_oidc_api_without_a_session_is_401(client: FlaskClient) -> None:
    assert client.get("/api/v1/judgments").status_code == 401


@pytest.mark.parametrize("forgery", ["forge", "wrong_nonce", "wrong_audience"])
def test_console_oidc_refuses_an_id_token_that_does_not_verify(client: FlaskClient, provider: FakeOIDC,
                                                                forgery: str) -> None:
    setattr(provider, forgery, True)
    callback, _ = through_provider(client)
    answer = client.get(callback)
    assert answer.status_code == 401
    assert client.get("/console/waiting").status_code == 302  # still not signed in


def test_console_oidc_refuses_a_callback_whose_state_is_not_the_sessions(client: FlaskClient) -> None:
    _, query = through_provider(client)
    answer = client.get(f"/console/oidc/callback?code={query['code']}&state=someone-elses-state")
    assert answer.status_code == 401
    assert client.get("/console/waiting").status_code == 302


def test_console_oidc_refuses_someone_without_a_role(client: FlaskClient, provider: FakeOIDC) -> None:
    provider.user = {"sub": "u-9", "email": "nora@example.com", "preferred_username": "nora"}
    callback, _ = through_provider(client)
    answer = client.get(callback)
    assert answer.status_code == 403
    assert "nora is not among the console&#39;s viewers or operators" in answer.get_data(as_text=True)
    assert client.get("/console/waiting").status_code == 302


def test_console_oidc_gives_the_role_of_a_group_claim(client: FlaskClient, provider: FakeOIDC) -> None:
    provider.user = {"sub": "u-7", "email": "ron@example.com", "groups": ["release-viewers"]}
    callback, _ = through_provider(client, "/console/waiting")
    assert client.get(callback).location == "/console/waiting"
    html = client.get("/console/waiting").get_data(as_text=True)
    assert "ron@example.com" in html and 'class="role role-viewer"' in html


def test_console_oidc_sign_in_never_redirects_off_the_console(client: FlaskClient) -> None:
    to_provider = client.get("/console/login?next=//evil.example.com/")
    back = requests.get(to_provider.location, allow_redirects=False, timeout=10)
    callback = urlsplit(back.headers["Location"])
    assert client.get(f"{callback.path}?{callback.query}").location == "/console/"
