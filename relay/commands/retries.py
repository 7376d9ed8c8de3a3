"""Gate failures in a command's job: tried again from the store with backoff while they may pass, and the
person told only once the relay gives up (and once, on the way, that Spinnaker is slow)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from relay.clients.gate import GateError
from relay.commands.replies import ephemeral, tell
from relay.delivery.retry import JobRetry
from relay.store import Job

if TYPE_CHECKING:
    from relay.services import Services

# How long a command keeps trying Spinnaker; with the dispatcher's backoff (1, 2, 4 … s) that is 7 tries.
GIVE_UP_SECONDS = 120.0
# Failed tries after which the person hears that the answer is coming late (about 3 s in, once).
SLOW_AFTER_TRIES = 2
SLOW = ":hourglass_flowing_sand: Spinnaker is slow to answer; still trying…"


def retryable(err: GateError) -> bool:
    """Failures that may pass: 5xx answers, timeouts and connection errors; a 4xx answer will not."""
    return err.status is None or err.status >= 500


def retry_gate(services: Services, payload: dict[str, Any], job: Job, err: GateError, *,
               retry: bool = True, notice: bool = True) -> None:
    """Raise JobRetry for a failure worth trying again while the command is young enough (and `retry` is
    not False), telling the person once that Spinnaker is slow; return when the caller should report the
    failure."""
    if not (retry and retryable(err)) or services.clock() - job.created_at >= GIVE_UP_SECONDS:
        return
    if notice and job.attempts + 1 == SLOW_AFTER_TRIES:
        tell(services, payload.get("response_url"), ephemeral(SLOW))
    raise JobRetry(f"Spinnaker did not answer: {err}")
