"""Tests for POST /slack/interactions: Slack's signature on the raw body, Slack's real payloads, bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.events import PAYLOADS, payload
from tests.judgment_world import APPROVER, World, judgment_world
from tests.slack_requests import SIGNING_SECRET, block_actions, form, signed, view_submission


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with judgment_world(tmp_path) as built:
        yield built


def approve_click(world: World) -> bytes:
    """A real judgment click, which would record a judgment if the relay accepted it."""
    message = world.start_judgment()
    world.slack.clear_calls()
    body = block_actions(message, "judgment.choose.0", user=APPROVER, trigger_id=world.slack.issue_trigger(),
                         response_url=world.slack.new_response_url())
    return form(body)


def nothing_done(world: World) -> bool:
    return world.judgments() == [] and world.slack.calls == [] and world.gate.calls_to("judge") == []


def test_interactions_accept_a_signed_click_and_record_it(world: World) -> None:
    raw = approve_click(world)

    response = world.client.post("/slack/interactions", data=raw, headers=world.signed(raw))

    assert (response.status_code, response.data) == (200, b"")
    recorded = [(j.user_id, j.decision, j.status) for j in world.judgments()]
    assert recorded == [(APPROVER, "continue", "received")]


def test_interactions_answer_on_gates_callback_path_too(world: World) -> None:
    raw = approve_click(world)

    response = world.client.post("/notifications/callbacks/slack", data=raw, headers=world.signed(raw))

    assert response.status_code == 200
    assert len(world.judgments()) == 1


@pytest.mark.parametrize("skew", [-300, 300])
def test_interactions_accept_timestamps_at_the_edge_of_the_window(world: World, skew: int) -> None:
    raw = approve_click(world)

    response = world.client.post("/slack/interactions", data=raw,
                                 headers=world.signed(raw, timestamp=int(world.clock()) + skew))

    assert response.status_code == 200


def _without(headers: dict[str, str], *names: str) -> dict[str, str]:
    return {key: value for key, value in headers.items() if key not in names}


MIS_SIGNED = {
    "stale": lambda world, raw: world.signed(raw, timestamp=int(world.clock()) - 301),
    "future": lambda world, raw: world.signed(raw, timestamp=int(world.clock()) + 301),
    "wrong secret": lambda world, raw: world.signed(raw, secret="not-the-signing-secret"),
    "no signature": lambda world, raw: _without(world.signed(raw), "X-Slack-Signature"),
    "no timestamp": lambda world, raw: _without(world.signed(raw), "X-Slack-Request-Timestamp"),
    "no headers": lambda world, raw: {"Content-Type": "application/x-www-form-urlencoded"},
    "non-numeric timestamp": lambda world, raw: {**world.signed(raw), "X-Slack-Request-Timestamp": "abc"},
    "fractional timestamp": lambda world, raw: {
        **world.signed(raw), "X-Slack-Request-Timestamp": f"{int(world.clock())}.5"},
    "other body": lambda world, raw: world.signed(raw + b"&extra=1"),
    "upper-case hex": lambda world, raw: {
        **world.signed(raw), "X-Slack-Signature": world.signed(raw)["X-Slack-Signature"].upper()},
}


@pytest.mark.parametrize("case", sorted(MIS_SIGNED))
def test_interactions_refuse_mis_signed_requests_alike_and_do_nothing(world: World, case: str) -> None:
    raw = approve_click(world)

    response = world.client.post("/slack/interactions", data=raw, headers=MIS_SIGNED[case](world, raw))

    assert response.status_code == 401
    assert response.json == {"error": {"code": "unauthorized", "message": "invalid request", "details": None}}
    assert nothing_done(world)


def test_interactions_check_the_raw_body_with_asterisks_as_slack_sent_them(world: World) -> None:
    """Slack leaves `*` unencoded in form bodies; Echo's verifier rewrote it to %2A before hashing. The
    relay hashes the bytes received, so only a signature over the literal `*` is valid."""
    message = world.start_judgment()
    world.slack.clear_calls()
    body = block_actions(message, "judgment.choose.0", user=APPROVER, trigger_id=world.slack.issue_trigger(),
                         response_url=world.slack.new_response_url())
    raw = form(body)
    assert b"%2A" in raw  # the message text carries *bold* mrkdwn
    as_slack_sends = raw.replace(b"%2A", b"*")

    refused = world.client.post("/slack/interactions", data=as_slack_sends, headers=world.signed(raw))
    accepted = world.client.post("/slack/interactions", data=as_slack_sends,
                                 headers=world.signed(as_slack_sends))

    assert (refused.status_code, accepted.status_code) == (401, 200)
    assert len(world.judgments()) == 1


def test_interactions_refuse_everything_without_a_signing_secret(tmp_path: Path) -> None:
    with judgment_world(tmp_path, slack_signing_secret=None) as world:
        raw = approve_click(world)
        response = world.client.post("/slack/interactions", data=raw, headers=world.signed(raw))

        assert response.status_code == 401
        assert nothing_done(world)


SLACK_PAYLOADS = sorted(path.name for path in (PAYLOADS / "slack").glob("*.json"))


@pytest.mark.parametrize("name", SLACK_PAYLOADS)
def test_interactions_acknowledge_slacks_real_payloads_for_other_features(world: World, name: str) -> None:
    body = payload(f"slack/{name}")
    body = body.get("payload", body)  # the Socket Mode envelope wraps the interaction
    raw = form(body)

    response = world.client.post("/slack/interactions", data=raw, headers=world.signed(raw))

    assert (response.status_code, response.data) == (200, b"")
    assert nothing_done(world)


@pytest.mark.parametrize("raw, status", [
    (b"text=hello", 400),
    (urlencode({"payload": "{not json"}).encode(), 400),
    (urlencode({"payload": "[1, 2]"}).encode(), 422),
])
def test_interactions_answer_malformed_bodies_with_4xx(world: World, raw: bytes, status: int) -> None:
    response = world.client.post("/slack/interactions", data=raw, headers=world.signed(raw))

    assert response.status_code == status
    assert set(response.json["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize("change", ["bad value", "no user", "foreign stage id", "bad choice"])
def test_interactions_refuse_judgment_clicks_that_are_not_ours_with_422(world: World, change: str) -> None:
    message = world.start_judgment()
    body = block_actions(message, "judgment.choose.0", user=APPROVER, trigger_id=world.slack.issue_trigger(),
                         response_url=world.slack.new_response_url())
    value = json.loads(body["actions"][0]["value"])
    if change == "bad value":
        body["actions"][0]["value"] = "approve-everything"
    elif change == "no user":
        del body["user"]
    elif change == "foreign stage id":
        body["actions"][0]["value"] = json.dumps({**value, "stage": "../../admin"})
    else:
        body["actions"][0]["value"] = json.dumps({**value, "choice": -1})
    raw = form(body)

    response = world.client.post("/slack/interactions", data=raw, headers=world.signed(raw))

    assert response.status_code == 422
    assert world.judgments() == []


def test_interactions_sign_with_slacks_documented_secret() -> None:
    """Requests here are signed like Slack signs them: the known-answer vector from Slack's documentation."""
    body = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
            b"channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
            b"response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F"
            b"96rGlfmibIGlgcZRskXaIFfN&"
            b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")

    headers = signed(body, secret=SIGNING_SECRET, timestamp=1531420618)

    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert headers["X-Slack-Signature"] == expected


@pytest.mark.parametrize("metadata", ["", "not json", '{"ref": {"execution": "01RUN"}}'])
def test_interactions_refuse_reason_modals_with_foreign_metadata(world: World, metadata: str) -> None:
    view = {"id": "V1", "callback_id": "judgment.reason", "private_metadata": metadata,
            "blocks": [{"type": "input", "block_id": "reason", "element": {"action_id": "reason_text"}}]}
    raw = form(view_submission(view, user=APPROVER, values={"reason_text": "because"}))

    response = world.client.post("/slack/interactions", data=raw, headers=world.signed(raw))

    assert response.status_code == 422
    assert world.judgments() == []
