"""A hello-world Flask app, served by `make bench-compare` on the same server with the same
options as the provider: the ceiling that server reaches for a route doing nothing."""

from __future__ import annotations

from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/hello")
    def hello() -> str:
        return "Hello, world!"

    return app
