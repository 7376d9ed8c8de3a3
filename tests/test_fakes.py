"""Tests for the fake Slack server, driven through the real slack_sdk clients."""

import re
import threading
import time
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from tests.fakes import FakeSlack


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeSlack]:
    with FakeSlack(clock=clock) as server:
        yield server
    assert server.errors == []


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(base_url=fake.api_url, token="xoxb-fake-bot-token")


def slack_error(excinfo: pytest.ExceptionInfo[SlackApiError]) -> str:
    return excinfo.value.response["error"]


def test_fake_slack_posts_message_and_records_call(fake: FakeSlack, client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*deploy* started"}}]

    first = client.chat_postMessage(channel="#deploys", text="deploy started", blocks=blocks)
    second = client.chat_postMessage(channel="deploys", text="again")

    channel_id = fake.channel_id("#deploys")
    assert re.fullmatch(r"C[A-Z0-9]{8}", channel_id)
    assert first["channel"] == second["channel"] == channel_id
    assert re.fullmatch(r"\d{10}\.\d{6}", first["ts"])
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["blocks"] == blocks
    assert [m.text for m in fake.messages("#deploys")] == ["deploy started", "again"]
    call = fake.calls_to("chat.postMessage")[0]
    assert call.params["blocks"] == blocks
    assert call.headers["authorization"] == "Bearer xoxb-fake-bot-token"


def test_fake_slack_threads_replies_under_existing_parent(fake: FakeSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="#deploys", text="run 42")["ts"]

    client.chat_postMessage(channel="#deploys", text="stage ok", thread_ts=parent)
    client.chat_postMessage(channel="#deploys", text="done", thread_ts=parent, reply_broadcast=True)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="#deploys", text="lost", thread_ts="1.000001")

    assert slack_error(excinfo) == "thread_not_found"
    assert [m.ts for m in fake.messages("#deploys")] == [parent]
    replies = fake.replies("#deploys", parent)
    assert [(m.text, m.reply_broadcast) for m in replies] == [("stage ok", False), ("done", True)]


def test_fake_slack_update_replaces_content_and_keeps_history(fake: FakeSlack, client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "running"}}]
    posted = client.chat_postMessage(channel="#deploys", text="running", blocks=blocks)

    client.chat_update(channel=posted["channel"], ts=posted["ts"], text="succeeded")
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel=posted["channel"], ts="1.000001", text="nope")

    assert slack_error(excinfo) == "message_not_found"
    message = fake.message("#deploys", posted["ts"])
    assert message is not None
    assert (message.text, message.blocks, message.updates) == ("succeeded", [], 1)
    assert message.history == ({"text": "running", "blocks": blocks},)


def test_fake_slack_rate_limits_posts_per_channel(clock: Clock) -> None:
    with FakeSlack(channel_interval=1.0, clock=clock) as fake:
        client = WebClient(base_url=fake.api_url, token="xoxb-fake-bot-token")
        client.chat_postMessage(channel="#deploys", text="one")

        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel="#deploys", text="two")
        client.chat_postMessage(channel="#other", text="elsewhere")
        clock.now += 1.0
        client.chat_postMessage(channel="#deploys", text="three")

    response = excinfo.value.response
    assert (response.status_code, response["error"]) == (429, "ratelimited")
    assert response.headers["Retry-After"] == "1"
    assert fake.rate_limited == 1
    assert [m.text for m in fake.messages("#deploys")] == ["one", "three"]


def test_fake_slack_answers_not_in_channel_until_joined(fake: FakeSlack, client: WebClient) -> None:
    fake.add_channel("#ops", member=False)
    fake.add_channel("#secret", private=True)

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="#ops", text="hello")
    joined = client.conversations_join(channel=fake.channel_id("#ops"))
    again = client.conversations_join(channel=fake.channel_id("#ops"))
    client.chat_postMessage(channel="#ops", text="hello")
    with pytest.raises(SlackApiError) as private:
        client.conversations_join(channel=fake.channel_id("#secret"))

    assert slack_error(excinfo) == "not_in_channel"
    assert joined["channel"]["is_member"] is True
    assert again["warning"] == "already_in_channel"
    assert slack_error(private) == "method_not_supported_for_channel_type"
    assert fake.is_member("#ops")
    assert [m.text for m in fake.messages("#ops")] == ["hello"]


