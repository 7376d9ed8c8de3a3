"""The ingest baseline: a Flask app that only parses the JSON body and answers 202, under the relay's
production Gunicorn config (`python -m bench.baseline --bind 127.0.0.1:PORT`)."""

from __future__ import annotations

import json

import click
from flask import Flask, jsonify, request
from gunicorn.app.base import BaseApplication

from relay.config import Settings
from relay.serving import gunicorn_options


def create_baseline_app() -> Flask:
    app = Flask(__name__)

    @app.post("/echo/events")
    @app.post("/echo/events/")
    def echo_events():
        json.loads(request.get_data())
        return jsonify({"result": "queued"}), 202

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    return app


class BaselineServer(BaseApplication):
    """Gunicorn with exactly the options `slackops-relay serve` uses."""

    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_baseline_app()


@click.command()
@click.option("--bind", required=True, help="HOST:PORT to listen on.")
def main(bind: str) -> None:
    """Serve the baseline app."""
    BaselineServer(gunicorn_options(Settings(), bind=bind)).run()


if __name__ == "__main__":
    main()
