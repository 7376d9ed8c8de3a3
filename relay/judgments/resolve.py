"""Carrying out a Manual Judgment clicked in Slack, in the dispatcher: read the stage from Gate, ask
relay/judgments/decide.py what comes next, and do it: check who clicked, take the stage's claim, PATCH it
once, watch Spinnaker act on it, and report back in Slack.

Each step moves the judgment's status with a compare-and-set, so a job that runs twice at once (a lost
lease) still sends one PATCH. Every message, update and private note goes through the outbox in the same
transaction as the status it reports. Waiting for Spinnaker is a JobRetry with a delay, never a sleep.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from relay.access.authorization import actor, may_judge
from relay.clients.gate import GateError
from relay.delivery.retry import JobRetry
from relay.judgments import decide as steps
from relay.judgments import notes
from relay.judgments.blocks import judgment_choices
from relay.judgments.messages import decision_label, judgment_direct_message, judgment_report
from relay.judgments.updates import (
    FINAL_RANK,
    IN_FLIGHT_RANK,
    REOPENED_RANK,
    claim_key,
    judgment_message_key,
    message_updates,
    private_note,
)
from relay.rules.policy import Verdict
from relay.spinnaker.execution import stage_by_id, triggered_by
from relay.spinnaker.judgment_stage import JUDGING, JudgmentState, judgment_state
from relay.store import (
    CLAIMED,
    DECIDED,
    DUPLICATE,
    GATE_FAILED,
    IN_FLIGHT,
    LOST,
    PATCHED,
    PATCHING,
    RECEIVED,
    REFUSED,
    RESET,
    STALE,
    UNCONFIRMED,
    DeliveryDraft,
    Job,
    Judgment,
)
from schemas.mrkdwn import escape

if TYPE_CHECKING:
    from relay.services import Services

log = logging.getLogger(__name__)

GIVE_UP_SECONDS = 600.0  # how long an unreachable Gate is retried before the judgment is reopened

Execution = dict[str, Any]


def resolve(services: Services, payload: dict[str, Any], job: Job) -> None:
    """The `judgment` job: carry one click as far as it can go now."""
    judgment = services.store.judgment(int(payload["judgment"]))
    if judgment is None or judgment.status not in (RECEIVED, *IN_FLIGHT):
        return
    _Runner(services, judgment).run()


class _Runner:
    """One run of a judgment's job: the I/O behind each step decide() names."""

    def __init__(self, services: Services, judgment: Judgment) -> None:
        self.services = services
        self.store = services.store
        self.judgment = judgment
        self.now = services.clock()
        self.steps: dict[str, Callable[[Execution, JudgmentState, steps.Step], Execution | None]] = {
            steps.STALE: self._stale, steps.REFUSE: self._refuse_click, steps.AUTHORIZE: self._authorize,
            steps.PATCH: self._patch, steps.CONFIRM: self._confirm, steps.UNSEND: self._unsend,
            steps.OVERTAKEN: self._overtaken, steps.DECIDED: self._decided, steps.WAIT: self._wait,
            steps.UNCONFIRMED: self._unconfirmed, steps.RESET: self._reset,
        }

    def run(self) -> None:
        timer = self.store.timer(claim_key(self.judgment.execution_id, self.judgment.stage_id))
        if steps.first_look(self.judgment, deadline=timer.deadline if timer else None, now=self.now):
            self._expired(timer.deadline)
            return
        if self.services.gate is None:
            self._fail("the relay has no GATE_URL, so it cannot reach Spinnaker", None)
            return
        execution = self._read()
        while execution is not None:
            reading = judgment_state(execution, self.judgment.stage_id)
            step = steps.decide(self.judgment, reading, now=self.now)
            execution = self.steps[step.kind](execution, reading, step)

    # --- steps: each returns the execution to decide the next step with, or None when this run is done ---

    def _authorize(self, execution: Execution, reading: JudgmentState, _: steps.Step) -> Execution | None:
        """Check who clicked (asking Slack and Fiat), then take the stage's claim."""
        j = self.judgment
        application = str(execution.get("application") or "")
        person = actor(self.services, j.user_id)
        verdict = may_judge(self.services, person=person, execution=execution, stage=reading.stage)
        if not verdict.allowed:
            self._refuse(verdict, application=application, user_email=person.email)
            return None
        values = {"application": application, "user_email": person.email,
                  "judgment_input": _chosen(reading, j), "snapshot": _snapshot(execution, j.stage_id)}
        claimed = dataclasses.replace(j, **values, status=CLAIMED, claimed_at=self.now)
        holder = self.store.claim_judgment(
            j.id, key=claim_key(j.execution_id, j.stage_id), values=values, now=self.now,
            drafts=self._updates(execution, IN_FLIGHT_RANK, judgment=claimed))
        if holder is None:
            return None  # another run of this job claimed first and carries on
        if holder.id != j.id:
            self._lost(holder, reading.stage)
            return None
        self.judgment = holder
        return execution

    def _patch(self, execution: Execution, reading: JudgmentState, _: steps.Step) -> Execution | None:
        """PATCH the stage once; then look again at once, as Orca acts moments after answering."""
        j = self.judgment
        if not self._move(PATCHING):
            return None
        audit = {"judgedViaSlackBy": j.user_email or j.user_id, "judgedViaSlackUserId": j.user_id,
                 "judgmentReason": j.reason}
        try:
            answer = self.services.gate.judge(j.execution_id, j.stage_id, status=j.decision,
                                              judgment_input=j.judgment_input, audit=audit, user=j.user_email)
        except GateError as err:
            self._gate_failed(err, execution, sending=True)
            return None
        recorded = judgment_state(answer, j.stage_id) if isinstance(answer, dict) else None
        if not self._move(PATCHED, patched_at=self.now, gate_status=200,
                          gate_user=recorded.judge if recorded else None):
            return None
        return self._read()

    def _confirm(self, execution: Execution, reading: JudgmentState, _: steps.Step) -> Execution | None:
        """A PATCH whose answer was lost did land: count it as sent."""
        return execution if self._move(PATCHED, patched_at=self.now, gate_user=reading.judge) else None

    def _unsend(self, execution: Execution, reading: JudgmentState, _: steps.Step) -> Execution | None:
        """A PATCH whose answer was lost did not land: back to claimed, to be decided again."""
        return execution if self._move(CLAIMED) else None

    def _wait(self, execution: Execution, reading: JudgmentState, step: steps.Step) -> Execution | None:
        raise JobRetry("waiting for Spinnaker to act on the judgment", delay=step.delay)

    def _decided(self, execution: Execution, reading: JudgmentState, _: steps.Step) -> None:
        values = {"status": DECIDED, "finished_at": self.now, "stage_status": reading.stage_status,
                  "detail": f"Spinnaker moved the stage to {reading.stage_status}"}
        decided = dataclasses.replace(self.judgment, **values)
        drafts = self._updates(execution, FINAL_RANK, judgment=decided) + self._reports(execution, decided)
        self._finish(values, drafts=drafts)

    def _unconfirmed(self, execution: Execution, reading: JudgmentState, _: steps.Step) -> None:
        values = {"status": UNCONFIRMED, "finished_at": self.now,
                  "detail": f"Spinnaker had not acted on the judgment after {steps.POLL_SECONDS:.0f} s"}
        unconfirmed = dataclasses.replace(self.judgment, **values)
        self._finish(values, drafts=self._updates(execution, IN_FLIGHT_RANK, judgment=unconfirmed),
                     tell=notes.unconfirmed(self._label(reading.stage)))

    def _reset(self, execution: Execution, reading: JudgmentState, _: steps.Step) -> None:
        """Orca put the judgment back (the required roles were checked against the relay's identity)."""
        j = self.judgment
        label, why = self._label(reading.stage), notes.reset_reason(j, reading)
        self._finish({"status": RESET, "claim": None, "finished_at": self.now, "detail": why,
                      "stage_status": reading.stage_status},
                     drafts=self._updates(execution, REOPENED_RANK,
                                          note=notes.not_accepted_line(j.user_id, label, why)),
                     tell=notes.not_accepted(label, why))

    def _overtaken(self, execution: Execution, reading: JudgmentState, _: steps.Step) -> None:
        """The stage stopped waiting (judged in Spinnaker, timed out, the run canceled) while this judgment
        held the claim: give the claim back and show what happened."""
        what = notes.describe(reading)
        rank = IN_FLIGHT_RANK if reading.state == JUDGING else FINAL_RANK
        self._finish({"status": STALE, "claim": None, "finished_at": self.now, "detail": what,
                      "stage_status": reading.stage_status},
                     drafts=self._updates(execution, rank), tell=notes.not_applied(self._label(reading.stage),
                                                                                   what))

    def _stale(self, execution: Execution, reading: JudgmentState, _: steps.Step) -> None:
        """The stage was not waiting when the click was checked: refresh the messages, tell the clicker."""
        j = self.judgment
        holder = self.store.claim_holder(claim_key(j.execution_id, j.stage_id))
        in_flight = reading.state == JUDGING or (holder is not None and holder.status in IN_FLIGHT)
        drafts = self._updates(execution, IN_FLIGHT_RANK if in_flight else FINAL_RANK, judgment=holder)
        if holder is not None and holder.user_id == j.user_id:
            self._finish(_repeat(holder, self.now), drafts=drafts)
            return
        what = notes.already(holder, reading.stage) if holder is not None else notes.describe(reading)
        self._finish({"status": STALE, "finished_at": self.now, "detail": what,
                      "stage_status": reading.stage_status, "application": execution.get("application")},
                     drafts=drafts, tell=notes.nothing_to_do(what))

    def _expired(self, deadline: float) -> None:
        """The click came after the stage's deadline: tell the clicker, ask Gate nothing."""
        self._finish({"status": STALE, "finished_at": self.now, "detail": "the judgment had expired"},
                     tell=notes.expired(deadline))

    def _refuse_click(self, execution: Execution, reading: JudgmentState, step: steps.Step) -> None:
        self._refuse(Verdict(False, step.reason or "the click cannot be applied"),
                     application=str(execution.get("application") or ""))

    # --- endings ----------------------------------------------------------------------------------

    def _lost(self, holder: Judgment, stage: dict[str, Any]) -> None:
        """Someone else's click took the claim first."""
        if holder.user_id == self.judgment.user_id:
            self._finish(_repeat(holder, self.now))
            return
        what = notes.already(holder, stage)
        self._finish({"status": LOST, "finished_at": self.now, "detail": what}, tell=notes.too_late(what))

    def _refuse(self, verdict: Verdict, **values: Any) -> None:
        """Nothing reaches Gate and the claim stays free: a refusal for want of a fact can be retried."""
        self._finish({"status": REFUSED, "finished_at": self.now, "detail": verdict.reason, **values},
                     tell=notes.refusal(verdict))

    def _gate_failed(self, err: GateError, execution: Execution | None, *, sending: bool = False) -> None:
        """A final answer (403, 404, another refusal) reopens the buttons; anything else is retried."""
        if not err.final:
            if self.now - self.judgment.received_at < GIVE_UP_SECONDS:
                raise JobRetry(str(err))
            minutes = GIVE_UP_SECONDS / 60
            self._fail(f"Spinnaker could not be reached for {minutes:.0f} minutes ({escape(str(err))})", None)
            return
        self._fail(notes.gate_refusal(err, self.judgment, execution, sending=sending), execution,
                   gate_status=err.status)

    def _fail(self, why: str, execution: Execution | None, **values: Any) -> None:
        j = self.judgment
        view = execution or json.loads(j.snapshot or "null")
        drafts = []
        if j.status in IN_FLIGHT and view:
            label = self._label(stage_by_id(view, j.stage_id))
            line = notes.did_not_go_through_line(j.user_id, label, why)
            drafts = self._updates(view, REOPENED_RANK, note=line)
        self._finish({"status": GATE_FAILED, "claim": None, "finished_at": self.now, "detail": why, **values},
                     drafts=drafts, tell=notes.did_not_go_through(why))

    # --- plumbing -----------------------------------------------------------------------------------

    def _read(self) -> Execution | None:
        """GET the execution; None when that ended this run (a final Gate error was reported)."""
        try:
            return self.services.gate.execution(self.judgment.execution_id)
        except GateError as err:
            self._gate_failed(err, None)
            return None

    def _move(self, status: str, **values: Any) -> bool:
        """Move to `status` if no other run of this job moved the judgment first."""
        moved = self.store.update_judgment(self.judgment.id, {"status": status, **values},
                                           expect=self.judgment.status, now=self.now)
        if moved:
            self.judgment = dataclasses.replace(self.judgment, status=status, **values)
        return moved

    def _finish(self, values: dict[str, Any], *, drafts: list[DeliveryDraft] | None = None,
                tell: str | None = None) -> None:
        """End this judgment's road: its status, the message updates and the clicker's note, together."""
        drafts = (drafts or []) + (self._note(tell) if tell else [])
        if not self.store.update_judgment(self.judgment.id, values, expect=self.judgment.status, now=self.now,
                                          drafts=drafts):
            return
        self.judgment = dataclasses.replace(self.judgment, **values)
        self.services.metrics.judgment(values["status"])
        log.info("judgment %d %s: %s", self.judgment.id, values["status"], values.get("detail") or "")

    def _note(self, text: str) -> list[DeliveryDraft]:
        """A private note to the clicker, in the channel (and thread) they clicked in."""
        j = self.judgment
        return private_note(text, user_id=j.user_id, channel_id=j.channel_id, thread_ts=j.thread_ts,
                            key=f"judgment-note:{j.id}")

    def _updates(self, execution: Execution, rank: int, *, judgment: Judgment | None = None,
                 note: str | None = None) -> list[DeliveryDraft]:
        return message_updates(execution, self.judgment.stage_id, settings=self.services.settings,
                               store=self.store, rank=rank, judgment=judgment, note=note)

    def _reports(self, execution: Execution, judgment: Judgment) -> list[DeliveryDraft]:
        """A reply in the channel's thread, and a direct message to whoever started the run."""
        ui_url = self.services.settings.spinnaker_ui_url
        run_key = f"{judgment.execution_id}@{judgment.address}"
        parent = run_key if self.services.settings.message_per_run else \
            judgment_message_key(judgment.execution_id, judgment.stage_id, judgment.address)
        report = judgment_report(execution, judgment.stage_id, ui_url, judgment)
        drafts = [DeliveryDraft(thread_key=run_key, channel=judgment.address, action="reply",
                                parent_key=parent, template="judgment.report", payload=report)]
        recipient = self._starter_user_id(execution)
        if recipient and recipient != judgment.user_id:
            drafts.append(DeliveryDraft(
                thread_key=f"{judgment.execution_id}@{recipient}", channel=recipient, action="post",
                template="judgment.direct",
                payload=judgment_direct_message(execution, judgment.stage_id, ui_url, judgment)))
        return drafts

    def _starter_user_id(self, execution: Execution) -> str | None:
        """The Slack user who started the run, for a direct message; a lookup that fails only skips it."""
        starter = triggered_by(execution)
        directory = self.services.directory
        if directory is None or not starter or "@" not in starter:
            return None
        try:
            return directory.user_id_for_email(starter)
        except Exception as err:  # a courtesy message must never keep the judgment from being decided
            log.warning("judgment %d: no direct message to the run's starter: %s", self.judgment.id, err)
            return None

    def _label(self, stage: dict[str, Any]) -> str:
        """The button label of this judgment's decision (Approve, Reject, or the stage's own)."""
        return decision_label(stage, self.judgment.decision)


def _chosen(reading: JudgmentState, judgment: Judgment) -> str | None:
    """The option the clicker picked, as the stage names it."""
    choices = judgment_choices(reading.stage)
    return choices[judgment.input_index] if judgment.input_index is not None else None


def _repeat(holder: Judgment, now: float) -> dict[str, Any]:
    """A second click by the one who holds the claim: dropped quietly."""
    return {"status": DUPLICATE, "finished_at": now, "detail": f"repeats judgment {holder.id}"}


def _snapshot(execution: Execution, stage_id: str) -> str:
    """The execution trimmed to what a judgment message needs: kept to reopen the buttons without Gate."""
    keys = ("id", "name", "application", "status", "type", "trigger", "authentication", "canceledBy",
            "cancellationReason")
    trimmed = {key: execution[key] for key in keys if key in execution}
    return json.dumps({**trimmed, "stages": [stage_by_id(execution, stage_id)]})