@pytest.mark.parametrize(("token", "error"), [("xoxb-wrong", "invalid_auth"), (None, "not_authed")])
def test_fake_slack_rejects_bad_tokens(fake: FakeSlack, token: str | None, error: str) -> None:
    client = WebClient(base_url=fake.api_url, token=token)

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="#deploys", text="hi")

    assert excinfo.value.response.status_code == 200
    assert slack_error(excinfo) == error
    assert fake.messages("#deploys") == []


def test_fake_slack_users_info_shows_email_only_when_set(fake: FakeSlack, client: WebClient) -> None:
    fake.add_user("U0ALICE", email="alice@example.com", name="alice")
    fake.add_user("U0BOB", name="bob")

    alice = client.users_info(user="U0ALICE")["user"]
    bob = client.users_info(user="U0BOB")["user"]
    found = client.users_lookupByEmail(email="ALICE@example.com")["user"]
    with pytest.raises(SlackApiError) as excinfo:
        client.users_info(user="U0NOBODY")

    assert alice["profile"]["email"] == "alice@example.com"
    assert "email" not in bob["profile"]
    assert found["id"] == "U0ALICE"
    assert slack_error(excinfo) == "user_not_found"


def test_fake_slack_auth_test_reports_identity_and_scopes(fake: FakeSlack, client: WebClient) -> None:
    response = client.auth_test()

    assert (response["user_id"], response["bot_id"], response["team_id"]) == (
        fake.bot_user_id,
        fake.bot_id,
        fake.team_id,
    )
    assert "users:read.email" in response.headers["x-oauth-scopes"].split(",")


def test_fake_slack_validates_blocks_and_text(fake: FakeSlack, client: WebClient) -> None:
    too_many = [{"type": "divider"}] * 51
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]

    errors = []
    for kwargs in ({"blocks": too_many}, {"blocks": too_long}, {"text": "x" * 40001}, {}):
        with pytest.raises(SlackApiError) as excinfo:
            client.api_call("chat.postMessage", json={"channel": "#deploys", **kwargs})
        errors.append(slack_error(excinfo))

    assert errors == ["invalid_blocks", "invalid_blocks", "msg_too_long", "no_text"]
    assert fake.messages("#deploys") == []


def test_fake_slack_fail_next_serves_html_errors_then_recovers(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("chat.postMessage", status=500, count=2)

    statuses = []
    for _ in range(2):
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel="#deploys", text="hi")
        statuses.append(excinfo.value.response.status_code)
    client.chat_postMessage(channel="#deploys", text="hi")

    assert statuses == [500, 500]
    assert len(fake.calls_to("chat.postMessage")) == 3
    assert len(fake.messages("#deploys")) == 1


def test_fake_slack_outage_answers_every_method(fake: FakeSlack, client: WebClient) -> None:
    fake.set_down(503)
    with pytest.raises(SlackApiError) as excinfo:
        client.auth_test()
    fake.set_up()

    assert excinfo.value.response.status_code == 503
    assert client.auth_test()["ok"] is True


