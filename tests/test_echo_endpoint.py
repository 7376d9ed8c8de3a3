"""Tests for relay/web/echo.py and schemas/echo.py: Echo's body shapes, answers, auth, limits, junk."""

from __future__ import annotations

import base64
import hmac
import http.client
import json
import threading
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from relay.app import create_app
from relay.config import Settings
from relay.services import Services
from relay.store import Store
from relay.wiring import feature_handlers
from tests.events import JUDGMENT_STAGE_ID, execution, flatten, payload, pipeline_event, stage_event, wrap

PATH = "/echo/events/"
BASIC = {"echo_username": "echo", "echo_password": "s3cret-of-the-relay"}
TOKEN = "t0ken-of-the-relay"


@pytest.fixture
def store(tmp_path) -> Store:
    store = Store.from_url(f"sqlite:///{tmp_path / 'relay.sqlite3'}")
    store.create_schema()
    return store


def relay_client(store: Store, **options) -> FlaskClient:
    settings = Settings(database_url=str(store.engine.url), **options)
    return create_app(services=Services(handlers=feature_handlers(),
                                        settings=settings, store=store, poster=None)).test_client()


@pytest.fixture
def client(store: Store) -> FlaskClient:
    return relay_client(store)


def post(client: FlaskClient, body: object, path: str = PATH, **kwargs):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(path, data=data, content_type="application/json; charset=UTF-8", **kwargs)


def basic(username: str, password: str, encoding: str = "utf-8") -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode(encoding)).decode()
    return {"Authorization": f"Basic {token}"}


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(lambda event: event, id="plain"),
        pytest.param(flatten, id="flatten"),
        pytest.param(wrap, id="wrap"),
        pytest.param(lambda event: wrap(event, event_name="relay", field="event"), id="wrap-custom-names"),
        pytest.param(lambda event: wrap(flatten(event)), id="wrap-and-flatten"),
        # Echo's `template` option, '{"myCustomEventField": {{event}} }', with more fields or without.
        pytest.param(lambda event: {"myCustomEventField": event}, id="template"),
        pytest.param(
            lambda event: {"source": "spinnaker", "data": {"kind": "event", "event": flatten(event)}},
            id="template-nested-and-flatten",
        ),
        pytest.param(
            lambda event: wrap(flatten(event), event_name="x", field="body"), id="wrap-and-flatten-custom"
        ),
    ],
)
@pytest.mark.parametrize("path", ["/echo/events", "/echo/events/"])
def test_echo_accepts_every_body_shape(client: FlaskClient, store: Store, shape, path: str) -> None:
    event = pipeline_event("starting")
    response = post(client, shape(event), path)
    assert response.status_code == 202, response.get_json()
    assert response.get_json() == {"result": "queued", "eventId": event["eventId"], "notifications": 1}
    (delivery,) = store.list_deliveries()
    assert (delivery["event_id"], delivery["channel"], delivery["template"]) == (
        event["eventId"],
        "#deploys",
        "pipeline.starting",
    )


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        pytest.param(stage_event("starting", kind="task"), "task events never notify", id="task-event"),
        pytest.param(
            payload("echo_events_envelope_igor_build.json")[0],
            "not an Orca execution event",
            id="igor-build-event",
        ),
        pytest.param(
            pipeline_event("complete", execution(notifications=[])),
            "no notification preference matches",
            id="no-preference",
        ),
        pytest.param(
            stage_event("starting"), "no stage notification preference matches", id="stage-without-preference"
        ),
    ],
)
def test_echo_ignores_events_that_need_no_message(
    client: FlaskClient, store: Store, document: dict, reason: str
) -> None:
    response = post(client, document)
    assert response.status_code == 200
    assert response.get_json()["result"] == "ignored"
    assert reason in response.get_json()["reason"]
    assert store.list_deliveries() == []


def test_echo_answers_duplicate_for_a_seen_event_id(client: FlaskClient, store: Store) -> None:
    event = pipeline_event("starting")
    assert post(client, event).status_code == 202
    again = post(client, flatten(event))
    assert again.status_code == 200
    assert again.get_json()["result"] == "duplicate"
    assert len(store.list_deliveries()) == 1


def test_echo_without_event_id_deduplicates_by_body(client: FlaskClient, store: Store) -> None:
    event = pipeline_event("starting")
    del event["eventId"]
    first, second = post(client, event), post(client, event)
    assert first.status_code == 202 and first.get_json()["eventId"].startswith("sha256:")
    assert second.get_json()["result"] == "duplicate"
    assert len(store.list_deliveries()) == 1


