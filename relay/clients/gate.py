"""Gate client: the Spinnaker API calls the relay makes, with auth, timeouts and Gate's quirks."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from urllib3.exceptions import NewConnectionError

from relay.clients.deadline import DeadlinePassed, bounded


class GateError(Exception):
    """A Gate call that failed; `final` errors (403, 404, 400) are not worth retrying. `sent` is False when
    the request certainly never reached Gate (no connection, or not called at all)."""

    def __init__(self, message: str, *, status: int | None = None, sent: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.sent = sent

    @property
    def final(self) -> bool:
        return self.status in (400, 401, 403, 404, 409, 422)


@dataclass(frozen=True)
class GateAuth:
    """How the relay authenticates to Gate: none, a bearer token, HTTP Basic, or an x509 client
    certificate."""

    token: str | None = None
    username: str | None = None
    password: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    ca_bundle: str | None = None

    def apply(self, session: requests.Session) -> None:
        if self.token:
            session.headers["Authorization"] = f"Bearer {self.token}"
        elif self.username:
            session.auth = (self.username, self.password or "")
        if self.client_cert:
            session.cert = (self.client_cert, self.client_key) if self.client_key else self.client_cert
        if self.ca_bundle:
            session.verify = self.ca_bundle


class GateClient:
    """Calls Gate. Each call is one request with a timeout (cut to the deadline of the work making it, see
    relay.clients.deadline); a failed call is retried by its caller, from the store, never here."""

    def __init__(self, base_url: str, *, auth: GateAuth = GateAuth(), timeout: float = 10.0,
                 user_header: bool = False,
                 on_call: Callable[[str, float, int | None], None] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.user_header = user_header
        self.on_call = on_call or (lambda endpoint, seconds, status: None)
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        auth.apply(self.session)
        self._identity: str | None = None

    # --- executions ---------------------------------------------------------------------------------

    def execution(self, execution_id: str) -> dict[str, Any]:
        """GET /pipelines/{id}. Gate answers 200 with an empty body when Orca refused (e.g. 403)."""
        body = self._call("GET", f"/pipelines/{_segment(execution_id)}", endpoint="get_execution")
        if not isinstance(body, dict) or not body.get("id"):
            raise GateError(f"Gate returned no execution for {execution_id} (no READ permission?)",
                            status=403)
        return body

    def judge(self, execution_id: str, stage_id: str, *, status: str, judgment_input: str | None = None,
              audit: dict[str, Any] | None = None, user: str | None = None) -> dict[str, Any] | None:
        """PATCH /pipelines/{executionId}/stages/{stageId}: `judgmentStatus` continue or stop. Sent once:
        Orca accepts a PATCH even on a finished stage, so callers re-read the stage before sending again."""
        body = {"judgmentStatus": status, "judgmentInput": judgment_input, **(audit or {})}
        return self._call("PATCH", f"/pipelines/{_segment(execution_id)}/stages/{_segment(stage_id)}",
                          json=body, headers=self._as(user), endpoint="judge")

    def cancel(self, execution_id: str, *, reason: str | None = None, user: str | None = None) -> None:
        params = {"force": "false", **({"reason": reason} if reason else {})}
        self._call("PUT", f"/pipelines/{_segment(execution_id)}/cancel", params=params,
                   headers=self._as(user), endpoint="cancel")

    def pause(self, execution_id: str, *, user: str | None = None) -> None:
        self._call("PUT", f"/pipelines/{_segment(execution_id)}/pause", headers=self._as(user),
                   endpoint="pause")

    def resume(self, execution_id: str, *, user: str | None = None) -> None:
        self._call("PUT", f"/pipelines/{_segment(execution_id)}/resume", headers=self._as(user),
                   endpoint="resume")

    def executions(self, application: str, *, statuses: str | None = None, limit: int = 10) -> list[dict]:
        """GET /applications/{app}/pipelines (sorted ascending by start time, `limit` per pipeline config)."""
        params = {"limit": limit, "expand": "true", **({"statuses": statuses} if statuses else {})}
        body = self._call("GET", f"/applications/{_segment(application)}/pipelines", params=params,
                          endpoint="list_executions")
        return body if isinstance(body, list) else []

    def latest_executions(self, pipeline_config_id: str, *, statuses: str | None = None, limit: int = 1,
                          expand: bool = False) -> list[dict]:
        """GET /executions?pipelineConfigIds=: a pipeline's latest runs (`limit` of them, Gate's default 1);
        without `expand` the stages carry no context, outputs or tasks, and the trigger is whole."""
        params = {"pipelineConfigIds": pipeline_config_id, "limit": limit, "expand": str(expand).lower(),
                  **({"statuses": statuses} if statuses else {})}
        body = self._call("GET", "/executions", params=params, endpoint="latest_executions")
        return body if isinstance(body, list) else []

    # --- pipelines ----------------------------------------------------------------------------------

    def pipeline_configs(self, application: str) -> list[dict]:
        body = self._call("GET", f"/applications/{_segment(application)}/pipelineConfigs",
                          endpoint="pipeline_configs")
        return body if isinstance(body, list) else []

    def trigger(self, application: str, pipeline: str, trigger: dict[str, Any], *,
                user: str | None = None) -> dict[str, Any]:
        """POST /pipelines/{app}/{pipelineNameOrId}; Gate answers 202 {"ref": "/pipelines/<id>"}. Never
        retried: a lost answer may hide a run that started, and a second POST would start another."""
        body = self._call("POST", f"/pipelines/{_segment(application)}/{_segment(pipeline)}", json=trigger,
                          headers=self._as(user), endpoint="trigger")
        return body if isinstance(body, dict) else {}

    def ping(self) -> dict[str, Any]:
        """GET /auth/user: who Gate takes the relay for ({} when Gate answers with something else, such as
        a login page). Gate answers 200 for the anonymous user too."""
        body = self._call("GET", "/auth/user", endpoint="auth_user")
        return body if isinstance(body, dict) else {}

    def identity(self) -> str | None:
        """The name Gate knows the relay by (GET /auth/user once, then remembered); None when Gate names no
        one. Raises GateError while Gate cannot be asked."""
        if self._identity is None:
            user = self.ping()
            self._identity = str(user.get("username") or user.get("email") or "")
        return self._identity or None

    def _as(self, user: str | None) -> dict[str, str] | None:
        """`X-SPINNAKER-USER` for Orca's own port (GATE_SEND_USER_HEADER); Gate itself ignores it."""
        return {"X-SPINNAKER-USER": user} if self.user_header and user else None

    # --- transport ----------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, endpoint: str, **kwargs: Any) -> Any:
        status = None
        started = time.monotonic()
        try:
            response = self.session.request(method, self.base_url + path, timeout=bounded(self.timeout),
                                            **kwargs)
            status = response.status_code
        except DeadlinePassed as err:
            raise GateError(f"Gate not called: {err}", sent=False) from None
        except requests.RequestException as err:
            raise GateError(f"Gate unreachable: {type(err).__name__}",
                            sent=not _never_connected(err)) from None
        finally:
            self.on_call(endpoint, time.monotonic() - started, status)
        if status >= 400:
            raise GateError(_describe(response), status=status)
        return _json_or_none(response)


def _never_connected(err: requests.RequestException) -> bool:
    """Whether the request failed before a connection to Gate was made (so Gate never saw it): a connect
    timeout, or a refused or unresolvable address (requests reports those as ConnectionError)."""
    if isinstance(err, requests.ConnectTimeout):
        return True
    cause = err.args[0] if err.args else None
    return isinstance(err, requests.ConnectionError) and isinstance(getattr(cause, "reason", None),
                                                                     NewConnectionError)


def _segment(value: str) -> str:
    """One URL path segment, quoted; an empty one, `.` and `..` are refused, since a URL means by them
    another path (`/applications/../pipelines` is `/pipelines`)."""
    text = str(value)
    if text in ("", ".", ".."):
        raise GateError(f"{text!r} cannot name anything in a Gate URL", status=400)
    return quote(text, safe="")


def _json_or_none(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _describe(response: requests.Response) -> str:
    """Gate's Spring error JSON has `message`; never echo request headers (they carry credentials)."""
    message = None
    try:
        body = response.json()
        message = body.get("message") or body.get("error") if isinstance(body, dict) else None
    except ValueError:
        pass
    return f"Gate answered {response.status_code}" + (f": {str(message)[:300]}" if message else "")
