"""Fakes of Spinnaker's services: Gate with Orca behind it, and Fiat. Real HTTP servers on 127.0.0.1.

It keeps executions and pipeline configs in memory and reproduces the behaviour the relay must cope with
(spinnaker-protocol.md §0, §4, §6):

- `PATCH /pipelines/{id}/stages/{stageId}` merges the body into the stage context, records the caller in
  `lastModifiedBy` and answers 200 with the whole execution while the stage is still RUNNING. Orca's
  Manual Judgment task picks the judgment up later: on the next GET, or once `finish_after` seconds of the
  injected clock have passed. It checks the judge's roles then, and when they miss the stage's required
  roles it silently resets `judgmentStatus` to "" and leaves the stage RUNNING.
- The PATCH is accepted for finished stages too (the context is overwritten, nothing else happens), and a
  PATCH naming an unknown stage answers 200 with an empty body.
- Unknown executions answer 404. An execution the caller may not read answers GET with 200 and an empty
  body (Gate swallows Orca's 403) and PATCH with 403.
- The caller is whoever authenticated to Gate (`anonymous` when auth is off); `X-SPINNAKER-USER` counts
  only with `trust_user_header=True`, which models calling Orca directly.
- `fail_next` injects 5xx answers and slow answers; every request is recorded.

The fake Fiat answers `GET /authorize/{user}` with UserPermission views, and 404 for users it does not know.
"""

from __future__ import annotations

import base64
import copy
import hmac
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote

from tests.fakes import _Request, _Response, _Server

__all__ = ["FakeFiat", "FakeGate", "GateCall"]

FINISHED = frozenset({"SUCCEEDED", "TERMINAL", "CANCELED", "STOPPED", "SKIPPED", "FAILED_CONTINUE"})

T = TypeVar("T")
F = TypeVar("F", bound="_LocalFake")


@dataclass(frozen=True)
class GateCall:
    """One request the fake received; `route` names the endpoint (`get_execution`, `judge`, ...)."""

    route: str
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]  # names lower-cased
    at: float  # the fake's clock


@dataclass(frozen=True)
class _Fault:
    status: int | None
    delay: float


@dataclass
class _Pending:
    """A judgment Orca has stored but its Manual Judgment task has not looked at yet."""

    execution_id: str
    stage_id: str
    due: float


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


ROUTES: tuple[tuple[str, str, str], ...] = (
    # (method, path pattern, route name); `{}` matches one path segment
    ("GET", "/auth/user", "auth_user"),
    ("GET", "/pipelines/{}", "get_execution"),
    ("PATCH", "/pipelines/{}/stages/{}", "judge"),
    ("PUT", "/pipelines/{}/cancel", "cancel"),
    ("PUT", "/pipelines/{}/pause", "pause"),
    ("PUT", "/pipelines/{}/resume", "resume"),
    ("POST", "/pipelines/{}/{}", "trigger"),
    ("GET", "/applications/{}/pipelines", "list_executions"),
    ("GET", "/applications/{}/pipelineConfigs", "pipeline_configs"),
    ("GET", "/executions", "latest_executions"),
)


class _LocalFake:
    """Serving a fake from a daemon thread on an ephemeral port of 127.0.0.1; subclasses answer `_respond`."""

    _server: _Server | None = None
    _thread: threading.Thread | None = None

    def start(self: F) -> F:
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self)  # type: ignore[arg-type]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; injected delays are cut short. Safe to call twice."""
        if self._server is None or self._thread is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)
        self._server = self._thread = None

    def __enter__(self: F) -> F:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} has not been started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _respond(self, request: _Request) -> _Response:
        raise NotImplementedError


