"""Running wrk (Debian's `wrk` package) with bench/echo_events.lua and reading its summary."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("echo_events.lua")
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles in milliseconds, and how the server answered."""

    requests_per_second: float
    requests: int
    latency_ms: dict[int, float]
    accepted: int  # 202
    ignored: int  # 200
    other: int  # anything else (errors)
    socket_errors: int


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: `apt-get install -y wrk` (Debian's package)")
    return path


def run_wrk(url: str, *, events_dir: Path, run_id: str, token: str, duration: float, connections: int,
            threads: int = 1) -> WrkResult:
    """Load `url` with the event mix in `events_dir` for `duration` seconds."""
    env = {**os.environ, "BENCH_EVENTS_DIR": str(events_dir), "BENCH_RUN_ID": run_id,
           "BENCH_ECHO_TOKEN": token}
    command = [require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "30s",
               "--latency", "-s", str(SCRIPT), url]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return parse(output)


def parse(output: str) -> WrkResult:
    latency = {int(p): _ms(value) for p, value in re.findall(r"^\s*(50|75|90|99)%\s+(\S+)\s*$", output, re.M)}
    answers = re.search(r"answers: 202=(\d+) 200=(\d+) other=(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if len(latency) != 4 or not (answers and rate and total):
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    accepted, ignored, other = (int(n) for n in answers.groups())
    return WrkResult(requests_per_second=float(rate.group(1)), requests=int(total.group(1)),
                     latency_ms=latency, accepted=accepted, ignored=ignored, other=other,
                     socket_errors=sum(int(n) for n in errors.groups()) if errors else 0)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * UNITS[unit]
