"""The App Home's "Your pending approvals" tab and the Events API behind it, end to end against the fake Slack
and Gate (real HTTP servers) with a hand clock: what each person's tab lists, clicks made there, and the
events that open and refresh it, over HTTP and over Socket Mode, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from relay.judgments.home_view import MAX_LISTED, HomeFacts, Waiting, home_view
from relay.models import ApproverPolicy, RelayRules
from relay.socket_mode import SocketModeRelay
from tests import events
from tests.fake_gate import FakeFiat
from tests.fake_socket_mode import FakeSocketMode
from tests.judgment_world import (
    APPROVER,
    APPROVER_EMAIL,
    OTHER,
    STAGE_ID,
    STARTER,
    STRANGER,
    World,
    buttons,
    judgment_world,
)
from tests.slack_requests import app_home_opened, home_block_actions

RUN_ID = events.execution()["id"]
PAYMENTS_RUN = "01HOMEPAYMENTS0000000000000"
EMPTY = "Nothing waits for you."
GROUP = "S0RELEASE"
EVENT_IDS = (f"Ev{number:08d}" for number in itertools.count())


def rules(**approvers: ApproverPolicy) -> RelayRules:
    return RelayRules(approvers=approvers or {
        "compute": ApproverPolicy(users=frozenset({APPROVER})),
        "payments": ApproverPolicy(users=frozenset({OTHER}))})


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Iterator[World]:
    """The relay on SQLite, and on PostgreSQL, with APPROVER allowed on compute and OTHER on payments."""
    with judgment_world(tmp_path, database_url=db_url, rules=rules()) as built:
        yield built


def start(world: World, application: str = "compute", run_id: str = RUN_ID) -> dict[str, Any]:
    """Orca starts the Manual Judgment of a run of `application`; the relay posts its message."""
    run = events.execution(id=run_id, application=application)
    stage = next(s for s in run["stages"] if s["id"] == STAGE_ID)
    stage["startTime"] = int(world.clock() * 1000)
    world.gate.add_execution(run)
    assert world.echo(events.stage_event("starting", run, stage_id=STAGE_ID)).status_code == 202
    world.drain()
    return run


def post_event(world: World, body: dict[str, Any], *, headers: dict[str, str] | None = None,
               raw: bytes | None = None) -> Any:
    """Slack posts an Events API request, signed at the world's time unless `headers` say otherwise."""
    raw = json.dumps(body).encode() if raw is None else raw
    sent = headers if headers is not None else {**world.signed(raw), "Content-Type": "application/json"}
    return world.client.post("/slack/events", data=raw, headers=sent)


def open_home(world: World, user: str, *, event_id: str | None = None) -> dict[str, Any]:
    """`user` opens the app's Home tab; returns the tab as Slack shows it afterwards."""
    response = post_event(world, app_home_opened(user, event_id=event_id or next(EVENT_IDS)))
    assert (response.status_code, response.data) == (200, b"")
    world.drain()
    return shown(world, user)


def shown(world: World, user: str) -> dict[str, Any]:
    view = world.slack.home(user)
    assert view is not None, f"no Home tab was published for {user}"
    return view


def listed(view: dict[str, Any]) -> list[str]:
    """The runs whose judgment buttons the tab shows, in order."""
    runs = []
    for block in view["blocks"]:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            run = json.loads(element["value"])["execution"] if element.get("value") else None
            if run and run not in runs:
                runs.append(run)
    return runs


def text(view: dict[str, Any]) -> str:
    parts = [block["text"]["text"] for block in view["blocks"] if isinstance(block.get("text"), dict)]
    parts += [e["text"] for block in view["blocks"] if block["type"] == "context" for e in block["elements"]]
    return "\n".join(parts)


# --- what a tab lists -----------------------------------------------------------------------------------


def test_home_tab_lists_exactly_the_judgments_each_person_may_decide(world: World) -> None:
    start(world, "compute")
    start(world, "payments", PAYMENTS_RUN)

    mine, others, strangers = (open_home(world, user) for user in (APPROVER, OTHER, STRANGER))

    assert listed(mine) == [RUN_ID]
    assert listed(others) == [PAYMENTS_RUN]
    assert listed(strangers) == []
    assert EMPTY in text(strangers)
    assert mine["type"] == "home" and mine["blocks"][0]["text"]["text"] == "Your pending approvals"
    assert world.slack.errors == []


def test_home_tab_carries_the_channel_messages_buttons(world: World) -> None:
    start(world)

    tab = open_home(world, APPROVER)

    [actions] = [block for block in tab["blocks"] if block["type"] == "actions"]
    message = world.judgment_message()
    assert actions["elements"] == [e for block in message.blocks if block["type"] == "actions"
                                   for e in block["elements"] if e["action_id"].startswith("judgment.")]