def test_echo_queues_one_delivery_per_address(client: FlaskClient, store: Store) -> None:
    preference = {"type": "slack", "when": ["pipeline.starting"]}
    run = execution(
        notifications=[
            {**preference, "address": "#a"},
            {**preference, "address": "#b"},
            {**preference, "address": "#a"},
        ]
    )
    response = post(client, pipeline_event("starting", run))
    assert response.get_json()["notifications"] == 2
    assert sorted(d["channel"] for d in store.list_deliveries()) == ["#a", "#b"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="broken-json"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe\x00{", id="invalid-utf8"),
        pytest.param(
            json.dumps(pipeline_event("starting")).encode().replace(b"Simple", b"Simple\xc3"),
            id="invalid-utf8-inside-string",
        ),
        pytest.param(
            b'{"details": {"type": "orca:pipeline:starting"}, "content": {"startTime": NaN}}', id="nan"
        ),
        pytest.param(
            b'{"details": {"type": "orca:pipeline:starting"}, "content": {"x": Infinity}}', id="infinity"
        ),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-nesting"),
        pytest.param(b'{"a": ' + b"9" * 10_000 + b"}", id="huge-integer"),
    ],
)
def test_echo_answers_400_for_bad_json(client: FlaskClient, body: bytes) -> None:
    assert_error(post(client, body), 400, "bad_request")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param([pipeline_event("starting")], "_schema", id="array"),
        pytest.param("orca:pipeline:starting", "_schema", id="string"),
        pytest.param(42, "_schema", id="number"),
        pytest.param(None, "_schema", id="null"),
        pytest.param({"content": {}}, "details", id="missing-details"),
        pytest.param({"details": {"source": "orca"}}, "details", id="missing-type"),
        pytest.param({"details": {"type": 7}}, "details", id="type-not-a-string"),
        pytest.param({"details": {"type": ""}}, "details", id="empty-type"),
        pytest.param({"details": ["orca:pipeline:starting"]}, "details", id="details-not-an-object"),
        pytest.param(
            {"details": {"type": "orca:pipeline:starting", "application": ["a"]}},
            "details",
            id="application-not-a-string",
        ),
        pytest.param(
            {"details": {"type": "orca:pipeline:starting", "source": {"orca": True}}},
            "details",
            id="source-not-a-string",
        ),
        pytest.param(
            {"details": {"type": "orca:pipeline:starting"}, "content": [1, 2]},
            "content",
            id="content-not-an-object",
        ),
        pytest.param(
            {"details": {"type": "orca:pipeline:starting"}, "eventId": 12},
            "eventId",
            id="event-id-not-a-string",
        ),
        pytest.param({"details": "{not json", "content": "{}"}, "details", id="flattened-details-not-json"),
        pytest.param(
            {"details": '{"type": "orca:pipeline:starting"}', "content": "[]"},
            "content",
            id="flattened-content-not-an-object",
        ),
        pytest.param(
            {"details": '{"type": "orca:pipeline:starting"}', "content": "[" * 100_000 + "]" * 100_000},
            "content",
            id="flattened-content-deeply-nested",
        ),
        pytest.param(
            {"eventName": "spinnaker_events", "payload": "not an event"}, "_schema", id="wrap-without-event"
        ),
        pytest.param({**pipeline_event("starting"), "eventId": "e" * 300}, "eventId", id="event-id-too-long"),
    ],
)
def test_echo_answers_422_with_field_errors(client: FlaskClient, body: object, field: str) -> None:
    error = assert_error(post(client, body), 422, "invalid_payload")
    assert field in error["details"]


