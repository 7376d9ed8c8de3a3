"""The outbox's worker: pacing, ordering and retries of Slack deliveries and jobs."""