def test_home_tab_leaves_out_the_runs_starter_under_four_eyes(tmp_path: Path) -> None:
    four_eyes = rules(compute=ApproverPolicy(users=frozenset({APPROVER, STARTER}), four_eyes=True))
    with judgment_world(tmp_path, rules=four_eyes) as world:
        start(world)

        assert listed(open_home(world, STARTER)) == []
        assert listed(open_home(world, APPROVER)) == [RUN_ID]


def test_home_tab_does_not_offer_what_it_cannot_check_and_says_why(tmp_path: Path) -> None:
    by_group = rules(compute=ApproverPolicy(groups=frozenset({GROUP})))
    with judgment_world(tmp_path, rules=by_group) as world:
        world.slack.add_usergroup(GROUP, [APPROVER])
        start(world)
        world.slack.fail_next("usergroups.users.list", error="fatal_error")

        unknown = open_home(world, APPROVER)
        known = open_home(world, APPROVER)  # Slack answers this time

        assert listed(unknown) == []
        assert "1 more waiting judgment may be yours to decide, but the relay could not tell" in text(unknown)
        assert f"user group {GROUP}" in text(unknown)
        assert listed(known) == [RUN_ID]


def test_home_tab_asks_fiat_once_per_person_for_all_their_judgments(tmp_path: Path, db_url: str) -> None:
    runs = [f"01HOMEFIAT{number:017d}" for number in range(3)]
    with FakeFiat() as fiat:
        fiat.add_user(APPROVER_EMAIL, applications={"compute": ["EXECUTE"]})
        with judgment_world(tmp_path, database_url=db_url, fiat_url=fiat.url, rules=rules()) as world:
            for run_id in runs:
                start(world, run_id=run_id)

            tab = open_home(world, APPROVER)
            again = open_home(world, APPROVER)

        assert sorted(listed(tab)) == sorted(listed(again)) == sorted(runs)
        assert fiat.requests == [f"/authorize/{APPROVER_EMAIL}"]


def test_home_tab_asks_fiat_again_after_it_could_not_answer(tmp_path: Path, db_url: str) -> None:
    with FakeFiat() as fiat:
        fiat.add_user(APPROVER_EMAIL, applications={"compute": ["EXECUTE"]})
        fiat.outage(503)
        with judgment_world(tmp_path, database_url=db_url, fiat_url=fiat.url, rules=rules()) as world:
            start(world)
            unknown = open_home(world, APPROVER)
            asked_while_down = len(fiat.requests)
            fiat.outage(None)

            known = open_home(world, APPROVER)

        assert listed(unknown) == [] and "could not tell" in text(unknown)
        assert listed(known) == [RUN_ID]
        assert asked_while_down >= 1 and fiat.requests[asked_while_down:] == [f"/authorize/{APPROVER_EMAIL}"]


def test_home_tab_leaves_out_judgments_spinnaker_cannot_show(world: World) -> None:
    start(world)
    world.gate.fail_next("get_execution", status=503, count=3)

    tab = open_home(world, APPROVER)

    assert listed(tab) == []
    assert "1 waiting judgment left out: Spinnaker could not be read just now" in text(tab)


def test_home_tab_escapes_what_events_say(world: World) -> None:
    run = events.execution(name="deploy <!channel> <@U0BOSS>")
    stage = next(s for s in run["stages"] if s["id"] == STAGE_ID)
    stage.update(name="ship <!here> & go", startTime=int(world.clock() * 1000))
    world.gate.add_execution(run)
    world.echo(events.stage_event("starting", run, stage_id=STAGE_ID))
    world.drain()

    said = json.dumps(open_home(world, APPROVER)["blocks"])

    assert "<!channel>" not in said and "<!here>" not in said and "<@U0BOSS>" not in said
    assert "&lt;!here&gt; &amp; go" in said


# --- clicks in the tab, and the refreshes that follow ---------------------------------------------------


def test_home_tab_click_resolves_the_judgment_and_updates_the_message_and_every_tab(world: World) -> None:
    start(world)
    tab = open_home(world, APPROVER)

    click = home_block_actions(tab, "judgment.choose.0", user=APPROVER,
                               trigger_id=world.slack.issue_trigger(), execution_id=RUN_ID)
    response = world.interact(click)
    world.drain()

    assert (response.status_code, response.data) == (200, b"")
    [patch] = world.gate.calls_to("judge")
    assert patch.body["judgmentStatus"] == "continue" and patch.body["judgmentInput"] == "Deploy anyway"
    assert buttons(world.judgment_message()) == []
    assert listed(shown(world, APPROVER)) == [] and EMPTY in text(shown(world, APPROVER))
    assert [j.status for j in world.judgments()] == ["decided"]


