"""The outbox worker: leases deliveries and jobs, runs them side by side in two lanes of threads, sends to
Slack in order and at Slack's pace, retries, gives up."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from relay.clients.deadline import Stopping, deadline
from relay.clients.slack import GONE_ERRORS, SlackFailure, SlackPoster, classify
from relay.delivery.lanes import Lane
from relay.delivery.retry import JobRetry
from relay.metrics import Metrics
from relay.store import DRY_RUN, Delivery, Job, MessageRef, Store

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300.0
# The longest a worker sleeps: a new event is seen this soon, so it bounds the event-to-Slack latency when
# nothing is queued (half of it on average), against one cheap look at the outbox per wait.
IDLE_WAIT_SECONDS = 0.1
MIN_WAIT_SECONDS = 0.005  # the shortest, so a delivery another worker is sending costs no busy loop
# A channel's interval counts from when its last request was sent, plus a margin: Slack counts from when it
# receives a post, and one request may take longer to reach it than the next (see `_pace`).
PACING_MARGIN_SECONDS = 0.05
DELIVERY, JOB = "delivery", "job"
# Once stopping, how long a job in flight may still make calls (its answer to a person, most often); past
# it, the job is handed back to be run again, so a stopping worker never waits on a job's slow calls.
STOP_GRACE_SECONDS = 3.0


def backoff(attempts: int, *, rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter: 1, 2, 4 … seconds, capped at five minutes, times 0.5-1.0."""
    return min(MAX_BACKOFF_SECONDS, 2.0 ** attempts) * (0.5 + rng() / 2)