def junk_events() -> Iterator[object]:
    """Bodies shaped roughly like events, with wrong types, sizes and characters everywhere."""
    base = pipeline_event(
        "failed",
        execution(
            status="TERMINAL",
            notifications=[{"type": "slack", "address": "#deploys", "when": ["pipeline.failed"]}],
        ),
    )
    for key, value in [
        ("executionId", {"id": 1}),
        ("executionId", 12),
        ("executionId", "x" * 1_000),
        ("execution", [1, 2]),
        ("execution", "run"),
        ("canceled", "maybe"),
        ("stageId", ["s"]),
    ]:
        yield pytest.param(
            {**base, "content": {**base["content"], key: value}}, id=f"content-{key}-{value!r:.20}"
        )
    for key, value in [
        ("notifications", {"type": "slack"}),
        ("notifications", [None, 1, "x", []]),
        ("trigger", "manual"),
        ("stages", {"id": 1}),
        ("stages", [None, "x", {"status": ["a"]}]),
        ("name", {"deep": ["x"] * 1000}),
        ("startTime", "yesterday"),
        ("endTime", -1),
        ("id", None),
        ("status", ["TERMINAL"]),
        ("canceled", {"yes": True}),
    ]:
        execution_ = {**base["content"]["execution"], key: value}
        yield pytest.param(
            {**base, "content": {**base["content"], "execution": execution_}},
            id=f"execution-{key}-{value!r:.20}",
        )
    preference = {"type": "slack", "address": "#deploys", "when": ["pipeline.failed"]}
    for key, value in [
        ("address", "#" + "c" * 1_000),
        ("address", "#dep\x00loys"),
        ("type", ["slack"]),
        ("message", "text"),
        ("message", {"pipeline.failed": "text"}),
        ("customMessage", 7),
        ("when", None),
    ]:
        execution_ = {**base["content"]["execution"], "notifications": [{**preference, key: value}]}
        yield pytest.param(
            {**base, "content": {**base["content"], "execution": execution_}},
            id=f"preference-{key}-{value!r:.20}",
        )
    yield pytest.param({**base, "eventId": "id\x00with-nul"}, id="event-id-with-nul")
    yield pytest.param(
        {**base, "details": {**base["details"], "application": "a" * 1_000}}, id="long-application"
    )
    yield pytest.param(
        {**base, "details": {**base["details"], "application": "app\x00"}}, id="application-with-nul"
    )
    yield pytest.param({**base, "details": {**base["details"], "type": "orca:" * 100}}, id="long-type")
    for depth in (500, 5_000):
        body = json.dumps(base).encode()[:-1] + b', "deep": ' + b"[" * depth + b"]" * depth + b"}"
        yield pytest.param(body, id=f"nested-{depth}-deep")
    judgment = stage_event("starting", stage_id=JUDGMENT_STAGE_ID)
    yield pytest.param(
        {**judgment, "content": {**judgment["content"], "context": "not a context"}},
        id="judgment-context-not-an-object",
    )
    context = {**judgment["content"]["context"], "instructions": ["a", "b"], "judgmentInputs": "x"}
    yield pytest.param(
        {**judgment, "content": {**judgment["content"], "startTime": 10**30, "context": context}},
        id="judgment-wrong-types",
    )


@pytest.mark.parametrize("body", list(junk_events()))
def test_echo_never_answers_500(any_store: Store, body: object) -> None:
    response = post(relay_client(any_store), body)
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.is_json
    assert response.status_code in (200, 202) or "error" in response.get_json()


@pytest.fixture
def any_store(db_url: str) -> Iterator[Store]:
    """A fresh store on SQLite, and on PostgreSQL when the tests have a server."""
    store = Store.from_url(db_url)
    store.create_schema()
    yield store
    store.engine.dispose()


@pytest.mark.parametrize(
    ("options", "headers", "status"),
    [
        pytest.param(BASIC, basic("echo", "s3cret-of-the-relay"), 202, id="basic"),
        pytest.param(
            {**BASIC, "echo_password": "pässwörd-of-the-relay"},
            basic("echo", "pässwörd-of-the-relay", "latin-1"),
            202,
            id="basic-latin1-as-echo-sends-it",
        ),
        pytest.param(
            {**BASIC, "echo_password": "pässwörd-of-the-relay"},
            basic("echo", "pässwörd-of-the-relay"),
            202,
            id="basic-utf8",
        ),
        pytest.param(BASIC, {}, 401, id="basic-missing"),
        pytest.param(
            BASIC,
            basic("echo", "wrong"),
            401,
            id="basic-wrong-password",
        ),
        pytest.param(
            BASIC,
            basic("other", "s3cret-of-the-relay"),
            401,
            id="basic-wrong-user",
        ),
        pytest.param(
            BASIC,
            {"Authorization": "Basic !!!not-base64"},
            401,
            id="basic-garbage",
        ),
        pytest.param(
            BASIC,
            {"Authorization": "Bearer s3cret-of-the-relay"},
            401,
            id="bearer-when-basic-configured",
        ),
        pytest.param({"echo_token": TOKEN}, {"Authorization": f"Bearer {TOKEN}"}, 202, id="bearer"),
        pytest.param(
            {"echo_token": TOKEN}, {"Authorization": f"bearer {TOKEN}"}, 202, id="bearer-scheme-any-case"
        ),
        pytest.param({"echo_token": TOKEN}, {"Authorization": f"Bearer {TOKEN}2"}, 401, id="bearer-wrong"),
        pytest.param({"echo_token": TOKEN}, {"Authorization": "Bearer"}, 401, id="bearer-empty"),
        pytest.param({"echo_token": TOKEN}, basic("echo", TOKEN), 401, id="basic-when-bearer-configured"),
        pytest.param(
            {**BASIC, "echo_token": TOKEN},
            basic("echo", "s3cret-of-the-relay"),
            202,
            id="either-configured-basic",
        ),
        pytest.param(
            {**BASIC, "echo_token": TOKEN},
            {"Authorization": f"Bearer {TOKEN}"},
            202,
            id="either-configured-bearer",
        ),
    ],
)
def test_echo_authenticates(store: Store, options: dict, headers: dict, status: int) -> None:
    response = post(relay_client(store, **options), pipeline_event("starting"), headers=headers)
    if status == 401:
        assert_error(response, 401, "unauthorized")
        assert store.list_deliveries() == []
    else:
        assert response.status_code == status


