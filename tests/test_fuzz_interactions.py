"""Property-based fuzzing of Slack's interaction payloads and POST /slack/interactions: whatever arrives,
signed or not, the parsers load or raise ValidationError, and the endpoint answers 2xx, or 4xx with the JSON
error shape and nothing stored."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError
from sqlalchemy import func, select

from relay.store import deliveries, jobs, judgments
from schemas.slack import BLOCK_ACTIONS_SCHEMA, REASON_REQUEST_SCHEMA, VIEW_SUBMISSION_SCHEMA
from tests.fuzzing import any_character, json_values, mutated, serialized
from tests.judgment_world import APPROVER, World, judgment_world
from tests.slack_requests import SIGNING_SECRET, block_actions, view_submission

# The relay's own button values and modal metadata come back through Slack, so they are fuzzed too.
PARSERS: list[Schema] = [BLOCK_ACTIONS_SCHEMA, VIEW_SUBMISSION_SCHEMA, REASON_REQUEST_SCHEMA]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with judgment_world(tmp_path) as built:
        yield built


@pytest.fixture
def real_payloads(world: World) -> list[dict[str, Any]]:
    """What Slack would really send about a judgment message the relay posted: a click on each of its
    buttons, and the submission of the reason modal the reject button opens."""
    message = world.start_judgment()
    clicks = [block_actions(message, action_id, user=APPROVER, trigger_id=world.slack.issue_trigger(),
                            response_url=world.slack.url + "/webhook/0")
              for action_id in ("judgment.choose.0", "judgment.choose.1", "judgment.reject")]
    world.interact(clicks[2])
    [view] = world.slack.views()
    return [*clicks, view_submission(view, user=APPROVER, values={"reason_text": "rolling back"})]


def encoded(document: Any, depth: int = 0) -> bytes:
    """`payload=<JSON>`, form-encoded, with any DEEP placeholder replaced by `depth` nested arrays."""
    return urlencode({"payload": serialized(document, depth=depth)}).encode()


def rows(world: World) -> tuple[int, ...]:
    with world.store.engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(table)).scalar_one()
                     for table in (judgments, jobs, deliveries))


def post(world: World, raw: bytes, headers: dict[str, str] | None = None) -> int:
    """POST a raw body (signed as Slack would, unless `headers` say otherwise) and check the answer's
    contract."""
    before = rows(world)
    headers = world.signed(raw) if headers is None else headers
    response = world.client.post("/slack/interactions", data=raw, headers=headers)
    world.clock.advance(1)  # Slack signs each request at its own time; the same body and time is a replay
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    if response.status_code >= 400:
        error = response.json["error"]
        assert set(error) == {"code", "message", "details"} and isinstance(error["message"], str)
        assert rows(world) == before, "a rejected interaction left rows behind"
    return response.status_code


# The world is built once per test, not per example, on purpose: examples add to one store.
shared_world = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@given(st.sampled_from(PARSERS), json_values)
def test_fuzz_interaction_parsers_load_or_raise_validation_error(parser: Schema, document: Any) -> None:
    try:
        parser.load(document)
    except ValidationError as err:
        assert err.messages


@shared_world
@given(data=st.data())
def test_fuzz_interaction_parsers_take_mutated_real_payloads(real_payloads: list[dict[str, Any]],
                                                             data: st.DataObject) -> None:
    document = data.draw(mutated(real_payloads))
    for parser in PARSERS:
        try:
            parser.load(document)
        except ValidationError as err:
            assert err.messages


@shared_world
@given(data=st.data(), depth=st.integers(1, 100_000))
def test_fuzz_interaction_endpoint_answers_mutated_payloads(world: World, real_payloads: list[dict[str, Any]],
                                                            data: st.DataObject, depth: int) -> None:
    post(world, encoded(data.draw(mutated(real_payloads)), depth))


@shared_world
@given(json_values)
def test_fuzz_interaction_endpoint_answers_any_json(world: World, document: Any) -> None:
    post(world, encoded(document))


@shared_world
@given(st.binary(max_size=300) | st.text(any_character, max_size=300).map(
    lambda text: text.encode("utf-8", errors="surrogatepass")))
def test_fuzz_interaction_endpoint_answers_garbage_bodies(world: World, raw: bytes) -> None:
    post(world, raw, signed_bytes(world, raw))
    post(world, b"payload=" + raw, signed_bytes(world, b"payload=" + raw))
    assert post(world, raw, {"Content-Type": "application/x-www-form-urlencoded"}) == 401


def signed_bytes(world: World, raw: bytes) -> dict[str, str]:
    """Slack's v0 signature over any bytes (slack_sdk's helper only signs UTF-8 text)."""
    timestamp = str(int(world.clock()))
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256)
    return {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": "v0=" + digest.hexdigest()}


@shared_world
@given(st.floats(0.0, 1.0, exclude_max=True))
def test_fuzz_interaction_endpoint_rejects_truncated_payloads(
        world: World, real_payloads: list[dict[str, Any]], fraction: float) -> None:
    text = json.dumps(real_payloads[0])
    assert post(world, urlencode({"payload": text[:int(len(text) * fraction)]}).encode()) == 400
