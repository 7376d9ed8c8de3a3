"""Bodies beyond the limits, sent to a running relay over real HTTP: refused with 413 before they are read,
whether their length is declared or chunked, and nothing unsigned parsed on the way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.served import Served, filler, served_relay, stream_post
from tests.slack_requests import signed

pytestmark = pytest.mark.slow

SLACK_PATHS = ["/slack/interactions", "/notifications/callbacks/slack", "/slack/commands", "/slack/events"]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
MIB = 1024 * 1024
TOO_LARGE = {"code": "payload_too_large", "details": None,
             "message": f"Slack requests larger than {MIB} bytes are refused (RELAY_MAX_SLACK_BYTES)"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served_relay(tmp_path_factory.mktemp("limits"), RELAY_MAX_EVENT_BYTES=str(MIB)) as running:
        yield running


@pytest.mark.parametrize("path", SLACK_PATHS)
def test_slack_endpoints_refuse_a_declared_32_mib_body_before_reading_it(served: Served, path: str) -> None:
    size = 32 * MIB

    answer = stream_post(served.url, path, filler(size), headers={**FORM, "Content-Length": str(size)})

    assert (answer.status, answer.body) == (413, {"error": TOO_LARGE})
    assert answer.sent < size and answer.seconds < 5


@pytest.mark.parametrize("path", SLACK_PATHS)
def test_slack_endpoints_refuse_an_oversized_chunked_body(served: Served, path: str) -> None:
    answer = stream_post(served.url, path, filler(8 * MIB), headers=FORM, chunked=True)

    assert (answer.status, answer.body) == (413, {"error": TOO_LARGE})
    assert answer.sent < 8 * MIB


@pytest.mark.parametrize("path", SLACK_PATHS)
def test_slack_endpoints_refuse_a_signed_body_over_the_limit_too(served: Served, path: str) -> None:
    raw = b"payload=" + b"x" * MIB

    response = served.post(path, raw, signed(raw))

    assert (response.status_code, response.json()) == (413, {"error": TOO_LARGE})


def test_slack_interactions_read_a_signed_body_of_exactly_the_limit(served: Served) -> None:
    raw = b"payload=" + b"x" * (MIB - len(b"payload="))

    response = served.post("/slack/interactions", raw, signed(raw))

    assert (response.status_code, response.json()["error"]["code"]) == (400, "bad_request")  # read, not JSON


def test_slack_commands_answer_slacks_unsigned_ssl_check(served: Served) -> None:
    response = served.post("/slack/commands", b"ssl_check=1&token=deprecated-verification-token", FORM)

    assert (response.status_code, response.content) == (200, b"")


def test_slack_commands_parse_no_large_unsigned_body_as_an_ssl_check(served: Served) -> None:
    response = served.post("/slack/commands", b"ssl_check=1&padding=" + b"x" * 100_000, FORM)

    assert response.status_code == 401


def test_echo_refuses_an_oversized_chunked_event(served: Served) -> None:
    answer = stream_post(served.url, "/echo/events", filler(8 * MIB),
                         headers={"Content-Type": "application/json"}, chunked=True)

    assert answer.status == 413 and answer.body["error"]["code"] == "payload_too_large"
    assert answer.sent < 8 * MIB