class FakeGate(_LocalFake):
    """A small Gate for `GateClient(fake.url)`, holding executions that behave like Orca's."""

    def __init__(
        self,
        *,
        identity: str = "anonymous",
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        roles: Mapping[str, Iterable[str]] | None = None,
        admins: Iterable[str] = (),
        trust_user_header: bool = False,
        finish_after: float | None = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`identity` is the principal Gate resolves for an authenticated caller (`username` for Basic).
        `roles` maps users to their Fiat roles; None means Fiat is off, so every judge passes the role
        check. `finish_after` is how long Orca takes to act on a judgment (None: only `process()`)."""
        self.identity = username or identity
        self.token = token
        self.username = username
        self.password = password
        self.roles = None if roles is None else {user.lower(): set(values) for user, values in roles.items()}
        self.admins = {user.lower() for user in admins}
        self.trust_user_header = trust_user_header
        self.finish_after = finish_after
        self._clock = clock
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._executions: dict[str, dict[str, Any]] = {}
        self._configs: list[dict[str, Any]] = []
        self._forbidden: set[str] = set()
        self._pending: list[_Pending] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._calls: list[GateCall] = []
        self._errors: list[BaseException] = []
        self._stopping = threading.Event()

    # -- state -----------------------------------------------------------------------------

    def add_execution(self, execution: Mapping[str, Any]) -> str:
        """Hold an execution (a copy); returns its id."""
        with self._lock:
            stored = copy.deepcopy(dict(execution))
            self._executions[stored["id"]] = stored
            self._bump()
            return stored["id"]

    def execution(self, execution_id: str) -> dict[str, Any]:
        """The execution as Orca holds it now (a copy)."""
        with self._lock:
            return copy.deepcopy(self._executions[execution_id])

    def stage(self, execution_id: str, stage_id: str) -> dict[str, Any]:
        """One stage as Orca holds it now (a copy)."""
        return copy.deepcopy(self._stage(self._executions[execution_id], stage_id))

    def add_pipeline_config(self, config: Mapping[str, Any]) -> None:
        """A pipeline config Front50 would return for its application."""
        with self._lock:
            self._configs.append(copy.deepcopy(dict(config)))

    def forbid(self, execution_id: str) -> None:
        """The caller loses READ and EXECUTE on this execution's application."""
        with self._lock:
            self._forbidden.add(execution_id)

    def judge(self, execution_id: str, stage_id: str, status: str, *, user: str,
              judgment_input: str | None = None) -> None:
        """Someone judges in Deck: the same PATCH Deck sends, as `user`, acted on at once."""
        with self._lock:
            execution = self._executions[execution_id]
            body = {"judgmentStatus": status, "judgmentInput": judgment_input}
            self._patch_stage(execution, stage_id, body, user)
            self._run_judgment_task(execution, self._stage(execution, stage_id))
            self._bump()

    def time_out(self, execution_id: str, stage_id: str) -> None:
        """The stage's timeout passes without a judgment: Orca fails the stage and the pipeline."""
        with self._lock:
            execution = self._executions[execution_id]
            stage = self._stage(execution, stage_id)
            stage["status"] = "TERMINAL"
            stage["endTime"] = self._now_ms()
            stage["context"]["exception"] = {"details": {"error": "Stage timed out",
                                                         "errors": ["Stage timed out"]}}
            execution.update(status="TERMINAL", endTime=self._now_ms())
            self._bump()

    def process(self) -> None:
        """Let Orca's Manual Judgment task act on every judgment it holds, now."""
        with self._lock:
            self._process(force=True)

    def fail_next(self, route: str, *, status: int | None = 503, count: int = 1, delay: float = 0.0) -> None:
        """The next `count` requests to `route` wait `delay` seconds, then answer `status` (None: answer
        normally, which makes them merely slow)."""
        if route not in {name for _, _, name in ROUTES}:
            raise ValueError(f"unknown route {route!r}")
        if status is None and delay <= 0:
            raise ValueError("fail_next needs a status or a delay")
        with self._lock:
            self._faults.setdefault(route, deque()).extend([_Fault(status, delay)] * count)

    # -- observations ----------------------------------------------------------------------

    @property
    def calls(self) -> list[GateCall]:
        """Every request received, in arrival order."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, route: str) -> list[GateCall]:
        """The requests received for one route (`get_execution`, `judge`, `cancel`…)."""
        return [call for call in self.calls if call.route == route]

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised inside the fake while handling requests; should stay empty."""
        with self._lock:
            return list(self._errors)

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until `predicate()` is truthy and return it; AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout:g}s; the fake Gate received "
                                         f"{[call.route for call in self._calls]}")
                self._changed.wait(timeout=min(remaining, 0.05))

    # -- request handling ------------------------------------------------------------------

    def _respond(self, request: _Request) -> _Response:
        try:
            return self._handle(request)
        except _HttpError as err:
            return _spring_error(err.status, err.message, request.path, self._now_ms())
        except Exception as exc:  # a bug in the fake must fail the test, not hang the client
            with self._lock:
                self._errors.append(exc)
            return _spring_error(500, repr(exc), request.path, self._now_ms())

    def _handle(self, request: _Request) -> _Response:
        method = request.method
        route, args = _route(method, request.path)
        query = dict(parse_qsl(request.query, keep_blank_values=True))
        try:
            body = json.loads(request.body) if request.body else None
        except ValueError:
            raise _HttpError(400, "JSON parse error") from None
        with self._lock:
            self._calls.append(GateCall(route or "unknown", method, request.path, query, body,
                                        request.headers, self._clock()))
            self._bump()
            queue = self._faults.get(route or "")
            fault = queue.popleft() if queue else None
        if fault is not None and fault.delay > 0:
            self._stopping.wait(fault.delay)
        if fault is not None and fault.status is not None:
            raise _HttpError(fault.status, "injected failure")
        if route is None:
            raise _HttpError(404, f"No handler found for {method} {request.path}")
        user = self._authenticate(request.headers)
        with self._lock:
            answer = getattr(self, f"_{route}")(args, query, body, user)
            self._bump()
            return answer

    def _authenticate(self, headers: Mapping[str, str]) -> str:
        authorization = headers.get("authorization", "")
        if self.token is not None:
            if not hmac.compare_digest(authorization, f"Bearer {self.token}"):
                raise _HttpError(401, "Full authentication is required to access this resource")
        elif self.username is not None:
            expected = base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode()
            if not hmac.compare_digest(authorization, f"Basic {expected}"):
                raise _HttpError(401, "Full authentication is required to access this resource")
        if self.trust_user_header and headers.get("x-spinnaker-user"):
            return headers["x-spinnaker-user"]
        return self.identity

    # -- endpoints (lock held) -------------------------------------------------------------

    def _auth_user(self, args: list[str], query: dict, body: Any, user: str) -> _Response:
        return _json({"username": user, "email": user if "@" in user else None, "roles": [],
                      "allowedAccounts": []})

    def _get_execution(self, args: list[str], query: dict, body: Any, user: str) -> _Response:
        execution = self._known(args[0])
        self._process(force=False)
        if args[0] in self._forbidden:
            return _Response(200, b"", [("Content-Type", "application/json")])  # Gate swallows Orca's 403
        return _json(execution)

    def _judge(self, args: list[str], query: dict, body: Any, user: str) -> _Response:
        execution = self._known(args[0])
        if args[0] in self._forbidden:
            raise _HttpError(403, "Access is denied")
        if not any(stage.get("id") == args[1] for stage in execution.get("stages", [])):
            return _Response(200, b"")  # Orca logs the failure and returns null
        self._patch_stage(execution, args[1], body if isinstance(body, dict) else {}, user)
        self._pending.append(_Pending(args[0], args[1], self._clock() + (self.finish_after or 0.0)))
        return _json(execution)

    def _cancel(self, args: list[str], query: dict, body: Any, user: str) -> _Response:
        execution = self._writable(args[0])
        if execution["status"] not in FINISHED:
            execution.update(status="CANCELED", canceled=True, canceledBy=user, endTime=self._now_ms(),
                             cancellationReason=query.get("reason"))
            for stage in execution.get("stages", []):
                if stage.get("status") in ("RUNNING", "PAUSED"):
                    stage.update(status="CANCELED", endTime=self._now_ms())
        return _Response(200, b"")

    def _pause(self, args: list[str], query: dict, body: Any, user: str) -> _Response:
        execution = self._writable(args[0])
        if execution["status"] == "RUNNING":
            execution.update(status="PAUSED", paused={"pauseTime": self._now_ms(), "pausedBy": user})
        return _Response(200, b"")

    def _resume(self, args: list[str], query: dict, body: Any, user: str) -> _Response:
        execution = self._writable(args[0])
        if execution["status"] == "PAUSED":
            execution["status"] = "RUNNING"
            execution.setdefault("paused", {})["resumeTime"] = self._now_ms()
        return _Response(200, b"")

    def _trigger(self, args: list[str], query: dict, body: Any, user: str) -> _Response:
        application, name = args
        by_name = (c for c in self._configs if _same_application(c, application) and c.get("name") == name)
        config = next(by_name, None) or next((c for c in self._configs if c.get("id") == name), None)
        if config is None:
            raise _HttpError(404, f"Pipeline config not found (application: {application}, name: {name})")
        trigger = dict(body) if isinstance(body, dict) else {}
        parameters = dict(trigger.get("parameters") or {})
        for parameter in config.get("parameterConfig") or []:
            if parameters.get(parameter["name"]) in (None, "") and parameter.get("default") not in (None, ""):
                parameters[parameter["name"]] = parameter["default"]
            if parameter.get("required") and parameters.get(parameter["name"]) in (None, ""):
                raise _HttpError(400, f"Required parameter {parameter['name']} is missing")
        execution_id = uuid.uuid4().hex[:26].upper()
        trigger.update(type=trigger.get("type") or "manual", user=trigger.get("user") or user,
                       parameters=parameters)
        stages = [{**copy.deepcopy(stage), "id": uuid.uuid4().hex, "status": "NOT_STARTED",
                   "context": {k: v for k, v in stage.items() if k not in ("name", "type", "refId")}}
                  for stage in config.get("stages") or []]
        self._executions[execution_id] = {
            "id": execution_id, "type": "PIPELINE", "application": config["application"],
            "name": config["name"],
            "pipelineConfigId": config.get("id"), "status": "RUNNING", "startTime": self._now_ms(),
            "trigger": trigger, "stages": stages, "authentication": {"user": user, "allowedAccounts": []}}
        return _json({"ref": f"/pipelines/{execution_id}"}, status=202)

    def _list_executions(self, args: list[str], query: dict, body: Any, user: str) -> _Response:
        self._process(force=False)
        statuses = {s for s in (query.get("statuses") or "").split(",") if s}
        limit = int(query.get("limit") or 10)
        expand = (query.get("expand") or "false").lower() == "true"
        found = [e for e in self._executions.values() if _same_application(e, args[0])
                 and e["id"] not in self._forbidden and (not statuses or e.get("status") in statuses)]
        per_config: dict[Any, list[dict]] = {}
        for execution in sorted(found, key=lambda e: e.get("startTime") or 0, reverse=True):
            kept = per_config.setdefault(execution.get("pipelineConfigId"), [])
            if len(kept) < limit:
                kept.append(execution if expand else _unexpanded(execution))
        chosen = [e for group in per_config.values() for e in group]
        return _json(sorted(chosen, key=lambda e: e.get("startTime") or 0))

    def _latest_executions(self, args: list[str], query: dict, body: Any, user: str) -> _Response:
        """Orca's `GET /pipelines` behind Gate's `/executions`: by `executionIds`, or the latest `limit`
        (default 1) runs of each of `pipelineConfigIds`, newest first; `expand` defaults to true here, and
        runs the caller may not READ are filtered out."""
        config_ids = [c for c in (query.get("pipelineConfigIds") or "").split(",") if c]
        execution_ids = [e for e in (query.get("executionIds") or "").split(",") if e]
        if config_ids and execution_ids:
            raise _HttpError(400, "Only pipelineConfigIds OR executionIds can be specified")
        self._process(force=False)
        statuses = {s for s in (query.get("statuses") or "").split(",") if s}
        limit = int(query.get("limit") or 1)
        expand = (query.get("expand") or "true").lower() == "true"
        readable = [e for e in self._executions.values() if e["id"] not in self._forbidden]
        if execution_ids:
            chosen = [e for e in readable if e["id"] in execution_ids]
        else:
            chosen = []
            for config_id in config_ids:
                runs = [e for e in readable if e.get("pipelineConfigId") == config_id
                        and (not statuses or e.get("status") in statuses)]
                chosen += sorted(runs, key=lambda e: e.get("startTime") or 0, reverse=True)[:limit]
        chosen.sort(key=lambda e: e.get("startTime") or 0, reverse=True)
        return _json([e if expand else _unexpanded(e) for e in chosen])

    def _pipeline_configs(self, args: list[str], query: dict, body: Any, user: str) -> _Response:
        return _json([c for c in self._configs if _same_application(c, args[0])])

    # -- Orca's behaviour (lock held) ------------------------------------------------------

    def _known(self, execution_id: str) -> dict[str, Any]:
        execution = self._executions.get(execution_id)
        if execution is None:
            raise _HttpError(404, f"Pipeline not found (id: {execution_id})")
        return execution

    def _writable(self, execution_id: str) -> dict[str, Any]:
        execution = self._known(execution_id)
        if execution_id in self._forbidden:
            raise _HttpError(403, "Access is denied")
        return execution

    def _stage(self, execution: dict[str, Any], stage_id: str) -> dict[str, Any]:
        return next(stage for stage in execution["stages"] if stage.get("id") == stage_id)

    def _patch_stage(self, execution: dict[str, Any], stage_id: str, body: dict[str, Any], user: str) -> None:
        """Orca's CompoundExecutionOperator: merge the body into the context, whatever the stage's state."""
        stage = self._stage(execution, stage_id)
        stage.setdefault("context", {}).update(copy.deepcopy(body))
        stage["context"]["lastModifiedBy"] = user
        stage["lastModified"] = {"user": user, "allowedAccounts": [], "lastModifiedTime": self._now_ms()}

    def _process(self, *, force: bool) -> None:
        now = self._clock()
        if not force and self.finish_after is None:
            return
        due = [p for p in self._pending if force or p.due <= now]
        self._pending = [p for p in self._pending if p not in due]
        for pending in due:
            execution = self._executions[pending.execution_id]
            self._run_judgment_task(execution, self._stage(execution, pending.stage_id))

    def _run_judgment_task(self, execution: dict[str, Any], stage: dict[str, Any]) -> None:
        """WaitForManualJudgmentTask: act on `judgmentStatus` if the judge holds one of the required roles."""
        if stage.get("status") != "RUNNING":
            return
        context = stage["context"]
        status = str(context.get("judgmentStatus") or "").lower()
        if status not in ("continue", "stop"):
            return
        if not self._may_judge(stage):
            context["judgmentStatus"] = ""
            return
        stage.update(status="SUCCEEDED" if status == "continue" else "TERMINAL", endTime=self._now_ms())
        if status == "stop":
            execution.update(status="TERMINAL", endTime=self._now_ms())
        elif all(s.get("status") in FINISHED for s in execution["stages"]):
            execution.update(status="SUCCEEDED", endTime=self._now_ms())

    def _may_judge(self, stage: dict[str, Any]) -> bool:
        context = stage["context"]
        required = context.get("requiredJudgmentRoles") or context.get("selectedStageRoles") or []
        if self.roles is None or not required:
            return True
        judge = str((stage.get("lastModified") or {}).get("user") or "").lower()
        return judge in self.admins or bool(self.roles.get(judge, set()) & set(required))

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _bump(self) -> None:
        self._changed.notify_all()


