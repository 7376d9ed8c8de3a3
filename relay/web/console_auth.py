"""Who is using the console and what they may do: HTTP Basic, an auth proxy's headers (only from the
proxy's addresses), or an OpenID Connect session (relay/web/console_oidc.py); the role the settings give
them, failing closed; the session cookie; the CSRF token; and the security headers of every answer."""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass
from typing import Any

from flask import Request, Response, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from werkzeug.security import check_password_hash, generate_password_hash

from relay.config import Settings

VIEWER, OPERATOR = "viewer", "operator"
USER_KEY, CSRF_KEY = "console_user", "console_csrf"
CSRF_FIELD, CSRF_HEADER = "csrf_token", "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600  # an OIDC sign-in lasts a working day
VERIFIED_SECONDS, VERIFIED_MAX = 300.0, 1024  # how long, and how many, Basic credentials are remembered
REALM = 'Basic realm="SlackOps Relay console", charset="UTF-8"'
# oauth2-proxy's headers (X-Forwarded-* with --pass-user-headers, X-Auth-Request-* with
# --set-xauthrequest), in the order they are read.
PROXY_HEADERS = {
    "user": ("X-Forwarded-Preferred-Username", "X-Forwarded-User", "X-Auth-Request-Preferred-Username",
             "X-Auth-Request-User"),
    "email": ("X-Forwarded-Email", "X-Auth-Request-Email"),
    "groups": ("X-Forwarded-Groups", "X-Auth-Request-Groups"),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Identity:
    """A person the console let in, and their role."""

    name: str
    email: str | None
    groups: tuple[str, ...]
    role: str

    @property
    def operator(self) -> bool:
        return self.role == OPERATOR


class Refused(Exception):
    """The request is not let in: 401 (who are you?) or 403 (not you, not from there, or no token)."""

    def __init__(self, status: int, message: str, *, sign_in: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.sign_in = sign_in  # an OIDC sign-in would help


def challenge(response: Response, err: Refused, settings: Settings) -> Response:
    """`response` asking for Basic credentials when the console signs in by Basic and none were good."""
    if err.status == 401 and settings.console_auth == "basic":
        response.headers["WWW-Authenticate"] = REALM
    return response


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, marked Secure whenever the request came over HTTPS (as the proxy in
    front of the relay reports it), so one setting serves a laptop and a TLS-terminating ingress."""

    def get_cookie_secure(self, app: Any) -> bool:
        return request.is_secure if request else super().get_cookie_secure(app)


def identify(settings: Settings, incoming: Request) -> Identity:
    """The person behind `incoming`, with a role; raises Refused. Nobody the settings name gets nothing."""
    if settings.console_auth == "basic":
        name, email, groups = _basic(settings, incoming)
    elif settings.console_auth == "proxy":
        name, email, groups = _proxied(settings, incoming)
    elif settings.console_auth == "oidc":
        name, email, groups = _signed_in()
    else:
        raise Refused(404, "the console is off")
    role = role_for(settings, name=name, email=email, groups=groups)
    if role is None:
        raise Refused(403, f"{name} is not among the console's viewers or operators")
    return Identity(name=name, email=email, groups=groups, role=role)


def admit() -> None:
    """Let the request in (a person with a role, and a CSRF token on a POST) or raise Refused; the person
    is then `g.console_identity`."""
    g.console_identity = identify(current_app.extensions["relay"].settings, request)
    if request.method == "POST":
        check_csrf(request)


def role_for(settings: Settings, *, name: str, email: str | None, groups: tuple[str, ...]) -> str | None:
    """Operator or viewer, by user name, email or `group:NAME` (any case); None for anyone else."""
    known = {value.lower() for value in (name, email) if value} | {f"group:{g.lower()}" for g in groups}
    if known & {entry.lower() for entry in settings.console_operators}:
        return OPERATOR
    if known & {entry.lower() for entry in settings.console_viewers}:
        return VIEWER
    return None


def sign_in(claims: dict[str, Any]) -> None:
    """Start a session for the person an OpenID provider vouched for (a fresh session: no fixation)."""
    session.clear()
    groups = claims.get("groups") if isinstance(claims.get("groups"), list) else []
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    name = str(claims.get("preferred_username") or email or claims["sub"])
    session[USER_KEY] = {"name": name, "email": email,
                         "groups": [str(group) for group in groups], "since": time.time()}


def csrf_token() -> str:
    """The session's CSRF token, made on first use."""
    if CSRF_KEY not in session:
        session[CSRF_KEY] = secrets.token_urlsafe(32)
    return session[CSRF_KEY]


def check_csrf(incoming: Request) -> None:
    """A POST must carry the session's token, in the form or a header; raises Refused."""
    sent = incoming.form.get(CSRF_FIELD) or incoming.headers.get(CSRF_HEADER) or ""
    expected = session.get(CSRF_KEY) or ""
    if not (sent and expected and hmac.compare_digest(sent.encode(), expected.encode())):
        raise Refused(403, "the form's CSRF token is missing or wrong: reload the page and try again")


def secure(response: Response) -> Response:
    """The console's security headers on `response`."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _basic(settings: Settings, incoming: Request) -> tuple[str, None, tuple[str, ...]]:
    credentials = incoming.authorization
    if credentials is None or credentials.type != "basic" or not credentials.username:
        raise Refused(401, "sign in with the console's user name and password")
    name, password = credentials.username, credentials.password or ""
    stored = dict(settings.console_users).get(name)
    # A password hash is slow on purpose (scrypt: tens of milliseconds), and a browser sends the same
    # credentials with every request: a pair verified lately is remembered by a keyed digest, never as text.
    seen = hmac.new(str(settings.console_secret).encode(), f"{name}\0{password}\0{stored}".encode(),
                    hashlib.sha256).digest()
    if _VERIFIED.get(seen, 0.0) > time.monotonic():
        return name, None, ()
    # Unknown names are checked against a hash too, so the answer takes as long as for a known name.
    if not check_password_hash(stored or _decoy_hash(), password) or stored is None:
        raise Refused(401, "wrong user name or password")
    if len(_VERIFIED) >= VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[seen] = time.monotonic() + VERIFIED_SECONDS
    return name, None, ()


def _proxied(settings: Settings, incoming: Request) -> tuple[str, str | None, tuple[str, ...]]:
    if not _from_proxy(settings, incoming.remote_addr):
        raise Refused(403, "the console takes sign-ins only through its auth proxy")
    found = {kind: next((incoming.headers[h] for h in names if incoming.headers.get(h)), None)
             for kind, names in PROXY_HEADERS.items()}
    name = found["user"] or found["email"]
    if not name:
        raise Refused(401, "the auth proxy did not say who is signed in")
    groups = tuple(g.strip() for g in (found["groups"] or "").split(",") if g.strip())
    return name, found["email"], groups


def _from_proxy(settings: Settings, address: str | None) -> bool:
    try:
        peer = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(peer in ipaddress.ip_network(proxy, strict=False) for proxy in settings.console_proxies)


def _signed_in() -> tuple[str, str | None, tuple[str, ...]]:
    user = session.get(USER_KEY)
    if not isinstance(user, dict) or time.time() - float(user.get("since", 0)) > SESSION_SECONDS:
        raise Refused(401, "sign in to use the console", sign_in=True)
    return str(user["name"]), user.get("email"), tuple(user.get("groups") or ())


_VERIFIED: dict[bytes, float] = {}  # keyed digest of name, password and stored hash -> remembered until


@functools.cache
def _decoy_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))
