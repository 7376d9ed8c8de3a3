"""Waiting Manual Judgments over time. Each stage's timer starts with its awaiting message and wakes as a job
to remind the channels, escalate once, and expire the judgment at the stage's deadline, as tick() in
relay/judgments/decide.py says. Every change to a timer is a compare-and-set that queues its Slack
deliveries and its next wake-up in the same transaction, so two workers, or a worker that restarts, neither
repeat nor skip a reminder."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from relay.clients.gate import GateError
from relay.judgments import decide as steps
from relay.judgments import notes
from relay.judgments.messages import judgment_message
from relay.judgments.updates import (
    AWAITING_TEMPLATE,
    FINAL_RANK,
    claim_key,
    judgment_message_key,
    message_updates,
    stage_messages,
)
from relay.models import Notification
from relay.rules.reminders import reminder_policy
from relay.spinnaker.execution import stage_by_id, with_event_stage
from relay.spinnaker.judgment_stage import TIMED_OUT, JudgmentState, deadline, judgment_state, timeout_ms
from relay.store import DECIDED, IN_FLIGHT, TIMER_JOB, DeliveryDraft, Job, Timer

if TYPE_CHECKING:
    from relay.config import Settings
    from relay.services import Handlers, Services

log = logging.getLogger(__name__)

REMINDER_TEMPLATE = "judgment.reminder"
ESCALATION_TEMPLATE = "judgment.escalation"
SNAPSHOT_KEYS = ("id", "name", "application", "status", "type", "trigger", "authentication")

Execution = dict[str, Any]


def register(handlers: Handlers) -> None:
    """The job that wakes a judgment's timer."""
    handlers.job(TIMER_JOB, wake)


def timer_for(notifications: tuple[Notification, ...], *, settings: Settings, now: float) -> dict | None:
    """The timer a stage's awaiting messages start: its deadline, and the reminders each channel gets (the
    stage notification's `notifyEveryMs` as Orca honours it, else the application's `reminders` policy)."""
    awaiting = [n for n in notifications if n.template == AWAITING_TEMPLATE and n.event.execution_id]
    if not awaiting:
        return None
    event = awaiting[0].event
    stage_id = str(event.content.get("stageId") or "")
    execution = with_event_stage(event.execution, stage_id, event.content)
    stage = stage_by_id(execution, stage_id)
    context = stage.get("context") if isinstance(stage.get("context"), dict) else {}
    start = stage.get("startTime")
    started = start / 1000 if isinstance(start, int | float) and start > 0 else now
    policy = reminder_policy(settings.rules, event.application)
    every: dict[str, float] = {}
    for notification in awaiting:
        orca_every = notification.preference.get("notifyEveryMs")
        if isinstance(orca_every, int | float) and not isinstance(orca_every, bool) and orca_every > 0:
            every[notification.address] = orca_every / 1000
        elif policy is not None and policy.every:
            every[notification.address] = policy.every
    snapshot = {**{k: execution[k] for k in SNAPSHOT_KEYS if k in execution}, "stages": [stage]}
    values = {
        "key": claim_key(str(event.execution_id), stage_id), "execution_id": str(event.execution_id),
        "stage_id": stage_id, "application": event.application, "started_at": started,
        "deadline": deadline(stage) or started + timeout_ms(context) / 1000,
        "pipeline": _name(execution.get("name")), "stage_name": _name(stage.get("name")),
        "plan": {"every": every, "escalate_after": policy.escalate_after if policy else None,
                 "escalate_to": list(policy.escalate_to) if policy else [], "snapshot": snapshot}}
    fresh = Timer(**values, reminded={}, escalated=False, dms_pending=False, next_at=None, outcome=None,
                  judge=None, ended_at=None, version=0)
    return {**values, "next_at": steps.tick(fresh, None, now=now).next_at or now}


def _name(value: Any) -> str | None:
    """A pipeline's or stage's name as the console lists it (the column holds 255 characters)."""
    return value[:255] if isinstance(value, str) and value else None


def wake(services: Services, payload: dict[str, Any], job: Job) -> None:
    """The timer job: look at the stage, then remind, escalate, expire or stop, as tick() says."""
    store = services.store
    timer = store.timer(str(payload["timer"]))
    if timer is None or timer.outcome is not None:
        return
    now = services.clock()
    execution: Execution | None = None
    if services.gate is not None:
        try:
            execution = services.gate.execution(timer.execution_id)
        except GateError as err:
            if not err.final and now < timer.deadline:  # never remind blind: look again soon
                log.warning("judgment timer %s: Gate unreachable (%s); looking again later", timer.key, err)
                store.advance_timer(timer, {"next_at": min(timer.deadline, now + steps.RECHECK_SECONDS)},
                                    now=now)
                return
    reading = judgment_state(execution, timer.stage_id) if execution else None
    holder = store.claim_holder(timer.key)
    step = steps.tick(timer, reading, now=now, claimed=holder is not None and holder.status in IN_FLIGHT)
    view = execution or timer.plan["snapshot"]
    if step.outcome is not None:
        _end(services, timer, step, view, fresh=execution is not None, now=now)
        return
    drafts = [_reminder(services, timer, address, now) for address in step.remind]
    if step.remind:
        drafts += message_updates(view, timer.stage_id, settings=services.settings, store=store, rank=0,
                                  waited=now - timer.started_at)
    values: dict[str, Any] = {"next_at": step.next_at, "reminded": step.reminded}
    sent = {"reminder": len(step.remind)}
    if step.escalate or step.retry_dms:
        if step.escalate:
            shout = _escalation_replies(services, timer, now)
            drafts += shout
            sent["escalation"] = len(shout)
        direct, pending = _direct_messages(services, timer, view, now)
        drafts += direct
        sent["direct_message"] = len(direct)
        values.update(escalated=True, dms_pending=pending)
    if store.advance_timer(timer, values, now=now, drafts=drafts):
        for kind, count in sent.items():
            services.metrics.judgment_reminder(kind, count)


