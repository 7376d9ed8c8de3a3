"""A fake OpenID Connect provider as a real HTTP server on 127.0.0.1: discovery, an authorization endpoint
that signs in whoever the test says (no login form), a token endpoint checking the client's credentials and
the code, and the JWKS; id_tokens are RS256 JWTs signed with a key generated per provider."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "slackops-relay-console"
CLIENT_SECRET = "console-client-secret-for-tests"


@dataclass
class FakeOIDC:
    """The provider; `user` holds the claims of whoever signs in next. `forge` signs id_tokens with a key the
    JWKS does not publish; `wrong_nonce` and `wrong_audience` put wrong claims in them."""

    user: dict[str, Any] = field(default_factory=lambda: {"sub": "u-1", "email": "olga@example.com",
                                                          "preferred_username": "olga"})
    forge: bool = False
    wrong_nonce: bool = False
    wrong_audience: bool = False
    errors: list[str] = field(default_factory=list)
    tokens_issued: int = 0

    def __post_init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "relay-test-key"})
        self.forged_key = RSAKey.generate_key(2048, parameters={"kid": "relay-test-key"})
        self.codes: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="fake-oidc", daemon=True)

    def __enter__(self) -> FakeOIDC:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]}

    def authorize(self, query: dict[str, str]) -> str:
        """Where the browser goes next: back to the client with a code, as if the user had signed in."""
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            raise ValueError("bad authorization request")
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.codes[code] = {"nonce": query.get("nonce"), "redirect_uri": query["redirect_uri"],
                                "user": dict(self.user)}
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"

    def token(self, form: dict[str, str], authorization: str | None) -> dict[str, Any]:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
        if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
            raise PermissionError("invalid_client")
        with self.lock:
            grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            raise PermissionError("invalid_grant")
        now = int(time.time())
        audience = "someone-else" if self.wrong_audience else CLIENT_ID
        claims = {**grant["user"], "iss": self.issuer, "aud": audience, "iat": now, "exp": now + 300,
                  "nonce": "not-the-nonce" if self.wrong_nonce else grant["nonce"]}
        key = self.forged_key if self.forge else self.key
        id_token = jwt.encode({"alg": "RS256", "kid": "relay-test-key"}, claims, key)
        self.tokens_issued += 1
        return {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                "id_token": id_token}


def _handler(provider: FakeOIDC) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (the http.server spelling)
            parts = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            if parts.path == "/.well-known/openid-configuration":
                self._json(200, provider.discovery())
            elif parts.path == "/jwks":
                self._json(200, {"keys": [provider.key.as_dict(private=False)]})
            elif parts.path == "/authorize":
                try:
                    location = provider.authorize(query)
                except (ValueError, KeyError) as err:
                    provider.errors.append(str(err))
                    self._json(400, {"error": "invalid_request"})
                    return
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path != "/token":
                self._json(404, {"error": "not_found"})
                return
            try:
                self._json(200, provider.token(form, self.headers.get("Authorization")))
            except PermissionError as err:
                self._json(400 if str(err) == "invalid_grant" else 401, {"error": str(err)})

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
