"""Property-based fuzzing of the Echo event parser and POST /echo/events: whatever arrives, the parser either
loads an event or raises ValidationError, and the endpoint answers 2xx, or 4xx with the JSON error shape and
nothing stored."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError
from sqlalchemy import func, select

from relay.app import create_app
from relay.config import Settings
from relay.models import EchoEvent
from relay.services import Services
from relay.store import Store, deliveries, events
from relay.wiring import feature_handlers
from schemas.echo import EVENT_SCHEMA, load_event
from schemas.strict_json import reject_constant, strict_loads
from tests import events as echo_events
from tests.fuzzing import DEEP, json_values, mutated, serialized

MAX_EVENT_BYTES = 256 * 1024  # small, so that oversized bodies are cheap to make

orca_types = [f"orca:{kind}:{status}" for kind in ("pipeline", "orchestration", "stage", "task")
              for status in ("starting", "complete", "failed", "skipped")]
event_types = st.sampled_from(orca_types) | st.text(max_size=20)


def _base_events() -> list[dict[str, Any]]:
    """Valid events that notify: a run starting, a run failing, and a Manual Judgment awaiting, in Echo's
    plain, flattened and wrapped shapes."""
    run = echo_events.execution(notifications=[{"type": "slack", "address": "#deploys", "level": "pipeline",
                                                "when": ["pipeline.starting", "pipeline.failed"]}])
    plain = [echo_events.pipeline_event("starting", run), echo_events.pipeline_event("failed", run),
             echo_events.stage_event("starting", run, stage_id=echo_events.JUDGMENT_STAGE_ID)]
    return plain + [echo_events.flatten(plain[0]), echo_events.wrap(plain[2])]


BASE_EVENTS = _base_events()


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with values replaced anywhere in it; then perhaps flattened, the way Echo's
    `flatten: true` sends it."""
    event = draw(mutated(BASE_EVENTS))
    plain = isinstance(event.get("details"), dict) and isinstance(event.get("content"), dict)
    return echo_events.flatten(event) if plain and DEEP not in str(event) and draw(st.booleans()) else event


echo_shaped = st.fixed_dictionaries(
    {"details": st.fixed_dictionaries({"type": event_types}, optional={"application": json_values,
                                                                     "source": json_values}) | json_values},
    optional={"content": st.dictionaries(st.sampled_from(["execution", "executionId", "stageId", "context",
                                                          "canceled", "isSynthetic", "taskName", "name"]),
                                         json_values, max_size=5) | json_values,
              "eventId": json_values})


def body_of(document: Any, *, depth: int = 0) -> bytes:
    """Echo's compact JSON, with any DEEP placeholder replaced by `depth` nested arrays."""
    return serialized(document, depth=depth).encode()


@dataclass
class Relay:
    client: FlaskClient
    store: Store

    def rows(self) -> tuple[int, int]:
        with self.store.engine.connect() as conn:
            return (conn.execute(select(func.count()).select_from(events)).scalar_one(),
                    conn.execute(select(func.count()).select_from(deliveries)).scalar_one())

    def post(self, body: bytes) -> int:
        """POST the body and check the answer's contract; returns the status."""
        before = self.rows()
        response = self.client.post("/echo/events", data=body, content_type="application/json")
        assert response.status_code < 500, response.get_data(as_text=True)[:500]
        assert response.is_json
        if response.status_code >= 400:
            error = response.json["error"]
            assert set(error) == {"code", "message", "details"} and isinstance(error["message"], str)
        if response.status_code != 202:
            assert self.rows() == before, "an event that was not queued left rows behind"
        return response.status_code


@pytest.fixture
def relay(migrated_store: Store) -> Relay:
    """The webhook in dry-run, on each database backend: column types and lengths differ between them. The
    store outlives hypothesis's examples on purpose; each example compares row counts before and after."""
    url = migrated_store.engine.url.render_as_string(hide_password=False)
    relay_settings = Settings(database_url=url, max_event_bytes=MAX_EVENT_BYTES)
    services = Services(handlers=feature_handlers(),
                        settings=relay_settings, store=migrated_store, poster=None)
    return Relay(create_app(relay_settings, services=services).test_client(), migrated_store)


