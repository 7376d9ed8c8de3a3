"""Shared pytest fixtures."""

import pytest

# slack_sdk routes even 127.0.0.1 through these and ignores NO_PROXY, so the local fakes would be unreachable.
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep proxies from the environment away from calls to the local fakes."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
