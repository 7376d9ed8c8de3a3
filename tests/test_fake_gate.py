"""Tests for the fake Gate and Fiat: they must behave like Spinnaker for the relay's tests to mean much."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from relay.clients.gate import GateAuth, GateClient, GateError
from tests import events
from tests.fake_gate import FakeFiat, FakeGate
from tests.judgment_world import Clock

RUN_ID = events.execution()["id"]
STAGE_ID = events.JUDGMENT_STAGE_ID


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gate(clock: Clock) -> Iterator[FakeGate]:
    with FakeGate(identity="relay-bot", clock=clock) as fake:
        fake.add_execution(events.execution())
        yield fake
    assert fake.errors == []


@pytest.fixture
def client(gate: FakeGate) -> GateClient:
    return GateClient(gate.url, timeout=2.0)


def judgment(execution: dict) -> dict:
    return next(s for s in execution["stages"] if s["id"] == STAGE_ID)


def test_fake_gate_patch_answers_running_stage_then_orca_acts_on_next_read(gate: FakeGate,
                                                                           client: GateClient) -> None:
    answer = client.judge(RUN_ID, STAGE_ID, status="continue", judgment_input="Deploy anyway")

    assert judgment(answer)["status"] == "RUNNING"
    assert judgment(answer)["context"]["judgmentStatus"] == "continue"
    assert judgment(answer)["context"]["lastModifiedBy"] == "relay-bot"
    after = client.execution(RUN_ID)
    assert judgment(after)["status"] == "SUCCEEDED"
    assert judgment(after)["context"]["judgmentInput"] == "Deploy anyway"
    assert [call.route for call in gate.calls] == ["judge", "get_execution"]


def test_fake_gate_acts_after_the_configured_delay_on_its_clock(clock: Clock) -> None:
    with FakeGate(clock=clock, finish_after=10.0) as gate:
        gate.add_execution(events.execution())
        client = GateClient(gate.url)
        client.judge(RUN_ID, STAGE_ID, status="stop")

        assert judgment(client.execution(RUN_ID))["status"] == "RUNNING"
        clock.advance(10.0)
        after = client.execution(RUN_ID)

    assert judgment(after)["status"] == "TERMINAL"
    assert after["status"] == "TERMINAL"


def test_fake_gate_accepts_patch_on_finished_stage_and_overwrites_context(gate: FakeGate,
                                                                          client: GateClient) -> None:
    gate.judge(RUN_ID, STAGE_ID, "continue", user="deck-user", judgment_input="Deploy anyway")

    answer = client.judge(RUN_ID, STAGE_ID, status="stop", judgment_input="Roll back")

    stage = judgment(answer)
    assert stage["status"] == "SUCCEEDED"
    assert stage["context"]["judgmentStatus"] == "stop"
    assert stage["context"]["lastModifiedBy"] == "relay-bot"


def test_fake_gate_resets_judgment_silently_when_judge_lacks_roles(clock: Clock) -> None:
    run = events.execution()
    judgment(run)["context"]["selectedStageRoles"] = ["deployers"]
    with FakeGate(identity="relay-bot", roles={"relay-bot": ["viewers"]}, clock=clock) as gate:
        gate.add_execution(run)
        client = GateClient(gate.url)
        client.judge(RUN_ID, STAGE_ID, status="continue")
        stage = judgment(client.execution(RUN_ID))

    assert stage["status"] == "RUNNING"
    assert stage["context"]["judgmentStatus"] == ""
    assert stage["context"]["lastModifiedBy"] == "relay-bot"


def test_fake_gate_answers_404_for_unknown_execution(client: GateClient) -> None:
    with pytest.raises(GateError) as raised:
        client.execution("01UNKNOWN")
    with pytest.raises(GateError) as patched:
        client.judge("01UNKNOWN", STAGE_ID, status="continue")

    assert raised.value.status == patched.value.status == 404
    assert "Pipeline not found" in str(raised.value)


def test_fake_gate_hides_forbidden_execution_behind_empty_200(gate: FakeGate, client: GateClient) -> None:
    gate.forbid(RUN_ID)

    raw = requests.get(f"{gate.url}/pipelines/{RUN_ID}", timeout=2)
    with pytest.raises(GateError) as read:
        client.execution(RUN_ID)
    with pytest.raises(GateError) as written:
        client.judge(RUN_ID, STAGE_ID, status="continue")

    assert (raw.status_code, raw.content) == (200, b"")
    assert read.value.status == 403 and read.value.final
    assert written.value.status == 403


def test_fake_gate_answers_empty_200_for_unknown_stage(gate: FakeGate, client: GateClient) -> None:
    assert client.judge(RUN_ID, "no-such-stage", status="continue") is None
    assert "judgmentStatus" not in judgment(gate.execution(RUN_ID))["context"]


def test_fake_gate_injects_5xx_then_recovers(gate: FakeGate, client: GateClient) -> None:
    gate.fail_next("get_execution", status=503)

    with pytest.raises(GateError) as failed:
        client.execution(RUN_ID)

    assert failed.value.status == 503 and not failed.value.final
    assert client.execution(RUN_ID)["id"] == RUN_ID


def test_fake_gate_slow_answer_times_the_client_out(gate: FakeGate) -> None:
    gate.fail_next("get_execution", status=None, delay=1.0)
    impatient = GateClient(gate.url, timeout=0.2)

    with pytest.raises(GateError) as failed:
        impatient.execution(RUN_ID)

    assert "unreachable" in str(failed.value) and not failed.value.final


def test_fake_gate_ignores_user_header_unless_orca_is_called_directly(clock: Clock) -> None:
    for trust, expected in ((False, "anonymous"), (True, "alice@example.com")):
        with FakeGate(trust_user_header=trust, clock=clock) as gate:
            gate.add_execution(events.execution())
            client = GateClient(gate.url, user_header=True)
            answer = client.judge(RUN_ID, STAGE_ID, status="continue", user="alice@example.com")
        assert judgment(answer)["context"]["lastModifiedBy"] == expected


@pytest.mark.parametrize("auth, accepted", [
    (GateAuth(token="s3cret-of-the-relay"), True), (GateAuth(token="wrong"), False), (GateAuth(), False)])
def test_fake_gate_requires_configured_bearer_token(clock: Clock, auth: GateAuth, accepted: bool) -> None:
    with FakeGate(token="s3cret-of-the-relay", identity="svc-relay", clock=clock) as gate:
        client = GateClient(gate.url, auth=auth)
        if accepted:
            client.ping()
            assert gate.calls[-1].headers["authorization"] == "Bearer s3cret-of-the-relay"
        else:
            with pytest.raises(GateError) as failed:
                client.ping()
            assert failed.value.status == 401


def test_fake_gate_basic_auth_makes_the_user_the_judge(clock: Clock) -> None:
    with FakeGate(username="relay", password="pw", clock=clock) as gate:
        gate.add_execution(events.execution())
        answer = GateClient(gate.url, auth=GateAuth(username="relay", password="pw")).judge(
            RUN_ID, STAGE_ID, status="continue")

    assert judgment(answer)["context"]["lastModifiedBy"] == "relay"


def test_fake_gate_lists_executions_like_orca(gate: FakeGate, client: GateClient, clock: Clock) -> None:
    older = events.execution(id="01OLDER", startTime=1)
    other_app = events.execution(id="01OTHERAPP", application="billing")
    done = events.execution(id="01DONE", status="SUCCEEDED", startTime=2)
    for run in (older, other_app, done):
        gate.add_execution(run)

    running = client.executions("compute", statuses="RUNNING", limit=10)
    latest_only = client.executions("compute", limit=1)
    slim = requests.get(f"{gate.url}/applications/compute/pipelines", params={"expand": "false"},
                        timeout=2).json()

    assert [e["id"] for e in running] == ["01OLDER", RUN_ID]  # ascending start time
    assert [e["id"] for e in latest_only] == [RUN_ID]  # the limit applies per pipeline config
    assert all(stage["context"] == {} for execution in slim for stage in execution["stages"])


def test_fake_gate_triggers_pipelines_from_configs(gate: FakeGate, client: GateClient) -> None:
    config = events.payload("gate_GET_applications_app_pipelineConfigs.json")[0]
    config["parameterConfig"].append({"name": "ticket", "required": True})
    gate.add_pipeline_config(config)

    with pytest.raises(GateError) as missing:
        client.trigger("compute", "Simple Wait Pipeline", {"type": "manual"})
    with pytest.raises(GateError) as unknown:
        client.trigger("compute", "No Such Pipeline", {})
    answer = client.trigger("compute", "Simple Wait Pipeline",
                            {"type": "manual", "parameters": {"ticket": "T-1"}})

    assert missing.value.status == 400 and unknown.value.status == 404
    started = gate.execution(answer["ref"].removeprefix("/pipelines/"))
    assert started["status"] == "RUNNING"
    assert started["trigger"]["parameters"] == {"param1": "123", "param2": "abc", "ticket": "T-1"}
    assert client.pipeline_configs("compute")[0]["name"] == "Simple Wait Pipeline"


def test_fake_gate_cancels_pauses_and_resumes(gate: FakeGate, client: GateClient) -> None:
    client.pause(RUN_ID)
    assert gate.execution(RUN_ID)["status"] == "PAUSED"
    client.resume(RUN_ID)
    assert gate.execution(RUN_ID)["status"] == "RUNNING"
    client.cancel(RUN_ID, reason="wrong branch")

    run = gate.execution(RUN_ID)
    assert (run["status"], run["canceledBy"]) == ("CANCELED", "relay-bot")
    assert run["cancellationReason"] == "wrong branch"
    assert judgment(run)["status"] == "CANCELED"
    assert gate.calls_to("cancel")[0].query == {"force": "false", "reason": "wrong branch"}


def test_fake_fiat_reports_permissions_and_404_for_strangers() -> None:
    with FakeFiat() as fiat:
        fiat.add_user("Alice@Example.com", roles=["deployers"], applications={"compute": ["READ", "EXECUTE"]})
        known = requests.get(f"{fiat.url}/authorize/alice@example.com", timeout=2)
        unknown = requests.get(f"{fiat.url}/authorize/bob@example.com", timeout=2)

    assert known.json()["roles"] == [{"name": "deployers", "source": "EXTERNAL"}]
    assert known.json()["applications"] == [{"name": "compute", "authorizations": ["READ", "EXECUTE"]}]
    assert unknown.status_code == 404


@pytest.mark.parametrize("user_header", [True, False], ids=["orca-direct", "through-gate"])
def test_gate_client_names_the_slack_user_on_every_write_only_when_configured(clock: Clock,
                                                                              user_header: bool) -> None:
    with FakeGate(clock=clock) as gate:
        gate.add_execution(events.execution())
        client = GateClient(gate.url, user_header=user_header)
        client.pause(RUN_ID, user="alice@example.com")
        client.resume(RUN_ID, user="alice@example.com")
        client.cancel(RUN_ID, reason="bad canary", user="alice@example.com")
    sent = {call.headers.get("x-spinnaker-user") for call in gate.calls if call.method == "PUT"}
    assert sent == ({"alice@example.com"} if user_header else {None})
