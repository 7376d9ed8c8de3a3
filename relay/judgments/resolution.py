"""Resolving a Manual Judgment clicked in Slack, in the dispatcher: re-read the stage from Gate, check who
clicked, take the stage's claim, PATCH it once, watch Spinnaker act on it, and report back in Slack.

Each step moves the judgment's status with a compare-and-set, so a job that runs twice at once (a lost
lease) still sends one PATCH. Waiting for Spinnaker is a JobRetry with a delay, never a sleep in the worker.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import TYPE_CHECKING, Any

from relay.access.authorization import may_judge
from relay.clients.fiat import FiatUnavailable
from relay.clients.gate import GateError
from relay.clients.slack import classify
from relay.delivery.retry import JobRetry
from relay.judgments.blocks import judgment_choices
from relay.judgments.messages import decision_label, judgment_direct_message, judgment_report, notice
from relay.judgments.updates import (
    FINAL_RANK,
    IN_FLIGHT_RANK,
    REOPENED_RANK,
    claim_key,
    judgment_message_key,
    message_updates,
)
from relay.spinnaker.execution import stage_by_id, triggered_by
from relay.spinnaker.judgment_stage import (
    CANCELED,
    CONTINUED,
    JUDGING,
    MISSING,
    NOT_STARTED,
    STOPPED,
    TIMED_OUT,
    JudgmentState,
    judgment_state,
    required_roles,
)
from relay.store import (
    CLAIMED,
    DECIDED,
    DUPLICATE,
    GATE_FAILED,
    IN_FLIGHT,
    LOST,
    PATCHED,
    RECEIVED,
    REFUSED,
    RESET,
    SENT_TO_GATE,
    STALE,
    UNCONFIRMED,
    DeliveryDraft,
    Judgment,
)
from schemas.mrkdwn import escape, slack_date

if TYPE_CHECKING:
    from relay.services import Services

log = logging.getLogger(__name__)

POLL_SECONDS = 60.0  # how long to watch for Orca to act on a judgment Gate accepted
MAX_POLL_DELAY = 15.0  # Orca's Manual Judgment task looks every 15 s at the most
GIVE_UP_SECONDS = 600.0  # how long an unreachable Gate or Fiat is retried before the judgment is reopened


def resolve(services: Services, payload: dict[str, Any]) -> None:
    """The `judgment` job: carry one click as far as it can go now."""
    judgment = services.store.judgment(int(payload["judgment"]))
    if judgment is None or judgment.status not in (RECEIVED, *IN_FLIGHT):
        return
    _Resolution(services, judgment).run()


class _Resolution:
    """One run of a judgment's job."""

    def __init__(self, services: Services, judgment: Judgment) -> None:
        self.services = services
        self.store = services.store
        self.judgment = judgment
        self.now = services.clock()

    def run(self) -> None:
        if self.services.gate is None:
            self._give_up("the relay has no GATE_URL, so it cannot reach Spinnaker")
            return
        execution = self._read()
        if execution is None:
            return
        reading = judgment_state(execution, self.judgment.stage_id)
        if self.judgment.status == RECEIVED:
            self._start(execution, reading)
        elif self.judgment.status == PATCHED:
            self._watch(execution, reading)
        else:
            self._send(execution, reading)

    # --- the steps ----------------------------------------------------------------------------------

    def _start(self, execution: dict[str, Any], reading: JudgmentState) -> None:
        """Check the stage and the clicker, then take the stage's claim."""
        j = self.judgment
        application = str(execution.get("application") or "")
        if not reading.open:
            self._stale(execution, reading)
            return
        choices = judgment_choices(reading.stage)
        if j.decision == "continue" and choices and j.input_index is None:
            self._refuse(f"pick one of the options first ({', '.join(choices)}), then "
                         f"{self._label(reading.stage)}", application=application)
            return
        if j.input_index is not None and j.input_index >= len(choices):
            self._refuse("the option you picked is not one this stage offers", application=application)
            return
        email = self.services.directory.email(j.user_id) if self.services.directory else None
        try:
            verdict = may_judge(self.services, user_id=j.user_id, email=email, execution=execution,
                                stage=reading.stage)
        except FiatUnavailable as err:
            self._retry_later(str(err))
            return
        if not verdict.allowed:
            self._refuse(verdict.reason, application=application, user_email=email)
            return
        values = {"application": application, "user_email": email,
                  "judgment_input": choices[j.input_index] if j.input_index is not None else None,
                  "snapshot": _snapshot(execution, j.stage_id)}
        claimed = dataclasses.replace(j, **values, status=CLAIMED, claimed_at=self.now)
        holder = self.store.claim_judgment(
            j.id, key=claim_key(j.execution_id, j.stage_id), values=values, now=self.now,
            drafts=self._updates(execution, IN_FLIGHT_RANK, judgment=claimed))
        if holder is None:
            return  # another run of this job claimed first and carries on
        if holder.id != j.id:
            self._lost(holder, reading.stage)
            return
        self.judgment = holder
        self._send(execution, reading)

    def _send(self, execution: dict[str, Any], reading: JudgmentState) -> None:
        """PATCH the stage once. A PATCH whose answer was lost is checked against the stage before another."""
        j = self.judgment
        if j.status == SENT_TO_GATE:
            if _asks_same(j, reading) or _done_as_asked(j, reading):
                if self._move(PATCHED, patched_at=self.now, gate_user=reading.judge):
                    self._watch(execution, reading)
                return
            if not self._move(CLAIMED):
                return
        if not reading.open:
            self._overtaken(execution, reading)
            return
        if not self._move(SENT_TO_GATE):
            return
        audit = {"judgedViaSlackBy": j.user_email or j.user_id, "judgedViaSlackUserId": j.user_id,
                 "judgmentReason": j.reason}
        try:
            answer = self.services.gate.judge(j.execution_id, j.stage_id, status=j.decision,
                                              judgment_input=j.judgment_input, audit=audit, user=j.user_email)
        except GateError as err:
            if err.final:
                self._gate_refused(err, execution, sending=True)
            else:
                self._retry_later(str(err))
            return
        recorded = judgment_state(answer, j.stage_id) if isinstance(answer, dict) else None
        if not self._move(PATCHED, patched_at=self.now, gate_status=200,
                          gate_user=recorded.judge if recorded else None):
            return
        fresh = self._read()  # Orca acts on a judgment moments after answering; look again at once
        if fresh is not None:
            self._watch(fresh, judgment_state(fresh, j.stage_id))

    def _watch(self, execution: dict[str, Any], reading: JudgmentState) -> None:
        """After Gate took the judgment: did Orca act on it, reset it, or is it still to come?"""
        j = self.judgment
        if _done_as_asked(j, reading):
            self._decided(execution, reading)
        elif reading.state == JUDGING and _asks_same(j, reading):
            waited = self.now - (j.patched_at or self.now)
            if waited >= POLL_SECONDS:
                self._unconfirmed(execution)
                return
            raise JobRetry("waiting for Spinnaker to act on the judgment",
                           delay=min(MAX_POLL_DELAY, max(1.0, waited)))
        elif reading.open:
            self._reset(execution, reading)
        else:
            self._overtaken(execution, reading)

    # --- outcomes -----------------------------------------------------------------------------------

    def _decided(self, execution: dict[str, Any], reading: JudgmentState) -> None:
        values = {"status": DECIDED, "finished_at": self.now, "stage_status": reading.stage_status,
                  "detail": f"Spinnaker moved the stage to {reading.stage_status}"}
        decided = dataclasses.replace(self.judgment, **values)
        drafts = self._updates(execution, FINAL_RANK, judgment=decided) + self._reports(execution, decided)
        self._finish(values, drafts=drafts)

    def _unconfirmed(self, execution: dict[str, Any]) -> None:
        values = {"status": UNCONFIRMED, "finished_at": self.now,
                  "detail": f"Spinnaker had not acted on the judgment after {POLL_SECONDS:.0f} s"}
        unconfirmed = dataclasses.replace(self.judgment, **values)
        label = self._label(stage_by_id(execution, self.judgment.stage_id))
        self._finish(values, drafts=self._updates(execution, IN_FLIGHT_RANK, judgment=unconfirmed),
                     tell=f"Spinnaker took your {escape(label)} but has not acted on it after a minute; the "
                          f"message will change when it does.")

    def _reset(self, execution: dict[str, Any], reading: JudgmentState) -> None:
        """Orca put the judgment back (the required roles were checked against the relay's identity)."""
        j = self.judgment
        label = self._label(reading.stage)
        roles = ", ".join(required_roles(reading.stage))
        identity = escape(j.gate_user or "the relay's Spinnaker identity")
        if j.gate_user is not None and reading.judge != j.gate_user:
            why = f"{escape(reading.judge or 'someone')} changed it in Spinnaker after the relay sent it"
        elif roles:
            why = (f"it checks the stage's required roles ({escape(roles)}) against {identity}, the identity "
                   f"the relay uses in Spinnaker, and put the judgment back")
        else:
            why = "it put the judgment back without acting on it"
        note = f":warning: <@{j.user_id}>'s {escape(label)} was not accepted by Spinnaker: {why}."
        self._finish({"status": RESET, "claim": None, "finished_at": self.now, "detail": why,
                      "stage_status": reading.stage_status},
                     drafts=self._updates(execution, REOPENED_RANK, note=note),
                     tell=f":warning: Spinnaker did not accept your {escape(label)}: {why}. Nothing was "
                          f"decided, and the buttons are back.")

    def _overtaken(self, execution: dict[str, Any], reading: JudgmentState) -> None:
        """The stage stopped waiting (judged in Spinnaker, timed out, the run canceled) while this judgment
        held the claim: give the claim back and show what happened."""
        what = _describe(reading)
        rank = IN_FLIGHT_RANK if reading.state == JUDGING else FINAL_RANK
        label = escape(self._label(reading.stage))
        self._finish({"status": STALE, "claim": None, "finished_at": self.now, "detail": what,
                      "stage_status": reading.stage_status},
                     drafts=self._updates(execution, rank), tell=f"Your {label} was not applied: {what}.")

    def _stale(self, execution: dict[str, Any], reading: JudgmentState) -> None:
        """The stage was not waiting when the click was checked: refresh the messages, tell the clicker."""
        j = self.judgment
        holder = self.store.claim_holder(claim_key(j.execution_id, j.stage_id))
        in_flight = reading.state == JUDGING or (holder is not None and holder.status in IN_FLIGHT)
        drafts = self._updates(execution, IN_FLIGHT_RANK if in_flight else FINAL_RANK, judgment=holder)
        if holder is not None and holder.user_id == j.user_id:
            self._finish(_repeat(holder, self.now), drafts=drafts)
            return
        what = _already(holder, reading.stage) if holder is not None else _describe(reading)
        self._finish({"status": STALE, "finished_at": self.now, "detail": what,
                      "stage_status": reading.stage_status, "application": execution.get("application")},
                     drafts=drafts, tell=f"Nothing to do: {what}.")

    def _lost(self, holder: Judgment, stage: dict[str, Any]) -> None:
        """Someone else's click took the claim first."""
        if holder.user_id == self.judgment.user_id:
            self._finish(_repeat(holder, self.now))
            return
        what = _already(holder, stage)
        self._finish({"status": LOST, "finished_at": self.now, "detail": what}, tell=f"Too late: {what}.")

    def _refuse(self, reason: str, **values: Any) -> None:
        self._finish({"status": REFUSED, "finished_at": self.now, "detail": reason, **values},
                     tell=f":no_entry: You cannot judge this from Slack: {escape(reason)}.")

    def _gate_refused(self, err: GateError, execution: dict[str, Any] | None, *,
                      sending: bool = False) -> None:
        """Gate answered 403, 404 or another final error: nothing was decided; say why, reopen the buttons."""
        j = self.judgment
        application = escape(j.application or (execution or {}).get("application") or "this application")
        if err.status == 404:
            why = f"Spinnaker has no run {escape(j.execution_id)} any more (Gate answered 404)"
        elif err.status == 403 and sending:
            why = (f"Gate answered 403: the identity the relay uses in Spinnaker may not run {application}'s "
                   f"pipelines (it needs EXECUTE on {application})")
        elif err.status == 403:
            why = (f"the relay may not read this run in Spinnaker (Gate answered 403 or nothing at all): its "
                   f"Spinnaker identity needs READ on {application}")
        else:
            why = f"Spinnaker refused the judgment: {escape(str(err))}"
        self._fail(why, execution, gate_status=err.status)

    def _give_up(self, why: str) -> None:
        self._fail(why, None)

    def _fail(self, why: str, execution: dict[str, Any] | None, **values: Any) -> None:
        j = self.judgment
        view = execution or json.loads(j.snapshot or "null")
        drafts = []
        if j.status in IN_FLIGHT and view:
            label = self._label(stage_by_id(view, j.stage_id))
            note = f":warning: <@{j.user_id}>'s {escape(label)} did not go through: {why}."
            drafts = self._updates(view, REOPENED_RANK, note=note)
        self._finish({"status": GATE_FAILED, "claim": None, "finished_at": self.now, "detail": why, **values},
                     drafts=drafts, tell=f":warning: Nothing was decided: {why}.")

    def _retry_later(self, reason: str) -> None:
        """Gate or Fiat is unreachable or failing: try again later, or give up after GIVE_UP_SECONDS."""
        if self.now - self.judgment.received_at < GIVE_UP_SECONDS:
            raise JobRetry(reason)
        minutes = GIVE_UP_SECONDS / 60
        self._give_up(f"Spinnaker could not be reached for {minutes:.0f} minutes ({escape(reason)})")

    # --- plumbing -----------------------------------------------------------------------------------

    def _read(self) -> dict[str, Any] | None:
        """GET the execution; None when that ended this run (a final Gate error was reported)."""
        try:
            return self.services.gate.execution(self.judgment.execution_id)
        except GateError as err:
            if err.final:
                self._gate_refused(err, None)
                return None
            self._retry_later(str(err))
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
        if not self.store.update_judgment(self.judgment.id, values, expect=self.judgment.status, now=self.now,
                                          drafts=drafts or []):
            return
        self.judgment = dataclasses.replace(self.judgment, **values)
        self.services.metrics.judgment(values["status"])
        log.info("judgment %d %s: %s", self.judgment.id, values["status"], values.get("detail") or "")
        if tell:
            self._tell(tell)

    def _tell(self, text: str) -> None:
        """An ephemeral note to the clicker only; Slack does not guarantee these, so failures are logged."""
        j = self.judgment
        poster = self.services.poster
        if poster is None or not j.channel_id:
            return
        try:
            poster.post_ephemeral(j.channel_id, j.user_id, notice(text), thread_ts=j.thread_ts)
        except Exception as err:  # an undelivered note must not undo the judgment's outcome
            log.warning("could not tell %s about judgment %d: %s", j.user_id, j.id, classify(err).error)

    def _updates(self, execution: dict[str, Any], rank: int, *, judgment: Judgment | None = None,
                 note: str | None = None) -> list[DeliveryDraft]:
        return message_updates(execution, self.judgment.stage_id, settings=self.services.settings,
                               store=self.store, rank=rank, judgment=judgment, note=note)

    def _reports(self, execution: dict[str, Any], judgment: Judgment) -> list[DeliveryDraft]:
        """A reply in the channel's thread, and a direct message to whoever started the run."""
        ui_url = self.services.settings.spinnaker_ui_url
        run_key = f"{judgment.execution_id}@{judgment.address}"
        parent = run_key if self.services.settings.message_per_run else \
            judgment_message_key(judgment.execution_id, judgment.stage_id, judgment.address)
        report = judgment_report(execution, judgment.stage_id, ui_url, judgment)
        drafts = [DeliveryDraft(thread_key=run_key, channel=judgment.address, action="reply",
                                parent_key=parent, template="judgment.report", payload=report)]
        starter = triggered_by(execution)
        directory = self.services.directory
        recipient = directory.user_id_for_email(starter) if directory and starter and "@" in starter else None
        if recipient and recipient != judgment.user_id:
            drafts.append(DeliveryDraft(
                thread_key=f"{judgment.execution_id}@{recipient}", channel=recipient, action="post",
                template="judgment.direct",
                payload=judgment_direct_message(execution, judgment.stage_id, ui_url, judgment)))
        return drafts

    def _label(self, stage: dict[str, Any]) -> str:
        """The button label of this judgment's decision (Approve, Reject, or the stage's own)."""
        return decision_label(stage, self.judgment.decision)


