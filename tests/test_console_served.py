"""The console's auth proxy mode behind Gunicorn (`slackops-relay serve`): the peer address that counts is
the socket's, so a client cannot pass for the proxy by sending X-Forwarded-For."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.served import served_relay

pytestmark = pytest.mark.slow
CONSOLE = {"RELAY_CONSOLE_AUTH": "proxy", "RELAY_CONSOLE_SECRET": "console-session-secret-of-tests",
           "RELAY_CONSOLE_OPERATORS": "olga@example.com", "FORWARDED_ALLOW_IPS": "*"}
AS_OLGA = {"X-Forwarded-User": "olga", "X-Forwarded-Email": "olga@example.com"}


def get(url: str, headers: dict[str, str]) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, headers=headers, timeout=10, allow_redirects=False)


@pytest.mark.parametrize(("proxies", "status"), [("127.0.0.1/32", 200), ("10.9.9.9/32", 403)])
def test_console_served_believes_proxy_headers_only_from_the_proxys_address(tmp_path: Path, proxies: str,
                                                                            status: int) -> None:
    with served_relay(tmp_path, serve_args=("--no-dispatcher",), RELAY_CONSOLE_PROXIES=proxies,
                      **CONSOLE) as served:
        spoofed = {**AS_OLGA, "X-Forwarded-For": "10.9.9.9", "X-Real-IP": "10.9.9.9"}
        page = get(served.url + "/console/waiting", spoofed)
        assert page.status_code == status
        assert get(served.url + "/api/v1/stats", spoofed).status_code == status
        assert page.headers["X-Frame-Options"] == "DENY"
        assert get(served.url + "/api/v1/stats", {}).status_code == (401 if status == 200 else 403)