def test_echo_checks_credentials_before_reading_the_body(store: Store) -> None:
    client = relay_client(store, echo_token=TOKEN, max_event_bytes=10)
    assert_error(post(client, b"{not json and too large"), 401, "unauthorized")


def test_echo_compares_credentials_in_constant_time(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(given, expected):
        compared.append((given, expected))
        return real(given, expected)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    client = relay_client(store, echo_token=TOKEN)
    assert (
        post(client, pipeline_event("starting"), headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert post(client, pipeline_event("starting"), headers=bearer).status_code == 202
    assert [expected for _, expected in compared] == [TOKEN.encode(), TOKEN.encode()]


def test_echo_error_never_echoes_credentials(store: Store) -> None:
    client = relay_client(store, echo_username="echo", echo_password="s3cret-of-the-relay")
    response = post(client, pipeline_event("starting"), headers=basic("echo", "s3cre"))
    assert "s3cre" not in response.get_data(as_text=True)


def test_echo_answers_413_past_the_size_limit(store: Store) -> None:
    event = pipeline_event("starting")
    size = len(json.dumps(event).encode())
    assert post(relay_client(store, max_event_bytes=size), event).status_code == 202
    assert_error(
        post(relay_client(store, max_event_bytes=size - 1), pipeline_event("starting")),
        413,
        "payload_too_large",
    )


@pytest.fixture
def live_relay(store: Store) -> Iterator[tuple[str, int]]:
    """The app behind a real HTTP server, for requests the test client cannot make (chunked bodies)."""
    app = create_app(services=Services(handlers=feature_handlers(),
                                       settings=Settings(max_event_bytes=50_000), store=store, poster=None))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield "127.0.0.1", server.server_port
    server.shutdown()
    thread.join(timeout=5)


def post_chunked(address: tuple[str, int], body: bytes, chunk: int = 4096) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(*address, timeout=10)
    try:
        connection.putrequest("POST", PATH)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        for start in range(0, len(body), chunk):
            part = body[start : start + chunk]
            connection.send(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        connection.send(b"0\r\n\r\n")
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_echo_answers_413_for_a_chunked_body_past_the_limit(live_relay: tuple[str, int]) -> None:
    event = pipeline_event("starting")
    event["content"]["padding"] = "x" * 60_000
    status, body = post_chunked(live_relay, json.dumps(event).encode())
    assert (status, body["error"]["code"]) == (413, "payload_too_large")


def test_echo_accepts_a_chunked_body_within_the_limit(live_relay: tuple[str, int], store: Store) -> None:
    status, body = post_chunked(live_relay, json.dumps(pipeline_event("starting")).encode())
    assert (status, body["result"]) == (202, "queued")
    assert len(store.list_deliveries()) == 1


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("get", PATH, 405, id="wrong-method"),
        pytest.param("post", "/echo/elsewhere", 404, id="unknown-path"),
    ],
)
def test_echo_other_requests_get_the_json_error_shape(
    client: FlaskClient, method: str, path: str, status: int
) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert set(response.get_json()["error"]) == {"code", "message", "details"}


def test_echo_health_answers_while_up(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_echo_unexpected_failure_is_a_json_500_that_logs_the_traceback_and_leaks_none(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args, **_kwargs):
        raise RuntimeError("secret-bearing detail")

    monkeypatch.setattr("relay.web.echo.receive", broken)
    response = post(client, pipeline_event("starting"))
    error = assert_error(response, 500, "internal_error")
    assert error["message"] == "the relay could not handle this request"
    assert "secret-bearing" not in response.get_data(as_text=True)
    assert response.headers["X-Request-Id"]
    [record] = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert record.exc_info[0] is RuntimeError
