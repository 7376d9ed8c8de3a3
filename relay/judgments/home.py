"""The App Home's "Your pending approvals" tab: published on `app_home_opened`, and when a judgment changes.

A person's tab is published when they open it, and again for everyone who opened theirs whenever a
judgment's messages change (a new judgment, a decision from anywhere, an expiry). Each tab lists exactly
what its person may decide, by the same rules as a click; every views.publish is a delivery in the outbox,
a newer tab superseding an older one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from relay.access.authorization import actor, may_judge
from relay.clients.gate import GateError
from relay.judgments.home_view import HomeFacts, Waiting, home_view
from relay.judgments.updates import AWAITING_TEMPLATE, UPDATE_TEMPLATE, stage_messages
from relay.spinnaker.execution import stage_by_id
from relay.spinnaker.judgment_stage import AWAITING, judgment_state
from relay.store import Delivery, DeliveryDraft, Job
from schemas.slack import USER_ID

if TYPE_CHECKING:
    from relay.services import Handlers, Services

log = logging.getLogger(__name__)

OPENED_JOB, REFRESH_JOB = "home.opened", "home.refresh"
HOME_TEMPLATE = "home.view"
# Whose tabs a judgment change refreshes: people who opened theirs in the last 30 days; anyone else's is
# brought up to date when they open it next.
KEEP_SECONDS = 30 * 24 * 3600.0


def register(handlers: Handlers) -> None:
    """The event that opens a tab, the jobs that publish tabs, and the judgment messages that refresh them."""
    handlers.event("app_home_opened", on_home_opened)
    handlers.job(OPENED_JOB, opened_job)
    handlers.job(REFRESH_JOB, refresh_job)
    for template in (AWAITING_TEMPLATE, UPDATE_TEMPLATE):
        handlers.sent(template, on_judgment_changed)


def on_home_opened(services: Services, event: dict[str, Any]) -> tuple[str, dict] | None:
    """Someone opened the Home tab (not the Messages tab): publish theirs, in a job."""
    user = event.get("user")
    if event.get("tab") != "home" or not isinstance(user, str) or not USER_ID.match(user):
        return None
    return OPENED_JOB, {"user_id": user}


def on_judgment_changed(services: Services, delivery: Delivery) -> None:
    """A judgment message went out or was rewritten: refresh every kept tab (one job, however many changes
    arrive before it runs)."""
    services.store.enqueue_job_once(REFRESH_JOB, {}, now=services.clock())


def opened_job(services: Services, payload: dict[str, Any], job: Job) -> None:
    user = str(payload["user_id"])
    services.store.remember_home_user(user, now=services.clock())
    publish(services, [user])


def refresh_job(services: Services, payload: dict[str, Any], job: Job) -> None:
    now = services.clock()
    publish(services, services.store.home_users(since=now - KEEP_SECONDS))


def publish(services: Services, users: list[str]) -> None:
    """Queue each user's tab: the waiting judgments are read from Gate once, then sifted per user."""
    if not users:
        return
    now = services.clock()
    waiting, unread, why = _waiting(services, now)
    ui_url = services.settings.spinnaker_ui_url
    drafts = [DeliveryDraft(thread_key=f"home@{user}", channel=user, action="home", template=HOME_TEMPLATE,
                            payload=home_view(_facts(services, user, waiting, unread=unread, why=why),
                                              ui_url=ui_url, now=now))
              for user in users]
    services.store.queue_deliveries(drafts, now=now)


def _waiting(services: Services, now: float) -> tuple[list[Waiting], int, str | None]:
    """The judgments waiting now as Gate shows them, and how many could not be read (with why): a stage the
    relay cannot see is not offered, since its decision rights cannot be checked."""
    store, gate = services.store, services.gate
    waiting: list[Waiting] = []
    unread, why = 0, None
    for timer in store.waiting_timers(now=now):
        # A decision is reported under the stage's channel message (a direct message copy only without one).
        addresses = sorted(set(stage_messages(store, timer.execution_id, timer.stage_id).values()),
                           key=lambda address: (bool(USER_ID.match(address)), address))
        if not addresses:
            continue
        if gate is None:
            unread, why = unread + 1, "the relay has no GATE_URL, so it cannot read them from Spinnaker"
            continue
        try:
            execution = gate.execution(timer.execution_id)
        except GateError as err:
            log.warning("home tabs: run %s not read: %s", timer.execution_id, err)
            unread, why = unread + 1, "Spinnaker could not be read just now"
            continue
        if judgment_state(execution, timer.stage_id).state == AWAITING:
            waiting.append(Waiting(execution=execution, stage_id=timer.stage_id, address=addresses[0],
                                   started_at=timer.started_at, deadline=timer.deadline))
    return waiting, unread, why


def _facts(services: Services, user: str, waiting: list[Waiting], *, unread: int,
           why: str | None) -> HomeFacts:
    """What `user` may decide, by the same rules as a click (policy, four eyes, Fiat); a judgment whose rights
    cannot be settled (a fact unknown) is not listed, and the reason is shown."""
    person = actor(services, user)
    listed, unknown = [], []
    for item in waiting:
        verdict = may_judge(services, person=person, execution=item.execution,
                            stage=stage_by_id(item.execution, item.stage_id), listing=True)
        if verdict.allowed:
            listed.append(item)
        elif verdict.unknown:
            unknown.append(verdict.reason)
    return HomeFacts(listed=tuple(listed), unknown=tuple(unknown), unread=unread, unread_why=why)