def _asks_same(judgment: Judgment, reading: JudgmentState) -> bool:
    """The stage holds this judgment's decision, not yet acted on."""
    context = reading.stage.get("context") if isinstance(reading.stage.get("context"), dict) else {}
    return str(context.get("judgmentStatus") or "").lower() == judgment.decision


def _done_as_asked(judgment: Judgment, reading: JudgmentState) -> bool:
    return reading.state == (CONTINUED if judgment.decision == "continue" else STOPPED)


def _describe(reading: JudgmentState) -> str:
    """What happened to a stage that is not waiting for a judgment, for the person who clicked."""
    judge = escape(reading.judge or "someone")
    return {
        CONTINUED: f"it was already judged to continue by {judge}",
        STOPPED: f"it was already judged to stop by {judge}",
        JUDGING: f"{judge} is already judging it in Spinnaker",
        TIMED_OUT: "the stage timed out waiting for a judgment",
        CANCELED: "the run was canceled",
        MISSING: "Spinnaker has no Manual Judgment stage with that id in this run",
        NOT_STARTED: "the stage has not started yet",
    }.get(reading.state, f"the stage ended ({escape(reading.stage_status or 'unknown status')})")


def _already(holder: Judgment, stage: dict[str, Any]) -> str:
    """Who decided first, what, and when."""
    when = slack_date(holder.claimed_at or holder.received_at)
    return f"<@{holder.user_id}> already chose *{escape(decision_label(stage, holder.decision))}* {when}"


def _repeat(holder: Judgment, now: float) -> dict[str, Any]:
    """A second click by the one who holds the claim: dropped quietly."""
    return {"status": DUPLICATE, "finished_at": now, "detail": f"repeats judgment {holder.id}"}


def _snapshot(execution: dict[str, Any], stage_id: str) -> str:
    """The execution trimmed to what a judgment message needs: kept to reopen the buttons without Gate."""
    keys = ("id", "name", "application", "status", "type", "trigger", "authentication", "canceledBy",
            "cancellationReason")
    trimmed = {key: execution[key] for key in keys if key in execution}
    return json.dumps({**trimmed, "stages": [stage_by_id(execution, stage_id)]})
