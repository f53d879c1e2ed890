"""`python -m statusapi.serve`: the API under waitress in API_WORKERS processes, plus the reaper.

One waitress process tops out near 450 status polls/s on this kind of host (the GIL): the
listening socket is bound once and shared by forked workers, like gunicorn's pre-fork model,
and the parent process runs the reaper.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from emailscan import db, store
from statusapi import create_app, reaper
from statusapi.config import config_from_env
from statusapi.scrapyd import ScrapydNodes
from statusapi.services import Services

__all__ = ["config_from_env", "main", "open_to_network_refusal", "start_reaper"]

logger = logging.getLogger(__name__)


def main(environ: Mapping[str, str] = os.environ) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = config_from_env(environ)
    engine = db.make_engine(config["DATABASE_URL"])
    db.ensure_schema(engine)  # a fresh SQLite file just works; never an upgrade
    refusal = open_to_network_refusal(engine, config["HOST"])
    engine.dispose()  # before forking: no pooled connection may be shared by processes
    if refusal:
        sys.exit(refusal)
    listener = _listen(config["HOST"], int(config["PORT"]))
    workers = [_fork_worker(listener, config) for _ in range(int(config["API_WORKERS"]))]
    listener.close()
    services = Services.from_config(config)
    stop = start_reaper(services.engine, services.scrapyd, config)
    logger.info(
        "Serving on http://%s:%s with %d workers", config["HOST"], config["PORT"], len(workers)
    )
    try:
        sys.exit(_supervise(workers))
    finally:
        stop.set()
        services.close()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host.strip("[]"), port), family=family, backlog=1024)


def _fork_worker(listener: socket.socket, config: Mapping[str, Any]) -> int:
    import waitress

    pid = os.fork()
    if pid:
        return pid
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        app = create_app(config)  # after the fork: each worker has its own engine and pool
        # waitress buffers a whole body before the app sees it: cap it well above the app's
        # own limit, so ordinary oversized bodies still get the app's JSON 413.
        body_limit = 16 * int(config["MAX_CONTENT_LENGTH"])
        waitress.serve(
            app,
            sockets=[listener],
            threads=int(config["API_THREADS"]),
            max_request_body_size=body_limit,
        )
    finally:
        os._exit(1)


def _supervise(workers: list[int]) -> int:
    """Wait; on SIGINT/SIGTERM, or when a worker dies, stop every worker."""

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    try:
        pid, status = os.wait()
        logger.error("API worker %d exited (status %d); stopping", pid, status)
        workers.remove(pid)
        code = 1
    except KeyboardInterrupt:
        pass
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in workers:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    return code


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
        float(config["HUNG_TIMEOUT"]),
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
