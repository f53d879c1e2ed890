"""`python -m statusapi.serve`: the API under waitress, with the reaper in a background thread."""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from emailscan import db, store
from statusapi import create_app, reaper
from statusapi.config import config_from_env
from statusapi.scrapyd import ScrapydNodes

__all__ = ["config_from_env", "main", "open_to_network_refusal", "start_reaper"]

logger = logging.getLogger(__name__)


def main(environ: Mapping[str, str] = os.environ) -> None:
    import waitress

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = config_from_env(environ)
    app = create_app(config)
    services = app.extensions["emailscan"]
    db.ensure_schema(services.engine)  # a fresh SQLite file just works; never an upgrade
    refusal = open_to_network_refusal(services.engine, config["HOST"])
    if refusal:
        sys.exit(refusal)
    stop = start_reaper(services.engine, services.scrapyd, config)
    try:
        waitress.serve(
            app, host=config["HOST"], port=int(config["PORT"]), threads=int(config["API_THREADS"])
        )
    finally:
        stop.set()
        services.close()


def open_to_network_refusal(engine: sa.Engine, host: str) -> str | None:
    """Why not to listen on `host`: without API keys the API is open to anyone reaching it."""
    if _is_loopback(host) or store.api_keys_exist(engine):
        return None
    return (
        f"Refusing to listen on {host}: no API keys exist, so the API would be open to anyone "
        "who can reach it. Create one (`emailscan apikey create --user <uuid>`) or use "
        "HOST=127.0.0.1."
    )


def _is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def start_reaper(
    engine: sa.Engine, scrapyd: ScrapydNodes, config: Mapping[str, Any]
) -> threading.Event:
    """Run the reaper every REAPER_INTERVAL seconds in a daemon thread; set the event to stop."""
    stop = threading.Event()
    interval = float(config["REAPER_INTERVAL"])
    arguments = (
        engine,
        scrapyd,
        float(config["HEARTBEAT_TIMEOUT"]),
        float(config["PENDING_GRACE"]),
    )

    def run() -> None:
        while not stop.wait(interval):
            try:
                reaper.reap(*arguments)
            except Exception:  # noqa: BLE001 - the next round may succeed (database back)
                logger.exception("Reaper round failed")

    threading.Thread(target=run, name="emailscan-reaper", daemon=True).start()
    return stop


if __name__ == "__main__":
    main()