def test_home_tab_first_click_wins_across_the_tab_and_the_channel(tmp_path: Path, db_url: str) -> None:
    both = rules(compute=ApproverPolicy(users=frozenset({APPROVER, OTHER})))
    with judgment_world(tmp_path, database_url=db_url, rules=both) as world:
        start(world)
        tab = open_home(world, APPROVER)
        message = world.judgment_message()

        world.interact(home_block_actions(tab, "judgment.choose.1", user=APPROVER,
                                          trigger_id=world.slack.issue_trigger(), execution_id=RUN_ID))
        world.click(message, "judgment.choose.0", user=OTHER)
        world.drain()

        assert len(world.gate.calls_to("judge")) == 1
        assert [(j.user_id, j.status) for j in world.judgments()] == [(APPROVER, "decided"), (OTHER, "stale")]
        assert "already" in " ".join(world.told(OTHER))


def test_home_tab_refusal_reaches_the_clicker_by_direct_message(world: World) -> None:
    start(world)
    tab = open_home(world, APPROVER)
    world.gate.judge(RUN_ID, STAGE_ID, "continue", user="deck-user@example.com")  # decided in Deck meanwhile

    world.interact(home_block_actions(tab, "judgment.choose.0", user=APPROVER,
                                      trigger_id=world.slack.issue_trigger(), execution_id=RUN_ID))
    world.drain()

    assert world.gate.calls_to("judge") == []
    [note] = world.slack.messages(APPROVER)
    assert note.text.startswith("Nothing to do: it was already judged to continue")


def test_home_tab_reject_opens_the_reason_modal_and_rejects(world: World) -> None:
    start(world)
    tab = open_home(world, APPROVER)

    world.interact(home_block_actions(tab, "judgment.reject", user=APPROVER,
                                      trigger_id=world.slack.issue_trigger(), execution_id=RUN_ID))
    world.submit_reason(user=APPROVER, reason="not today")
    world.drain()

    [patch] = world.gate.calls_to("judge")
    assert (patch.body["judgmentStatus"], patch.body["judgmentReason"]) == ("stop", "not today")


def test_home_tab_is_refreshed_when_a_judgment_starts_and_ends(world: World) -> None:
    assert listed(open_home(world, APPROVER)) == []

    start(world)
    assert listed(shown(world, APPROVER)) == [RUN_ID]

    world.gate.judge(RUN_ID, STAGE_ID, "continue", user="deck-user@example.com")
    world.echo(events.stage_event("complete", world.gate.execution(RUN_ID), stage_id=STAGE_ID))
    world.drain()
    assert listed(shown(world, APPROVER)) == []


def test_home_tab_is_refreshed_when_a_judgment_expires(tmp_path: Path) -> None:
    with judgment_world(tmp_path, rules=rules()) as world:
        start(world)
        assert listed(open_home(world, APPROVER)) == [RUN_ID]

        world.clock.advance(6 * 3600 + 1)  # the fixture stage's stageTimeoutMs
        world.drain()

        assert listed(shown(world, APPROVER)) == []
        assert world.store.timer(f"{RUN_ID}/{STAGE_ID}").outcome == "expired"


def test_home_tabs_queued_for_one_person_keep_only_the_newest(world: World) -> None:
    start(world)

    for _ in range(3):  # three opens before the worker runs: three tabs queued, the newest sent
        post_event(world, app_home_opened(APPROVER, event_id=next(EVENT_IDS)))
    world.drain()

    statuses = [d["status"] for d in world.store.list_deliveries() if d["template"] == "home.view"]
    assert sorted(statuses) == ["sent", "superseded", "superseded"]
    assert len(world.slack.calls_to("views.publish")) == 1
    assert listed(shown(world, APPROVER)) == [RUN_ID]


def test_home_tab_rate_limited_by_slack_is_published_later(world: World) -> None:
    world.slack.fail_next("views.publish", status=429, retry_after=30)

    response = post_event(world, app_home_opened(APPROVER, event_id="EvLIMITED"))
    world.drain()
    assert response.status_code == 200 and world.slack.home(APPROVER) is None

    world.clock.advance(30)
    world.drain()
    assert EMPTY in text(shown(world, APPROVER))


# --- the Events API -------------------------------------------------------------------------------------


def test_events_url_verification_answers_the_challenge_only_when_signed(world: World) -> None:
    body = {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "type": "url_verification",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}

    answer = post_event(world, body)
    unsigned = post_event(world, body, headers={"Content-Type": "application/json"})

    assert (answer.status_code, answer.json) == (200, {"challenge": body["challenge"]})
    assert unsigned.status_code == 401 and b"3eZbrw1a" not in unsigned.data


