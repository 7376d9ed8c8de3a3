"""From → to: a run's version against its pipeline's previous successful run, looked up from Gate in a job
and kept in the store, so every replica reads one answer."""

from __future__ import annotations

import logging
from typing import Any

from relay.clients.gate import GateClient, GateError
from relay.spinnaker.deployed import change_line
from relay.spinnaker.execution import execution_link
from relay.spinnaker.versions import Version, previous_success, version_of
from relay.store import LastSuccess, Store

log = logging.getLogger(__name__)

LOOKUP_LIMIT = 5  # successful runs asked for, so a run older than the latest few still finds its own


def known_change(store: Store, execution: dict[str, Any], ui_url: str) -> str | None:
    """The `*Change* from … → to …` line when the store holds an answer that still holds for this run;
    None when it does not (nothing is looked up here: this runs where Gate must not be waited for)."""
    config_id = execution.get("pipelineConfigId")
    found = store.last_success(str(config_id)) if config_id else None
    if found is None or not _holds_for(found, execution):
        return None
    return _line(found, execution, ui_url)


def look_up(gate: GateClient, store: Store, execution: dict[str, Any], *, now: float) -> bool:
    """Ask Gate for the pipeline's latest successful runs and store the one before this run; False when
    Gate failed or its answer does not settle it (the message then stays without from → to)."""
    config_id = execution.get("pipelineConfigId")
    if not config_id:
        return False
    found = store.last_success(str(config_id))
    if found is not None and _holds_for(found, execution):
        return True
    try:
        runs = gate.latest_executions(str(config_id), statuses="SUCCEEDED", limit=LOOKUP_LIMIT)
    except GateError as err:
        log.warning("previous run of pipeline %s not looked up: %s", config_id, err)
        return False
    previous = previous_success(runs, execution)
    others = [run for run in runs if isinstance(run, dict) and run.get("id") != execution.get("id")]
    if previous is None and others:
        return False  # only runs newer than this one came back: what preceded it is not known
    version = version_of(previous) if previous else None
    store.remember_last_success(str(config_id), LastSuccess(
        execution_id=str(previous["id"]) if previous else None,
        start_time=previous["startTime"] if previous else None,
        version=version.to_json() if version else None, checked_at=now))
    return True


def _holds_for(found: LastSuccess, execution: dict[str, Any]) -> bool:
    """A stored answer holds for a run when Gate gave it after the run started, about a run before it."""
    started = execution.get("startTime")
    if not isinstance(started, int | float):
        return False
    return found.checked_at * 1000 >= started and (found.start_time is None or found.start_time < started)


def _line(found: LastSuccess, execution: dict[str, Any], ui_url: str) -> str:
    after = version_of(execution)
    if found.execution_id is None:
        return change_line(after, first=True)
    application = str(execution.get("application") or "")
    return change_line(after, before=Version.from_json(found.version),
                       previous_url=execution_link(ui_url, application, found.execution_id))
