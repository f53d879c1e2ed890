"""The status API: a Flask sidecar that schedules scans on scrapyd and reports their results."""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response

from statusapi.config import DEFAULTS, config_from_env

__all__ = ["create_app"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The app: defaults, then `config` (the environment when None); one engine for its life."""
    app = Flask(__name__, static_folder=None)
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(config_from_env(os.environ) if config is None else config)

    from statusapi import contacts, errors, meta, scans, status
    from statusapi.services import Services

    services = Services.from_config(app.config)
    app.extensions["emailscan"] = services
    # Flask has no app teardown: the pool goes with the app (serve.py closes it explicitly).
    weakref.finalize(app, services.close)
    errors.init_app(app)
    _init_cors(app)
    for blueprint in (scans.bp, status.bp, contacts.bp, meta.bp):
        app.register_blueprint(blueprint)
    app.after_request(_no_store)
    return app


def _init_cors(app: Flask) -> None:
    origins = [origin.strip() for origin in app.config["CORS_ORIGINS"].split(",") if origin.strip()]
    if not origins:
        return
    from flask_cors import CORS

    CORS(
        app,
        resources={r"/api/*": {"origins": origins}},
        allow_headers=["Authorization", "Content-Type"],
        expose_headers=["Location", "Retry-After"],
        max_age=600,
    )


def _no_store(response: Response) -> Response:
    # Job status changes every poll and bodies are per user: no cache may keep them.
    response.headers.setdefault("Cache-Control", "no-store")
    return response