def test_fake_slack_stop_cuts_injected_delay_short(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("chat.postMessage", delay=60.0)
    outcome: list[object] = []
    worker = threading.Thread(
        target=lambda: outcome.append(client.chat_postMessage(channel="#deploys", text="slow")["ok"])
    )
    worker.start()
    fake.wait_for_calls("chat.postMessage", 1)
    started = time.monotonic()

    fake.stop()
    worker.join(timeout=5.0)

    assert not worker.is_alive()
    assert time.monotonic() - started < 5.0
    assert outcome == [True]


def test_fake_slack_trigger_ids_are_single_use_and_expire(
    fake: FakeSlack, client: WebClient, clock: Clock
) -> None:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Reject"}, "blocks": []}
    fresh, stale = fake.issue_trigger(), fake.issue_trigger()

    opened = client.views_open(trigger_id=fresh, view=view)
    errors = []
    clock.now += 3.5
    for trigger_id in (fresh, stale, "123.456.nope"):
        with pytest.raises(SlackApiError) as excinfo:
            client.views_open(trigger_id=trigger_id, view=view)
        errors.append(slack_error(excinfo))

    assert opened["view"]["id"].startswith("V")
    assert errors == ["exchanged_trigger_id", "expired_trigger_id", "invalid_trigger_id"]


def test_fake_slack_response_url_replaces_message_and_runs_out(fake: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="#deploys", text="approve?")
    url = fake.new_response_url(channel=posted["channel"], ts=posted["ts"])
    hook = WebhookClient(url)

    first = hook.send(text="approved by alice", replace_original=True)
    for _ in range(4):
        hook.send(text="noted", response_type="ephemeral", replace_original=False)
    spent = hook.send(text="too many", replace_original=False)
    unknown = WebhookClient(f"{fake.url}/webhook/999").send(text="hi")

    assert (first.status_code, first.body) == (200, "ok")
    assert (spent.status_code, spent.body) == (404, "used_url")
    assert (unknown.status_code, unknown.body) == (404, "no_service")
    message = fake.message(posted["channel"], posted["ts"])
    assert message is not None and message.text == "approved by alice"
    assert len(fake.webhook_posts) == 5


def test_fake_slack_wait_for_calls_times_out_with_summary(fake: FakeSlack, client: WebClient) -> None:
    client.auth_test()

    with pytest.raises(AssertionError, match=r"chat\.update.*auth\.test x1"):
        fake.wait_for_calls("chat.update", 1, timeout=0.1)


def test_fake_slack_publishes_a_home_tab_per_user(fake: FakeSlack, client: WebClient) -> None:
    fake.add_user("U0READER")
    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "first"}}]}

    first = client.views_publish(user_id="U0READER", view=home)
    second = client.views_publish(user_id="U0READER", view={**home, "blocks": []})

    assert first["view"]["id"] == second["view"]["id"] and first["view"]["hash"] != second["view"]["hash"]
    assert fake.home("U0READER")["blocks"] == []
    assert fake.home("U0NOBODY") is None


@pytest.mark.parametrize(("view", "error"), [
    ({"type": "modal", "blocks": []}, "invalid_arguments"),  # a home tab is a `home` view
    ({"type": "home", "blocks": [{"type": "section"}]}, "invalid_arguments"),
    ({"type": "home", "blocks": [{"type": "divider"}] * 101}, "invalid_arguments"),
    ({"type": "home", "blocks": [], "callback_id": "c" * 256}, "invalid_arguments"),
    ({"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2900}}] * 90},
     "view_too_large"),
])
def test_fake_slack_refuses_home_tabs_slack_refuses(fake: FakeSlack, client: WebClient, view: dict,
                                                    error: str) -> None:
    fake.add_user("U0READER")

    with pytest.raises(SlackApiError) as refused:
        client.views_publish(user_id="U0READER", view=view)

    assert refused.value.response["error"] == error
    assert fake.home("U0READER") is None


def test_fake_slack_home_tab_needs_the_app_home_on_and_a_known_user(clock: Clock) -> None:
    with FakeSlack(clock=clock, home_tab_enabled=False) as fake:
        fake.add_user("U0READER")
        client = WebClient(base_url=fake.api_url, token=fake.token)
        errors = []
        for user in ("U0READER", "U0NOBODY"):
            try:
                client.views_publish(user_id=user, view={"type": "home", "blocks": []})
            except SlackApiError as err:
                errors.append(err.response["error"])
    assert errors == ["not_enabled", "user_not_found"]


def test_fake_slack_rate_limits_views_publish_per_minute(clock: Clock) -> None:
    with FakeSlack(clock=clock, publish_per_minute=2) as fake:
        fake.add_user("U0READER")
        client = WebClient(base_url=fake.api_url, token=fake.token)
        home = {"type": "home", "blocks": []}
        clock.now = 6000.0 + 45  # 15 s before the minute ends
        client.views_publish(user_id="U0READER", view=home)
        client.views_publish(user_id="U0READER", view=home)

        with pytest.raises(SlackApiError) as limited:
            client.views_publish(user_id="U0READER", view=home)
        clock.now += 15
        client.views_publish(user_id="U0READER", view=home)

    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "15"
