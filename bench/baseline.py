"""The baselines: a Flask app that does only what any receiver must, under the relay's production Gunicorn
config (`python -m bench.baseline --bind 127.0.0.1:PORT [--signing-secret SECRET]`). For Echo it parses the
JSON body and answers 202; for Slack it checks the request's signature and answers an empty 200."""

from __future__ import annotations

import json

import click
from flask import Flask, abort, jsonify, request
from gunicorn.app.base import BaseApplication
from slack_sdk.signature import SignatureVerifier

from relay.config import Settings
from relay.serving import gunicorn_options


def create_baseline_app(signing_secret: str) -> Flask:
    app = Flask(__name__)
    verifier = SignatureVerifier(signing_secret)

    @app.post("/echo/events")
    @app.post("/echo/events/")
    def echo_events():
        json.loads(request.get_data())
        return jsonify({"result": "queued"}), 202

    @app.post("/slack/interactions")
    @app.post("/slack/commands")
    def slack_interactions():
        if not verifier.is_valid_request(request.get_data(), dict(request.headers)):
            abort(401)
        return "", 200

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    return app


class BaselineServer(BaseApplication):
    """Gunicorn with exactly the options `slackops-relay serve` uses."""

    def __init__(self, options: dict, *, signing_secret: str) -> None:
        self.options = options
        self.signing_secret = signing_secret
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_baseline_app(self.signing_secret)


@click.command()
@click.option("--bind", required=True, help="HOST:PORT to listen on.")
@click.option("--signing-secret", default="baseline", show_default=True, help="Slack signing secret.")
def main(bind: str, signing_secret: str) -> None:
    """Serve the baseline app."""
    BaselineServer(gunicorn_options(Settings(), bind=bind), signing_secret=signing_secret).run()


if __name__ == "__main__":
    main()
