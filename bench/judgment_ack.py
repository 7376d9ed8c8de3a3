"""How fast the relay answers a judgment click while Gate takes five seconds per request.

Runs the relay in-process against the fake Slack and the fake Gate of the test suite, posts signed
`block_actions` clicks to /slack/interactions and reports the ack latency. Gate is never on the ack path,
so its delay must not show; the Gate calls made during the clicks are counted to prove it.

    python bench/judgment_ack.py [--clicks 500] [--database-url postgresql+psycopg://.../empty_database]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, inspect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.judgment_world import APPROVER, judgment_world  # noqa: E402
from tests.slack_requests import block_actions, form  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=500)
    parser.add_argument("--database-url", help="an empty database; defaults to a fresh SQLite file")
    args = parser.parse_args()
    if args.database_url and inspect(create_engine(args.database_url)).get_table_names():
        parser.error("--database-url must name an empty database")
    options = {"database_url": args.database_url} if args.database_url else {}
    with tempfile.TemporaryDirectory() as folder, judgment_world(Path(folder), **options) as world:
        message = world.start_judgment()
        world.gate.fail_next("get_execution", status=None, delay=5.0, count=args.clicks)
        world.gate.fail_next("judge", status=None, delay=5.0, count=args.clicks)
        gate_calls = len(world.gate.calls)
        latencies = []
        for _ in range(args.clicks):
            raw = form(block_actions(message, "judgment.choose.0", user=APPROVER,
                                     trigger_id=world.slack.issue_trigger(), response_url=world.slack.url))
            headers = world.signed(raw)
            started = time.perf_counter()
            response = world.client.post("/slack/interactions", data=raw, headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        gate_calls_during_clicks = len(world.gate.calls) - gate_calls
        backend = world.store.engine.dialect.name
    cuts = statistics.quantiles(latencies, n=100)
    print(f"{args.clicks} clicks, {backend}, Gate delay 5 s, Gate calls during the clicks: "
          f"{gate_calls_during_clicks}")
    print(f"ack latency ms: p50 {cuts[49]:.2f}  p95 {cuts[94]:.2f}  p99 {cuts[98]:.2f}  "
          f"max {max(latencies):.2f}")


if __name__ == "__main__":
    main()