def _route(method: str, path: str) -> tuple[str | None, list[str]]:
    segments = [unquote(part) for part in path.strip("/").split("/")]
    for route_method, pattern, name in ROUTES:
        parts = pattern.strip("/").split("/")
        if route_method != method or len(parts) != len(segments):
            continue
        pairs = list(zip(parts, segments, strict=True))
        if all(p == "{}" or p == s for p, s in pairs):
            return name, [s for p, s in pairs if p == "{}"]
    return None, []


def _same_application(item: Mapping[str, Any], application: str) -> bool:
    """Front50 and Orca's execution queries match application names ignoring case (`PAYMENTS` finds
    `payments`); what they answer holds the name as stored."""
    return str(item.get("application") or "").lower() == application.lower()


def _unexpanded(execution: dict[str, Any]) -> dict[str, Any]:
    """`expand=false`: stages keep their identity and status, not their context, outputs or tasks."""
    slim = copy.deepcopy(execution)
    for stage in slim.get("stages", []):
        stage.update(context={}, outputs={}, tasks=[])
    return slim


def _json(payload: Any, status: int = 200) -> _Response:
    return _Response(status, json.dumps(payload).encode(), [("Content-Type", "application/json")])


def _spring_error(status: int, message: str, path: str, now_ms: int) -> _Response:
    """Spring Boot's error body, which Gate passes through from Orca."""
    reasons = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
               500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
               504: "Gateway Timeout"}
    return _json({"timestamp": now_ms, "status": status, "error": reasons.get(status, "Error"),
                  "message": message, "path": path}, status=status)


