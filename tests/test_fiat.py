"""Tests for the Fiat client: Orca's and Gate's rule for who may judge, asked of a fake Fiat over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

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


class HandClock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_fiat_answer_is_kept_per_user_until_it_is_a_minute_old(fiat: FakeFiat) -> None:
    fiat.add_user("alice@example.com", roles=["deployers"], applications={"compute": ["EXECUTE"]})
    clock = HandClock()
    client = FiatClient(fiat.url, cache_seconds=60, clock=clock)

    answers = [client.may_judge(user, app, ["deployers"], cached=True)[0]
               for user, app in (("alice@example.com", "compute"), ("Alice@Example.com", "billing"),
                                 ("bob@example.com", "compute"), ("bob@example.com", "compute"))]
    clock.now += 59
    client.permission("alice@example.com", cached=True)
    asked_within_a_minute = list(fiat.requests)
    clock.now += 1
    client.permission("alice@example.com", cached=True)

    assert answers == [True, False, False, False]
    assert asked_within_a_minute == ["/authorize/alice@example.com", "/authorize/bob@example.com"]
    assert fiat.requests[2:] == ["/authorize/alice@example.com"]


def test_fiat_failure_is_not_kept_and_is_asked_again(fiat: FakeFiat) -> None:
    fiat.add_user("alice@example.com", admin=True)
    client = FiatClient(fiat.url)
    fiat.outage(503)

    with pytest.raises(FiatUnavailable):
        client.permission("alice@example.com", cached=True)
    with pytest.raises(FiatUnavailable):
        client.permission("alice@example.com", cached=True)
    fiat.outage(None)

    assert client.may_judge("alice@example.com", "compute", [], cached=True) == (True, "allowed by Fiat")
    assert client.may_judge("alice@example.com", "compute", [], cached=True) == (True, "allowed by Fiat")
    assert fiat.requests == ["/authorize/alice@example.com"] * 3


def test_fiat_cache_holds_at_most_its_size_in_users(fiat: FakeFiat) -> None:
    client = FiatClient(fiat.url, cache_users=2)

    for user in ("a@example.com", "b@example.com", "c@example.com", "a@example.com", "c@example.com"):
        client.permission(user, cached=True)

    assert [path.rsplit("/", 1)[1] for path in fiat.requests] == [
        "a@example.com", "b@example.com", "c@example.com", "a@example.com"]


def test_fiat_cache_answers_threads_asking_at_once(fiat: FakeFiat) -> None:
    users = [f"user{number}@example.com" for number in range(8)]
    for number, user in enumerate(users):
        fiat.add_user(user, roles=[f"role{number}"])
    client = FiatClient(fiat.url, cache_users=4)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda user: client.permission(user, cached=True), users * 25))

    assert [sorted(answer.roles) if answer else None for answer in answers] == [
        [f"role{number}"] for number in range(8)] * 25


def test_fiat_is_asked_afresh_unless_a_kept_answer_will_do_and_keeps_it(fiat: FakeFiat) -> None:
    fiat.add_user("alice@example.com", roles=["viewers"], applications={"compute": ["EXECUTE"]})
    client = FiatClient(fiat.url)
    listed = client.may_judge("alice@example.com", "compute", ["deployers"], cached=True)
    fiat.add_user("alice@example.com", roles=["deployers"], applications={"compute": ["EXECUTE"]})

    clicked = client.may_judge("alice@example.com", "compute", ["deployers"])
    listed_again = client.may_judge("alice@example.com", "compute", ["deployers"], cached=True)

    assert (listed[0], clicked[0], listed_again[0]) == (False, True, True)
    assert fiat.requests == ["/authorize/alice@example.com"] * 2
