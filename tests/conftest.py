"""Shared pytest fixtures, and hypothesis profiles (HYPOTHESIS_PROFILE=thorough for a long fuzzing run)."""

import os

import pytest
from hypothesis import HealthCheck, settings

# Modest by default so the suite stays fast; no deadline, since a slow example on a loaded CI machine is
# not a bug. Too-large data is expected: the fuzzers make huge strings and deep nesting on purpose.
settings.register_profile("relay", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.data_too_large, HealthCheck.too_slow])
settings.register_profile("thorough", settings.get_profile("relay"), max_examples=2_000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "relay"))

# slack_sdk routes even 127.0.0.1 through these and ignores NO_PROXY, so the local fakes would be unreachable.
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep proxies from the environment away from calls to the local fakes."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
