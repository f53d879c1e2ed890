"""What the app holds for its requests: one engine, the scrapyd nodes, the resolver, key cache."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from emailscan import db
from statusapi.auth import ApiKeys
from statusapi.jobs import Reconciler
from statusapi.scrapyd import ScrapydNodes


@dataclasses.dataclass
class Services:
    engine: sa.Engine
    scrapyd: ScrapydNodes
    resolve: Callable[..., list]
    keys: ApiKeys
    reconciler: Reconciler

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Services:
        engine = db.make_engine(config["DATABASE_URL"])
        scrapyd = scrapyd_from_config(config)
        reconciler = Reconciler(
            engine,
            scrapyd,
            pending_grace=float(config["PENDING_GRACE"]),
            heartbeat_timeout=float(config["HEARTBEAT_TIMEOUT"]),
            hung_timeout=float(config["HUNG_TIMEOUT"]),
            interval=float(config["RECONCILE_INTERVAL"]),
        )
        return cls(
            engine=engine,
            scrapyd=scrapyd,
            resolve=config["RESOLVE"] or socket.getaddrinfo,
            keys=ApiKeys(engine, float(config["AUTH_CACHE_SECONDS"])),
            reconciler=reconciler,
        )

    def close(self) -> None:
        self.engine.dispose()


def scrapyd_from_config(config: Mapping[str, Any]) -> ScrapydNodes:
    """`SCRAPYD` when given (nodes, or one client-like object), else clients for SCRAPYD_URL."""
    ready = config.get("SCRAPYD")
    if isinstance(ready, ScrapydNodes):
        return ready
    if ready is not None:
        return ScrapydNodes([ready])
    return ScrapydNodes.from_urls(
        config["SCRAPYD_URL"],
        project=config["SCRAPYD_PROJECT"],
        username=config["SCRAPYD_USERNAME"],
        password=config["SCRAPYD_PASSWORD"],
        timeout=float(config["SCRAPYD_TIMEOUT"]),
    )