class FakeFiat(_LocalFake):
    """Users with roles and per-application authorizations; unknown users answer 404, like Fiat."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[str, dict[str, Any]] = {}
        self._down_status: int | None = None
        self._stopping = threading.Event()
        self.requests: list[str] = []

    def add_user(self, user: str, *, roles: Iterable[str] = (),
                 applications: Mapping[str, Iterable[str]] | None = None, admin: bool = False,
                 unknown_applications: bool = False) -> None:
        """`applications` maps application names to authorizations such as READ, WRITE and EXECUTE;
        `unknown_applications` is Fiat's allowAccessToUnknownApplications."""
        view = {"name": user.lower(), "admin": admin, "accounts": [], "serviceAccounts": [],
                "allowAccessToUnknownApplications": unknown_applications,
                "roles": [{"name": role, "source": "EXTERNAL"} for role in roles],
                "applications": [{"name": name, "authorizations": list(grants)}
                                 for name, grants in (applications or {}).items()]}
        with self._lock:
            self._users[user.lower()] = view

    def outage(self, status: int | None) -> None:
        """Answer every request with `status` and an HTML page, as a proxy in front of a down Fiat would;
        None ends the outage."""
        with self._lock:
            self._down_status = status

    def _respond(self, request: _Request) -> _Response:
        with self._lock:
            self.requests.append(request.path)
            if self._down_status is not None:
                page = b"<html><body>Service Unavailable</body></html>"
                return _Response(self._down_status, page, [("Content-Type", "text/html")])
            parts = request.path.strip("/").split("/")
            view = self._users.get(unquote(parts[-1]).lower()) \
                if request.method == "GET" and len(parts) == 2 and parts[0] == "authorize" else None
        if view is None:
            return _spring_error(404, "Not Found", request.path, int(time.time() * 1000))
        return _json(view)