@pytest.mark.parametrize("tamper", [
    lambda world, raw: {"Content-Type": "application/json"},
    lambda world, raw: {**world.signed(raw), "X-Slack-Signature": "v0=" + "0" * 64},
    lambda world, raw: world.signed(raw, timestamp=int(world.clock()) - 301),
    lambda world, raw: world.signed(raw, secret="another-signing-secret-entirely"),
])
def test_events_unsigned_or_forged_are_refused_and_do_nothing(world: World, tamper: Any) -> None:
    raw = json.dumps(app_home_opened(APPROVER, event_id="EvFORGED")).encode()

    response = post_event(world, {}, headers=tamper(world, raw), raw=raw)
    world.drain()

    assert response.status_code == 401
    assert world.slack.calls_to("views.publish") == []


def test_events_replayed_request_takes_effect_once(world: World) -> None:
    raw = json.dumps(app_home_opened(APPROVER, event_id="EvREPLAYED")).encode()
    headers = {**world.signed(raw), "Content-Type": "application/json"}

    answers = []
    for _ in range(3):
        answers.append(post_event(world, {}, headers=headers, raw=raw).status_code)
        world.drain()

    assert answers == [200, 200, 200]
    assert len(world.slack.calls_to("views.publish")) == 1


def test_events_slacks_retries_of_an_event_do_no_work_twice(world: World) -> None:
    body = app_home_opened(APPROVER, event_id="EvRETRIED")
    first = post_event(world, body)
    world.drain()  # the first delivery's work is done before the retry comes
    world.clock.advance(60)  # Slack's second retry comes a minute later, signed anew
    raw = json.dumps(body).encode()
    headers = {**world.signed(raw), "Content-Type": "application/json", "X-Slack-Retry-Num": "2",
               "X-Slack-Retry-Reason": "http_timeout"}
    retry = post_event(world, {}, raw=raw, headers=headers)
    world.drain()

    assert (first.status_code, retry.status_code) == (200, 200)
    assert len(world.slack.calls_to("views.publish")) == 1


@pytest.mark.parametrize("body", [
    app_home_opened(APPROVER, event_id="EvMESSAGES", tab="messages"),
    {**app_home_opened(APPROVER, event_id="EvMENTION"), "event": {"type": "app_mention", "user": APPROVER}},
    {**app_home_opened("not a user", event_id="EvNOBODY")},
])
def test_events_the_relay_has_no_use_for_are_acknowledged_and_dropped(world: World, body: dict) -> None:
    response = post_event(world, body)
    world.drain()

    assert (response.status_code, response.data) == (200, b"")
    assert world.slack.calls_to("views.publish") == [] and world.store.home_users(since=0) == []


def test_events_answer_malformed_bodies_with_the_one_error_shape(world: World) -> None:
    not_json = post_event(world, {}, raw=b"{not json")
    body = app_home_opened(APPROVER, event_id="x")
    del body["event_id"]
    no_event_id = post_event(world, body)

    assert not_json.status_code == 400 and not_json.json["error"]["code"]
    assert no_event_id.status_code == 422


def test_events_over_socket_mode_open_the_tab_once(world: World) -> None:
    with FakeSocketMode() as server:
        world.slack.socket_url = server.url
        relay = SocketModeRelay(world.services, app_token=world.slack.app_token, ping_interval=0.5,
                                web_client=WebClient(token=world.slack.token, base_url=world.slack.api_url))
        relay.connect()
        try:
            body = app_home_opened(APPROVER, event_id="EvSOCKET")
            first = server.wait_for_ack(server.send_envelope("events_api", body))
            world.drain()
            world.clock.advance(60)  # Slack retries the event a minute later, in a new envelope
            retried = server.wait_for_ack(server.send_envelope("events_api", {**copy.deepcopy(body),
                                                                              "retry_attempt": 1}))
            world.drain()
        finally:
            relay.close()
        assert server.errors == []

    assert (first.payload, retried.payload) == (None, None)
    assert first.seconds < 3.0
    assert len(world.slack.calls_to("views.publish")) == 1
    assert EMPTY in text(shown(world, APPROVER))


def test_home_view_stays_within_a_views_hundred_blocks() -> None:
    run = events.execution()
    waiting = Waiting(execution=run, stage_id=STAGE_ID, address="#deploys", started_at=0.0, deadline=7200.0)
    facts = HomeFacts(listed=(waiting,) * (MAX_LISTED + 10), unknown=("Fiat is down",), unread=2,
                      unread_why="Spinnaker could not be read")

    view = home_view(facts, ui_url="https://deck.example.com", now=3600.0)

    assert len(view["blocks"]) <= 100
    assert sum(block["type"] == "actions" for block in view["blocks"]) == MAX_LISTED
    assert "…and 10 more" in text(view) and "Waiting 1 h" in text(view)
    assert "2 waiting judgments left out" in text(view) and "could not tell: Fiat is down" in text(view)
