"""Signing in to the console with OpenID Connect (Authlib): the authorization-code flow with state and
nonce, and the id_token verified against the provider's published keys before anyone is let in."""

from __future__ import annotations

import logging

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, current_app, redirect, render_template, request, session, url_for
from joserfc.errors import JoseError

from relay.config import Settings
from relay.web.console_auth import Refused, role_for, secure, sign_in

bp = Blueprint("console_oidc", __name__, url_prefix="/console")
log = logging.getLogger(__name__)
NEXT_KEY = "console_next"
SCOPES = "openid email profile"


def init_oidc(app: Flask, settings: Settings) -> None:
    """Register the provider (its discovery document is read on the first sign-in) and the sign-in routes."""
    oauth = OAuth(app)
    oauth.register("relay", client_id=settings.console_oidc_client_id,
                   client_secret=settings.console_oidc_client_secret,
                   server_metadata_url=f"{settings.console_oidc_issuer}/.well-known/openid-configuration",
                   client_kwargs={"scope": SCOPES, "default_timeout": 10})
    app.register_blueprint(bp)


def start(next_path: str):
    """Send the browser to the provider, remembering where it was going."""
    safe = next_path.startswith("/console") and "//" not in next_path and "\\" not in next_path
    session[NEXT_KEY] = next_path if safe else "/console/"
    return current_app.extensions["authlib.integrations.flask_client"].relay.authorize_redirect(
        url_for("console_oidc.callback", _external=True))


@bp.get("/login")
def login():
    return start(request.args.get("next", "/console/"))


@bp.get("/oidc/callback")
def callback():
    """The provider's answer: exchange the code (checking state), verify the id_token (signature, issuer,
    audience, expiry, nonce), then let in only someone the settings give a role."""
    client = current_app.extensions["authlib.integrations.flask_client"].relay
    settings = current_app.extensions["relay"].settings
    try:
        token = client.authorize_access_token()
        claims = token.get("userinfo")
        if not claims or not claims.get("sub"):
            raise Refused(401, "the provider's answer had no verified id_token")
    except (AuthlibBaseError, JoseError, ValueError, KeyError, requests.RequestException) as err:
        log.warning("console sign-in refused: %s", type(err).__name__)
        return _refused(Refused(401, "the sign-in could not be verified; try again"))
    except Refused as err:
        return _refused(err)
    groups = tuple(str(g) for g in claims.get("groups") or () if isinstance(claims.get("groups"), list))
    name = str(claims.get("preferred_username") or claims.get("email") or claims["sub"])
    if role_for(settings, name=name, email=claims.get("email"), groups=groups) is None:
        return _refused(Refused(403, f"{name} is not among the console's viewers or operators"))
    next_path = session.get(NEXT_KEY) or "/console/"
    sign_in(dict(claims))
    return redirect(next_path)


def _refused(err: Refused):
    return secure(current_app.make_response(
        (render_template("console/refused.html", message=err.message, identity=None), err.status)))