# The relay fixture is built once per test, not per example, on purpose.
shared_relay = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@given(json_values | echo_shaped | mutated_events())
def test_fuzz_echo_parser_loads_an_event_or_raises_validation_error(document: Any) -> None:
    try:
        loaded = EVENT_SCHEMA.load(document)
    except ValidationError as err:
        assert err.messages
    else:
        assert isinstance(loaded, EchoEvent)
        assert isinstance(loaded.type, str) and isinstance(loaded.content, dict)


@given(json_values | echo_shaped | mutated_events())
def test_fuzz_echo_plain_envelopes_load_as_the_schema_loads_them(document: Any) -> None:
    try:
        expected: Any = EVENT_SCHEMA.load(document)
    except ValidationError:
        expected = ValidationError
    try:
        loaded: Any = load_event(document)
    except ValidationError:
        loaded = ValidationError
    assert loaded == expected


@given(json_values | echo_shaped | mutated_events(), st.integers(0, 1_100))
def test_fuzz_strict_json_reads_what_the_standard_library_reads(document: Any, depth: int) -> None:
    text = serialized(document, depth=depth)
    try:
        expected: Any = json.loads(text, parse_constant=reject_constant)
        json.dumps(expected, ensure_ascii=False).encode()
    except (ValueError, RecursionError):
        expected = ValueError
    for given_text in (text, text.encode("utf-8", "surrogatepass")):
        try:
            loaded: Any = strict_loads(given_text)
        except ValueError:
            loaded = ValueError
        if DEEP in str(document) and depth > 500:
            continue  # orjson refuses nesting past 1,024 levels, the standard library past its stack's room
        # orjson reads an integer past 64 bits as a float, the one value it reads otherwise
        assert loaded == expected or _beyond_64_bits(expected)


def _beyond_64_bits(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_beyond_64_bits(item) for item in value.values())
    if isinstance(value, list):
        return any(_beyond_64_bits(item) for item in value)
    return isinstance(value, int) and not -2 ** 63 <= value < 2 ** 64


@pytest.mark.parametrize("body", [b'{"a": NaN}', b'[Infinity]', b'[-Infinity]', b'{"a": "\\ud800"}',
                                  b'["\\udc00\\ud800"]', b"[" * 1_025 + b"]" * 1_025, b'{"a": 1} x',
                                  '{"a": "\ud800"}'.encode("utf-8", "surrogatepass"), b'{"a": "\xc3"}'])
def test_strict_json_refuses_what_storage_and_slack_cannot_take(body: bytes) -> None:
    with pytest.raises(ValueError):
        strict_loads(body)


@shared_relay
@given(json_values | echo_shaped)
def test_fuzz_echo_endpoint_answers_any_json(relay: Relay, document: Any) -> None:
    relay.post(body_of(document))


@shared_relay
@given(mutated_events(), st.integers(1, 100_000))
def test_fuzz_echo_endpoint_answers_wrong_types_huge_strings_and_deep_nesting(
        relay: Relay, event: dict[str, Any], depth: int) -> None:
    body = body_of(event, depth=depth)
    status = relay.post(body)
    if len(body) > MAX_EVENT_BYTES:
        assert status == 413


@shared_relay
@given(st.sampled_from(BASE_EVENTS), st.floats(0.0, 1.0, exclude_max=True))
def test_fuzz_echo_endpoint_rejects_truncated_bodies(relay: Relay, event: dict[str, Any],
                                                     fraction: float) -> None:
    body = body_of(event)
    assert relay.post(body[:int(len(body) * fraction)]) == 400


@shared_relay
@given(st.sampled_from(BASE_EVENTS), st.sampled_from(["utf-16", "utf-32", "latin-1", "cp1252"]),
       st.binary(min_size=1, max_size=8), st.text(min_size=1, max_size=8))
def test_fuzz_echo_endpoint_answers_bad_encodings(relay: Relay, event: dict[str, Any], encoding: str,
                                                   garbage: bytes, text: str) -> None:
    event = copy.deepcopy(event)
    (event.get("payload") or event)["eventId"] = text + "\u00e9\ud800"  # non-ASCII, and a lone surrogate
    document = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    relay.post(document.encode(encoding, errors="surrogatepass" if encoding.startswith("utf") else "replace"))
    relay.post(body_of(event).replace(b'"eventId":"', b'"eventId":"' + garbage, 1))
    relay.post(garbage)
