"""Which Slack addresses an Echo event notifies: Echo's AbstractEventNotificationAgent rules, plus routes.

The rules follow Echo (pipeline, orchestration and stage kinds; `when` as a list or a substring; stage
preferences only with `sendNotifications` read as Java's parseBoolean, never for synthetic stages, the
legacy `stageDetails.isSynthetic` deciding when present) and Orca's Manual Judgment
stage (its `manualJudgment*` whens, an empty `when` meaning every state, legacy stages without
`sendNotifications` getting only the awaiting message). Canceled runs, which Echo drops, are reported to
preferences that ask for `<kind>.failed`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from relay.models import EchoEvent, Notification, Route
from relay.spinnaker.judgment_stage import is_judgment_stage

JUDGMENT_WHENS = {"starting": "manualJudgment", "complete": "manualJudgmentContinue",
                  "failed": "manualJudgmentStop"}
JUDGMENT_TEMPLATES = {"starting": "judgment.awaiting", "complete": "judgment.continued",
                      "failed": "judgment.stopped"}
EXECUTION_KINDS = ("pipeline", "orchestration")
STATUSES = ("starting", "complete", "failed", "skipped")
# Slack channel names have at most 80 characters; the store keys messages by address.
MAX_ADDRESS = 255


@dataclass(frozen=True)
class Decision:
    """What to notify for one event, or why nothing."""

    notifications: tuple[Notification, ...]
    reason: str | None = None


def decide(event: EchoEvent, *, types: frozenset[str], routes: Iterable[Route] = ()) -> Decision:
    """Apply the matching rules to one event."""
    origin, kind, status = event.type_parts
    if origin != "orca":
        return Decision((), "not an Orca execution event")
    if status not in STATUSES:
        return Decision((), f"unknown status {status!r}")
    if kind == "task":
        return Decision((), "task events never notify")
    if kind in EXECUTION_KINDS:
        return _execution_decision(event, kind, status, types, routes)
    if kind == "stage":
        return _stage_decision(event, status, types, routes)
    return Decision((), f"unknown event kind {kind!r}")


def _execution_decision(event: EchoEvent, kind: str, status: str, types: frozenset[str],
                        routes: Iterable[Route]) -> Decision:
    execution = event.execution
    canceled = execution.get("status") == "CANCELED" or _truthy(execution.get("canceled"))
    if canceled and status != "failed":
        return Decision((), "canceled run with a non-failed status")
    template = f"pipeline.{'canceled' if canceled else status}"
    wanted = f"{kind}.{status}"
    candidates = [p for p in _preferences(execution.get("notifications")) if _wants_echo(p, wanted)]
    candidates += [p for p in _route_preferences(event, routes, types) if _wants_echo(p, wanted)]
    return _notify(event, candidates, types, wanted, template, "no notification preference matches")


def _stage_decision(event: EchoEvent, status: str, types: frozenset[str],
                    routes: Iterable[Route]) -> Decision:
    content = event.content
    if _truthy(content.get("canceled")):
        return Decision((), "stage of a canceled run")
    context = content.get("context") if isinstance(content.get("context"), dict) else {}
    stage_details = context.get("stageDetails") if isinstance(context.get("stageDetails"), dict) else {}
    # Echo reads the legacy stageDetails flag last, so when it is present it decides.
    synthetic = stage_details.get("isSynthetic")
    if _truthy(content.get("isSynthetic") if synthetic is None else synthetic):
        return Decision((), "synthetic stages never notify")
    stage_prefs = _preferences(context.get("notifications"))
    send = context.get("sendNotifications")
    route_prefs = list(_route_preferences(event, routes, types))
    wanted = f"stage.{status}"
    # A stage that failed without a judgment to stop (it timed out, say) was judged by nobody: Orca sends no
    # manualJudgmentStop for it, and it is reported as the stage failure it is.
    judged_stop = str(context.get("judgmentStatus") or "").lower() == "stop"
    if is_judgment_stage(event) and status in JUDGMENT_WHENS and (status != "failed" or judged_stop):
        judgment_when = JUDGMENT_WHENS[status]
        # Orca sends the awaiting message whatever sendNotifications says (the legacy scheme), the others
        # only when it is true.
        orca_sends = _groovy_truth(send) or status == "starting"
        candidates = [p for p in stage_prefs if orca_sends and _wants_judgment(p, judgment_when)]
        candidates += [p for p in stage_prefs if _truthy(send) and _wants_echo(p, wanted)]
        candidates += [p for p in route_prefs if _wants_judgment(p, judgment_when) or _wants_echo(p, wanted)]
        return _notify(event, candidates, types, judgment_when, JUDGMENT_TEMPLATES[status],
                       "no notification preference matches")
    candidates = [p for p in stage_prefs if _truthy(send) and _wants_echo(p, wanted)]
    candidates += [p for p in route_prefs if _wants_echo(p, wanted)]
    return _notify(event, candidates, types, wanted, f"stage.{status}",
                   "no stage notification preference matches (or sendNotifications is off)")


def _notify(event: EchoEvent, candidates: list[dict], types: frozenset[str], when: str, template: str,
            reason: str) -> Decision:
    seen: set[str] = set()
    notifications = []
    for preference in candidates:
        address = _address(preference)
        if not isinstance(preference.get("type"), str) or preference["type"] not in types:
            continue
        if not address or address in seen:
            continue
        seen.add(address)
        notifications.append(Notification(event=event, address=address, when=when, template=template,
                                          preference=preference))
    return Decision(tuple(notifications), None if notifications else reason)


def _route_preferences(event: EchoEvent, routes: Iterable[Route], types: frozenset[str]) -> Iterator[dict]:
    application = str(event.application or event.execution.get("application") or "")
    pipeline = str(event.execution.get("name") or "")
    route_type = sorted(types)[0]
    for route in routes:
        if fnmatchcase(application, route.application) and fnmatchcase(pipeline, route.pipeline):
            yield {"type": route_type, "address": route.channel, "when": list(route.when), "route": True}


def _preferences(value: Any) -> list[dict]:
    return [p for p in value if isinstance(p, dict)] if isinstance(value, list) else []


def _wants_echo(preference: dict, wanted: str) -> bool:
    """Echo: `when` is a list (membership) or a string (substring)."""
    when = preference.get("when")
    if isinstance(when, list):
        return wanted in when
    return isinstance(when, str) and wanted in when


def _wants_judgment(preference: dict, wanted: str) -> bool:
    """Orca's Manual Judgment stage: exact values; an empty or missing `when` means every state."""
    when = preference.get("when")
    if when in (None, "", []):
        return not preference.get("route")
    values = when if isinstance(when, list) else str(when).replace(",", " ").split()
    return wanted in values


def _address(preference: dict) -> str | None:
    """A Slack channel (name or ID) or user: a short printable string; anything else notifies nobody."""
    address = preference.get("address")
    if (not isinstance(address, str) or not address.strip().isprintable()
            or len(address.strip()) > MAX_ADDRESS):
        return None
    return address.strip()


def _truthy(value: Any) -> bool:
    """Echo's reading of a flag Orca stores as a boolean or a string: Java's Boolean.parseBoolean, so only
    `true` in any case (no surrounding space) is true."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _groovy_truth(value: Any) -> bool:
    """Orca's Manual Judgment stage tests `sendNotifications` with Groovy truth: any non-empty string
    (even "false"), non-zero number or non-empty collection is true."""
    return bool(value) if isinstance(value, bool | int | float | str | list | dict) else value is not None