def _end(services: Services, timer: Timer, step: steps.Tick, view: Execution, *, fresh: bool,
         now: float) -> None:
    """The wait is over: rewrite every copy to say how (an expiry the relay saw first included), record the
    outcome and who decided (only when Spinnaker or a Slack judgment names them)."""
    store = services.store
    stage = stage_by_id(view, timer.stage_id)
    holder = store.claim_holder(timer.key)
    judge = step.judge
    if holder is not None and holder.status == DECIDED:
        judge = holder.user_email or holder.user_id
    if step.outcome == steps.ENDED_EXPIRED:
        expired = JudgmentState(TIMED_OUT, stage, stage_status=stage.get("status"))
        drafts = message_updates(view, timer.stage_id, settings=services.settings, store=store,
                                 rank=FINAL_RANK, reading=expired)
        ended = min(now, timer.deadline)
    else:
        drafts = message_updates(view, timer.stage_id, settings=services.settings, store=store,
                                 rank=FINAL_RANK, judgment=holder) if fresh else []
        end_time = stage.get("endTime")
        ended = end_time / 1000 if isinstance(end_time, int | float) and end_time > 0 else now
    values = {"outcome": step.outcome, "judge": judge, "ended_at": ended, "next_at": None}
    if store.advance_timer(timer, values, now=now, drafts=drafts):
        services.metrics.judgment_wait(timer.application, step.outcome, ended - timer.started_at)
        log.info("judgment timer %s: %s after %.0f s", timer.key, step.outcome, ended - timer.started_at)


def _reminder(services: Services, timer: Timer, address: str, now: float) -> DeliveryDraft:
    """A thread reply under the judgment message that mentions nobody."""
    return DeliveryDraft(thread_key=f"{timer.execution_id}@{address}", channel=address, action="reply",
                         parent_key=_parent(services, timer, address), template=REMINDER_TEMPLATE,
                         payload={"text": notes.reminder(now - timer.started_at, timer.deadline)})


def _escalation_replies(services: Services, timer: Timer, now: float) -> list[DeliveryDraft]:
    """A thread reply, shown in each channel of the judgment, that mentions the escalation's people."""
    targets = tuple(timer.plan.get("escalate_to") or ())
    text = notes.escalation(targets, now - timer.started_at, timer.deadline)
    addresses = sorted(set(stage_messages(services.store, timer.execution_id, timer.stage_id).values()))
    return [DeliveryDraft(thread_key=f"{timer.execution_id}@{address}", channel=address, action="reply",
                          parent_key=_parent(services, timer, address), template=ESCALATION_TEMPLATE,
                          payload={"text": text, "reply_broadcast": True})
            for address in addresses if address not in targets]


def _direct_messages(services: Services, timer: Timer, view: Execution,
                     now: float) -> tuple[list[DeliveryDraft], bool]:
    """The judgment message, with its buttons, in a direct message to each approver the escalation names
    (user group members too); True when a user group could not be read, so the timer tries again."""
    targets = tuple(timer.plan.get("escalate_to") or ())
    users = {t for t in targets if not t.startswith("S")}
    pending = False
    for group in (t for t in targets if t.startswith("S")):
        try:
            if services.directory is None:
                raise LookupError("no Slack token to read user groups with")
            users |= set(services.directory.group_members(group))
        except Exception as err:  # the channel was told already; the direct messages are tried again later
            log.warning("judgment timer %s: members of %s unknown (%s); trying again later", timer.key, group,
                        err)
            pending = True
    shown = stage_messages(services.store, timer.execution_id, timer.stage_id)
    drafts = []
    for user in sorted(users):
        key = judgment_message_key(timer.execution_id, timer.stage_id, user)
        if key in shown:
            continue  # sent on an earlier try
        body = judgment_message(view, timer.stage_id, services.settings.spinnaker_ui_url, channel=user,
                                waited=now - timer.started_at)
        drafts.append(DeliveryDraft(thread_key=f"{timer.execution_id}@{user}", channel=user, action="post",
                                    template=AWAITING_TEMPLATE, message_key=key, payload=body))
    return drafts, pending


def _parent(services: Services, timer: Timer, address: str) -> str:
    """What a thread reply about the judgment hangs under: the run's message, or the judgment's own."""
    if services.settings.message_per_run:
        return f"{timer.execution_id}@{address}"
    return judgment_message_key(timer.execution_id, timer.stage_id, address)
