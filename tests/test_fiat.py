"""Tests for the Fiat client: Orca's and Gate's rule for who may judge, asked of a fake Fiat over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from relay.clients.fiat import FiatClient, FiatUnavailable
from tests.fake_gate import FakeFiat


@pytest.fixture
def fiat() -> Iterator[FakeFiat]:
    with FakeFiat() as fake:
        yield fake


@pytest.mark.parametrize("grants, required, expected", [
    ({"roles": ["deployers"], "applications": {"compute": ["READ", "EXECUTE"]}}, ["deployers", "sre"],
     (True, "allowed by Fiat")),
    ({"roles": ["deployers"], "applications": {"compute": ["READ", "EXECUTE"]}}, [],
     (True, "allowed by Fiat")),
    ({"roles": ["viewers"], "applications": {"compute": ["EXECUTE"]}}, ["deployers"],
     (False, "alice@example.com holds none of the roles this stage requires (deployers)")),
    ({"roles": ["deployers"], "applications": {"compute": ["READ", "WRITE"]}}, ["deployers"],
     (False, "alice@example.com has no EXECUTE permission on compute in Spinnaker")),
    ({"roles": ["deployers"], "applications": {"billing": ["EXECUTE"]}}, [],
     (False, "alice@example.com has no EXECUTE permission on compute in Spinnaker")),
    ({"roles": ["deployers"], "unknown_applications": True}, ["deployers"], (True, "allowed by Fiat")),
    ({"admin": True}, ["deployers"], (True, "allowed by Fiat")),
])
def test_fiat_may_judge_needs_execute_and_one_required_role(fiat: FakeFiat, grants: dict, required: list[str],
                                                            expected: tuple[bool, str]) -> None:
    fiat.add_user("alice@example.com", **grants)

    assert FiatClient(fiat.url).may_judge("alice@example.com", "compute", required) == expected


def test_fiat_names_are_case_insensitive(fiat: FakeFiat) -> None:
    fiat.add_user("alice@example.com", roles=["deployers"], applications={"compute": ["EXECUTE"]})

    assert FiatClient(fiat.url).may_judge("Alice@Example.com", "Compute", ["deployers"])[0] is True
    assert fiat.requests == ["/authorize/alice@example.com"]


def test_fiat_refuses_users_it_does_not_know(fiat: FakeFiat) -> None:
    assert FiatClient(fiat.url).may_judge("bob@example.com", "compute", []) == (
        False, "Spinnaker's Fiat does not know bob@example.com")


def test_fiat_outage_raises_rather_than_refusing(fiat: FakeFiat) -> None:
    fiat.add_user("alice@example.com", admin=True)
    fiat.outage(503)

    with pytest.raises(FiatUnavailable):
        FiatClient(fiat.url).may_judge("alice@example.com", "compute", [])


def test_fiat_unreachable_raises_rather_than_refusing() -> None:
    with FakeFiat() as gone:
        url = gone.url

    with pytest.raises(FiatUnavailable):
        FiatClient(url, timeout=1.0).may_judge("alice@example.com", "compute", [])