class Dispatcher:
    """Sends what the outbox holds and runs queued jobs. `run_once` does one lease-and-run pass on the
    calling thread; `run` loops until stopped, deliveries and jobs each in a lane of threads of their own."""

    def __init__(self, *, store: Store, poster: SlackPoster | None, max_attempts: int = 12,
                 channel_interval: float = 1.0, lease_seconds: float = 60.0,
                 clock: Callable[[], float] = time.time, worker_id: str | None = None,
                 on_result: Callable[[Delivery, str], None] | None = None,
                 run_job: Callable[[Job], None] | None = None,
                 render: Callable[[Delivery], dict] | None = None,
                 join_refusal: Callable[[Delivery], str | None] | None = None,
                 delivery_threads: int = 1, job_threads: int = 1, job_deadline: float = 60.0,
                 metrics: Metrics | None = None) -> None:
        self.store = store
        self.poster = poster
        self.max_attempts = max_attempts
        self.channel_interval = channel_interval
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self.on_result = on_result or (lambda delivery, outcome: None)
        self.run_job = run_job
        # Turns a delivery's recipe into its message (the webhook leaves rendering to the worker).
        self.render = render or _no_renderer
        # Why the bot must not join a delivery's channel (None: it may); without one it never joins.
        self.join_refusal = join_refusal or (lambda delivery: "joining channels is off")
        self.delivery_threads = delivery_threads
        self.job_threads = job_threads
        self.job_deadline = job_deadline
        self.metrics = metrics or Metrics()
        self._closing = Stopping(grace=STOP_GRACE_SECONDS)
        self._sent = threading.local()  # when this thread's last request to Slack was sent, and answered
        self._fastest = float("inf")  # the quickest answer Slack has given this dispatcher, in seconds

    def run_once(self, stop: threading.Event | None = None) -> int:
        """Lease what is due and send it, then run due jobs, on this thread; returns how many were leased.
        Once `stop` is set, leased deliveries not yet started are left for `run` to release, and no job is
        taken."""
        stopping = stop.is_set if stop is not None else lambda: False
        leased = self.store.lease_deliveries(worker=self.worker_id, now=self.clock(),
                                             lease=self.lease_seconds, interval=self.channel_interval)
        for delivery in leased:
            if stopping():
                break
            self._deliver(delivery)
        jobs = self.store.lease_jobs(worker=self.worker_id, now=self.clock(), lease=self.lease_seconds) \
            if self.run_job and not stopping() else []
        for job in jobs:
            if stopping():
                break
            self._run(job)
        return len(leased) + len(jobs)

    def run(self, stop: threading.Event) -> None:
        """Lease into the two lanes as their threads free up, until `stop` is set; leases are renewed while
        their work runs. Then work in flight finishes and anything leased but not started is handed back."""
        log.info("dispatcher %s started with %d delivery and %d job threads%s", self.worker_id,
                 self.delivery_threads, self.job_threads,
                 " (dry-run: nothing is sent to Slack)" if self.poster is None else "")
        freed = threading.Event()
        deliveries = Lane(DELIVERY, threads=self.delivery_threads, on_free=freed.set)
        jobs = Lane(JOB, threads=self.job_threads, on_free=freed.set)
        for lane in (deliveries, jobs):
            self.metrics.lane_opened(lane.name, lane.threads)
        self._closing.clear()
        closed = threading.Event()
        renewer = threading.Thread(target=self._renew_leases, args=(closed,), name="relay-lease-renewal",
                                   daemon=True)
        renewer.start()
        try:
            while not stop.is_set():
                freed.clear()
                try:
                    taken = self._fill(deliveries, jobs)
                    wait = 0.0 if taken else IDLE_WAIT_SECONDS if not deliveries.free() else self._idle_wait()
                except Exception:  # a database hiccup must not kill the worker
                    log.exception("dispatcher pass failed")
                    wait = IDLE_WAIT_SECONDS
                if wait:
                    freed.wait(wait)  # a thread coming free cuts the wait short
        finally:
            self._closing.set()
            for lane in (deliveries, jobs):
                lane.close()
            closed.set()
            renewer.join()
            released = self.store.release(self.worker_id)
            log.info("dispatcher %s stopped, released %d deliveries and jobs", self.worker_id, released)

    def _fill(self, deliveries: Lane, jobs: Lane) -> int:
        """Lease as many deliveries and jobs as each lane has free threads, and start them."""
        taken = 0
        if deliveries.free():
            leased = self.store.lease_deliveries(worker=self.worker_id, now=self.clock(),
                                                 lease=self.lease_seconds, interval=self.channel_interval,
                                                 limit=deliveries.free())
            for delivery in leased:
                deliveries.submit(partial(self._in_lane, DELIVERY, delivery.due_at,
                                          partial(self._deliver, delivery)))
                taken += 1
        if self.run_job and jobs.free():
            leased_jobs = self.store.lease_jobs(worker=self.worker_id, now=self.clock(),
                                                lease=self.lease_seconds, limit=jobs.free())
            for job in leased_jobs:
                jobs.submit(partial(self._in_lane, JOB, job.due_at, partial(self._run, job)))
                taken += 1
        return taken

    def _in_lane(self, lane: str, due_at: float, work: Callable[[], None]) -> None:
        """Run one leased delivery or job on a lane's thread; once the dispatcher is closing, work not
        started is left leased, for `run` to hand back."""
        if self._closing.is_set():
            return
        self.metrics.lane_started(lane, self.clock() - due_at)
        try:
            work()
        except Exception:  # a bug or a database error: the lease runs out and the work is tried again
            log.exception("%s work failed in worker %s", lane, self.worker_id)
        finally:
            self.metrics.lane_finished(lane)

    def _renew_leases(self, closed: threading.Event) -> None:
        """Keep this worker's leases from running out while their calls are slow (every third of a lease),
        until the lanes are closed."""
        while not closed.wait(self.lease_seconds / 3):
            try:
                self.store.renew_leases(self.worker_id, until=self.clock() + self.lease_seconds)
            except Exception:  # the next round tries again; a lease that runs out is retaken, not lost
                log.exception("renewing the leases of %s failed", self.worker_id)

    def _run(self, job: Job) -> None:
        try:
            with deadline(self.job_deadline, stopping=self._closing):
                self.run_job(job)
        except Exception as err:  # a failing job is retried from the store, never lost with the worker
            reason = str(err)[:500] or type(err).__name__
            if job.attempts + 1 >= self.max_attempts:
                self.store.finish_job(job.id, worker=self.worker_id, now=self.clock(), error=reason)
                log.error("job %d (%s) failed for good: %s", job.id, job.kind, reason)
                return
            delay = err.delay \
                if isinstance(err, JobRetry) and err.delay is not None else backoff(job.attempts)
            self.store.retry_job(job.id, worker=self.worker_id, at=self.clock() + delay, error=reason)
            log.warning("job %d (%s) will be retried in %.1fs: %s", job.id, job.kind, delay, reason)
            return
        self.store.finish_job(job.id, worker=self.worker_id, now=self.clock())

    def _idle_wait(self) -> float:
        """Until the next delivery is due (a channel's next slot, a retry), within the wait bounds."""
        due = self.store.next_due()
        if due is None:
            return IDLE_WAIT_SECONDS
        return min(IDLE_WAIT_SECONDS, max(MIN_WAIT_SECONDS, due - self.clock()))

    def _deliver(self, delivery: Delivery) -> None:
        if delivery.recipe is not None:
            try:
                delivery = dataclasses.replace(delivery, payload=self.render(delivery))
            except Exception as err:  # a bug, or the database: tried again later like a failed send
                log.exception("delivery %d (%s) could not be rendered", delivery.id, delivery.template)
                self._failed(delivery, SlackFailure(error=f"rendering failed: {type(err).__name__}"))
                return
        rendered = delivery.payload if delivery.recipe is not None else None  # kept with the row once sent
        if self.poster is None:
            self._dry_run(delivery)
            self.store.mark_sent(delivery.id, worker=self.worker_id, now=self.clock(), ts=None,
                                 status=DRY_RUN, payload=rendered)
            self.on_result(delivery, DRY_RUN)
            return
        self._sent.at = self._sent.answered = None
        try:
            ts = self._send(delivery)
        except Exception as err:  # every failure is sorted below; nothing escapes the worker
            self._failed(delivery, classify(err))
            return
        finally:
            self._pace(delivery.channel)
        self.store.mark_sent(delivery.id, worker=self.worker_id, now=self.clock(), ts=ts, payload=rendered)
        log.info("delivered %d (%s) to %s ts=%s", delivery.id, delivery.template, delivery.channel, ts)
        self.on_result(delivery, "sent")

    def _pace(self, channel: str) -> None:
        """Hold the channel until an interval after its last request was sent, so that a slow Slack still
        takes a channel's post every interval (no other delivery of the channel is leased until this one
        ends; the lease reserved a slot an interval after it was taken, but the request may have left later).

        Slack received the request somewhere between sending and answer. The time this call took beyond the
        quickest answer seen is counted too, since a request slowed on its way (a busy network or CPU) reached
        Slack that much later, plus a small margin; never more than the whole call, as counting from the
        answer is always safe."""
        sent, answered = self._sent.at, self._sent.answered
        if sent is None or self.channel_interval <= 0:
            return
        took = answered - sent
        margin = min(took, took - self._fastest + PACING_MARGIN_SECONDS)
        self.store.hold_channel(channel, sent + self.channel_interval + margin)

    def _slack(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the poster, noting when the request was sent and answered, for `_pace` (and how quick a
        successful call can be: a failure answered at once says nothing of the way to Slack)."""
        sent = self._sent.at = self.clock()
        try:
            result = call(*args, **kwargs)
        finally:
            self._sent.answered = self.clock()
        self._fastest = min(self._fastest, self._sent.answered - sent)
        return result

    def _dry_run(self, delivery: Delivery) -> None:
        """Log what would have been sent, telling a new message from an edit of one already shown."""
        action = delivery.action
        if action == "upsert":
            key = delivery.message_key or delivery.thread_key
            existing = self.store.message(key)
            if existing is not None and existing.rank > delivery.rank:
                log.info("dry-run delivery %d (%s): left out, the run's message in %s shows a later state",
                         delivery.id, delivery.template, delivery.channel)
                return
            action = "post" if existing is None else "update"
            self.store.remember_message(key, MessageRef(delivery.channel, DRY_RUN, delivery.rank),
                                        now=self.clock())
        elif delivery.message_key:  # a judgment message, which later updates rewrite
            self.store.remember_message(delivery.message_key, MessageRef(delivery.channel, DRY_RUN,
                                                                         delivery.rank), now=self.clock())
        log.info("dry-run delivery %d (%s): %s: %s", delivery.id, delivery.template,
                 describe_delivery(action, delivery.channel, delivery.payload), delivery.payload.get("text"))
        log.debug("dry-run delivery %d body: %s", delivery.id, json.dumps(delivery.payload))

    def _send(self, delivery: Delivery) -> str | None:
        if delivery.action == "upsert":
            return self._upsert(delivery)
        if delivery.action == "home":  # the channel is the user whose Home tab the view replaces
            self.poster.publish_home(delivery.channel, delivery.payload)
            return None
        if delivery.action == "ephemeral":  # the payload names its one reader and thread beside the text
            note = delivery.payload
            self._slack(self.poster.post_ephemeral, delivery.channel, note["user"], note,
                        thread_ts=note.get("thread_ts"))
            return None
        parent = self.store.message(delivery.parent_key) \
            if delivery.action == "reply" and delivery.parent_key else None
        channel, ts = self._slack(self.poster.post, parent.channel if parent else delivery.channel,
                                  delivery.payload, thread_ts=parent.ts if parent else None)
        if delivery.message_key:
            self.store.remember_message(delivery.message_key, MessageRef(channel, ts, delivery.rank),
                                        now=self.clock())
        return ts

    def _upsert(self, delivery: Delivery) -> str | None:
        """Post the run's parent message, or update it in place unless it already shows a later state."""
        key = delivery.message_key or delivery.thread_key
        existing = self.store.message(key)
        if existing is not None:
            if existing.rank > delivery.rank:
                return existing.ts  # an older event arriving late must not roll the message back
            try:
                self._slack(self.poster.update, existing.channel, existing.ts, delivery.payload)
                self.store.remember_message(key, MessageRef(existing.channel, existing.ts, delivery.rank),
                                            now=self.clock())
                return existing.ts
            except Exception as err:
                if classify(err).error not in GONE_ERRORS:
                    raise
                log.warning("message %s in %s is gone; posting a new one", existing.ts, existing.channel)
        channel, ts = self._slack(self.poster.post, delivery.channel, delivery.payload)
        self.store.remember_message(key, MessageRef(channel, ts, delivery.rank), now=self.clock())
        return ts

    def _failed(self, delivery: Delivery, failure: SlackFailure) -> None:
        now = self.clock()
        if failure.rate_limited:
            wait = failure.retry_after if failure.retry_after is not None else self.channel_interval or 1.0
            self.store.hold_channel(delivery.channel, now + wait)
            self.store.reschedule(delivery.id, worker=self.worker_id, at=now + wait, error=failure.error,
                                  count_attempt=False)
            log.warning("Slack rate-limited delivery %d to %s; retrying in %.1fs", delivery.id,
                        delivery.channel, wait)
            self.on_result(delivery, "rate_limited")
            return
        if failure.error == "not_in_channel":
            refusal = self._join(delivery)
            if refusal is None:
                self.store.reschedule(delivery.id, worker=self.worker_id, at=now, error=failure.error)
            else:
                self._give_up(delivery, f"not_in_channel (cannot join: {refusal})")
            return
        if failure.permanent or delivery.attempts + 1 >= self.max_attempts:
            self._give_up(delivery, failure.error)
            return
        delay = backoff(delivery.attempts)
        self.store.reschedule(delivery.id, worker=self.worker_id, at=now + delay, error=failure.error)
        log.warning("delivery %d to %s failed (%s); retry in %.1fs", delivery.id, delivery.channel,
                    failure.error, delay)
        self.on_result(delivery, "retry")

    def _give_up(self, delivery: Delivery, error: str) -> None:
        self.store.mark_failed(delivery.id, worker=self.worker_id, now=self.clock(), error=error)
        log.error("delivery %d to %s failed for good: %s", delivery.id, delivery.channel, error)
        self.on_result(delivery, "failed")

    def _join(self, delivery: Delivery) -> str | None:
        """Join a public channel the bot is not in, if it may; the reason when it may not or Slack refuses
        (e.g. a private channel)."""
        channel = delivery.channel
        refusal = self.join_refusal(delivery)
        if refusal is not None:
            log.error("not joining %s: %s; invite the bot to it", channel, refusal)
            return refusal
        try:
            self.poster.join(channel)
        except Exception as err:
            reason = classify(err).error
            log.error("cannot join %s: %s; invite the bot to it", channel, reason)
            return reason
        log.info("joined %s", channel)
        return None


def _no_renderer(delivery: Delivery) -> dict:
    raise LookupError(f"no renderer for the recipe of delivery {delivery.id}")


def describe_delivery(action: str, channel: str, body: dict) -> str:
    """What a delivery does in Slack, in words: for dry-run logs and `preview`."""
    if action == "upsert":
        return f"the run's message in {channel}, posted once and then updated in place"
    if action == "update":
        return f"an update of the run's message in {channel}"
    if action == "reply":
        shown = ", also shown in the channel" if body.get("reply_broadcast") else ""
        return f"a reply in the run's thread in {channel}{shown}"
    if action == "ephemeral":
        return f"a note only {body.get('user')} sees, in {channel}"
    if action == "home":
        return f"the Home tab {channel} sees, replaced"
    return f"a new message in {channel}"
