"""A relay with its console on, and a store holding what the console shows: judgments waiting (with their
Slack messages) and decided, deliveries sent, failed and stuck, and waits that ended over several weeks."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import update
from werkzeug.security import generate_password_hash

from relay.config import Settings
from relay.models import ApproverPolicy
from relay.rules.policy import JUDGE, Policy
from relay.services import Services
from relay.store import FAILED, DeliveryDraft, MessageRef, Store, deliveries

NOW = 1_780_000_000.0  # a Monday-ish moment in 2026; every seeded time is before it
HOUR, DAY = 3600.0, 86400.0
SECRET = "console-session-secret-of-tests"
PASSWORDS = {"olga": "olga-operator-password", "vic": "vic-viewer-password", "nora": "nora-no-role-password"}
POLICY = Policy({JUDGE: {"payments*": ApproverPolicy(users=frozenset({"alice@example.com"}),
                                                     groups=frozenset({"S0RELEASE"}), four_eyes=True)}})
WAITING_EXECUTION = "01HWAITPAYMENTS"
FAILED_ERROR = "channel_not_found"


def console_settings(database_url: str, auth: str = "basic", **overrides: Any) -> Settings:
    """Settings with the console on: olga operates, vic views, nora has a password but no role."""
    users = tuple((name, generate_password_hash(password, method="pbkdf2:sha256:1000"))
                  for name, password in PASSWORDS.items())
    settings = Settings(database_url=database_url, console_auth=auth, console_secret=SECRET,
                        console_users=users, console_operators=frozenset({"olga", "olga@example.com"}),
                        console_viewers=frozenset({"vic", "group:release-viewers"}),
                        console_proxies=("127.0.0.1/32",), spinnaker_ui_url="https://spinnaker.example.com",
                        slack_workspace_url="https://acme.slack.com")
    return replace(settings, **overrides)


def console_services(settings: Settings, store: Store) -> Services:
    return Services(settings=settings, store=store, poster=None, policy=POLICY, clock=lambda: NOW)


def timer_values(execution_id: str, *, application: str, pipeline: str, stage: str, started: float,
                 stage_id: str = "mj") -> dict[str, Any]:
    return {"key": f"{execution_id}/{stage_id}", "execution_id": execution_id, "stage_id": stage_id,
            "application": application, "started_at": started, "deadline": started + 3 * DAY,
            "pipeline": pipeline, "stage_name": stage,
            "plan": {"every": {}, "escalate_after": None, "escalate_to": [], "snapshot": {}},
            "next_at": started + 3 * DAY}


def seed(store: Store, *, now: float = NOW) -> dict[str, Any]:
    """Everything the console's pages show, as of `now`; returns the ids tests look for."""
    store.accept_event(event_id="waiting", type="orca:stage:starting", application="payments",
                       execution_id=WAITING_EXECUTION, drafts=[], now=now - 2 * HOUR,
                       timer=timer_values(WAITING_EXECUTION, application="payments", pipeline="deploy-prod",
                                          stage="Approve production", started=now - 2 * HOUR))
    store.remember_message(f"{WAITING_EXECUTION}/mj@#deploys", MessageRef(channel="C0DEPLOYS",
                                                                          ts="1779992800.000100"), now=now)
    # Ended waits, one a week for six weeks, decided by alice or bob, or expired.
    judges = ["alice@example.com", "bob@example.com", None]
    for week in range(6):
        execution = f"01HENDED{week}"
        ended = now - (week + 1) * 7 * DAY
        started = ended - (week + 1) * HOUR
        store.accept_event(event_id=f"ended-{week}", type="orca:stage:starting", application="payments",
                           execution_id=execution, drafts=[], now=started,
                           timer=timer_values(execution, application="payments" if week % 2 else "checkout",
                                              pipeline="deploy-prod", stage="Approve", started=started))
        timer = store.timer(f"{execution}/mj")
        judge = judges[week % 3]
        store.advance_timer(timer, {"outcome": "continued" if judge else "expired", "judge": judge,
                                    "ended_at": ended, "next_at": None}, now=ended)
    ids = {"judgments": [_judgment(store, f"01HENDED{n}", user=user, status=status, decision=decision,
                                   application=application, received=now - (n + 1) * 7 * DAY, reason=reason)
                         for n, (user, status, decision, application, reason) in enumerate([
                             ("alice@example.com", "decided", "continue", "checkout", None),
                             ("bob@example.com", "decided", "stop", "payments", "=HYPERLINK(\"x\")"),
                             ("mallory@example.com", "refused", "continue", "checkout", None),
                             ("alice@example.com", "decided", "continue", "payments", None)])]}
    drafts = [DeliveryDraft(thread_key=f"run-{n}@#deploys", channel="#deploys", action="post",
                            template="pipeline.failed", payload={"text": f"run {n}"}) for n in range(3)]
    store.queue_deliveries(drafts, now=now - DAY)
    failed, stuck, _ = sorted(row["id"] for row in store.list_deliveries())
    with store.transaction() as conn:
        conn.execute(update(deliveries).where(deliveries.c.id == failed).values(
            status=FAILED, attempts=12, last_error=FAILED_ERROR, sent_at=now - DAY))
        conn.execute(update(deliveries).where(deliveries.c.id != failed, deliveries.c.id != stuck).values(
            status="sent", sent_at=now - DAY))
    ids.update(failed=failed, stuck=stuck)
    return ids


def _judgment(store: Store, execution_id: str, *, user: str, status: str, decision: str, application: str,
              received: float, reason: str | None) -> int:
    judgment_id = store.record_judgment({
        "execution_id": execution_id, "stage_id": "mj", "address": "#deploys", "decision": decision,
        "reason": reason, "user_id": "U" + user.split("@")[0].upper(), "channel_id": "C0DEPLOYS",
        "message_ts": "1779992800.000100", "status": "received"}, now=received, job_kind="judgment")
    store.update_judgment(judgment_id, {"status": status, "application": application, "user_email": user,
                                        "finished_at": received + 60}, expect="received", now=received)
    return judgment_id


def more_waits(store: Store, *, now: float, weeks: int = 4, per_week: int = 5) -> None:
    """Waits of several lengths in each of the last `weeks` weeks, for a chart whose p50 and p90 differ."""
    for week in range(weeks):
        for n in range(per_week):
            execution = f"01HMORE{week}{n}"
            ended = now - (week + 1) * 7 * DAY + n * HOUR
            started = ended - (n + 1) * (week + 1) * 0.5 * HOUR
            store.accept_event(event_id=f"more-{week}-{n}", type="orca:stage:starting",
                               application="payments", execution_id=execution, drafts=[], now=started,
                               timer=timer_values(execution, application="payments", pipeline="deploy-prod",
                                                  stage="Approve", started=started))
            store.advance_timer(store.timer(f"{execution}/mj"), {
                "outcome": "continued", "judge": "alice@example.com", "ended_at": ended, "next_at": None},
                now=ended)
