"""Engines for the database that DATABASE_URL names (SQLite file by default) and its migrations."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa

# Alembic is imported where it is used: a crawl needs it only to create a missing schema,
# and it costs a crawl process about 8 MB.

logger = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite:///var/emailscan.db"
SQLITE_BUSY_TIMEOUT_MS = 15_000
# libpq: give up on a server that does not answer instead of waiting for the kernel (minutes).
POSTGRES_CONNECT_ARGS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
}
# Errors that may go away on their own: a lost connection, a server restarting, a locked file.
TRANSIENT_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)

T = TypeVar("T")


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else $DATABASE_URL, else a SQLite file under ./var/."""
    url = url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    # Accept the URLs people paste (Heroku-style, libpq-style) and use psycopg 3 for them.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str | None = None, **kwargs) -> sa.Engine:
    """An Engine configured for concurrent use by crawls and the API."""
    url = sa.make_url(database_url(url))
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **kwargs)
    # No pre-ping: it costs a round trip per checkout (measured: status polls' p99 on
    # PostgreSQL). A connection the server dropped fails one request, and SQLAlchemy then
    # discards the whole pool; recycling keeps connections younger than idle timeouts.
    kwargs.setdefault("pool_recycle", 300)
    kwargs.setdefault("pool_size", 5)
    connect_args = {k: v for k, v in POSTGRES_CONNECT_ARGS.items() if k not in url.query}
    kwargs["connect_args"] = {**connect_args, **kwargs.get("connect_args", {})}
    return sa.create_engine(url, **kwargs)


def retrying(call: Callable[..., T], *args, budget: float, first_wait: float = 0.25) -> T:
    """`call(*args)`, tried again with growing waits while it fails with a transient error,
    for up to `budget` seconds; then the last error is raised.

    For writers that must not lose data to a database restart or a lock held for a while
    (crawls). Only for calls that are safe to repeat.
    """
    deadline = time.monotonic() + budget
    wait = first_wait
    while True:
        try:
            return call(*args)
        except TRANSIENT_ERRORS as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            logger.warning(
                "Database unavailable, retrying in %.1f s: %s",
                min(wait, left),
                getattr(exc, "orig", None) or exc,
            )
            time.sleep(min(wait, left))
            wait = min(wait * 2, 5.0)


def _sqlite_engine(url: sa.URL, **kwargs) -> sa.Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # `?timeout=SECONDS` in the URL (pysqlite's own parameter) sets how long a writer waits
    # for the lock before the write fails (and a crawl retries it).
    busy_ms = int(float(url.query.get("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)) * 1000)
    engine = sa.create_engine(url, connect_args={"timeout": busy_ms / 1000}, **kwargs)

    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT and locking; take
    # it over as SQLAlchemy's documentation recommends ("Serializable isolation / Savepoints").
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    # Writers take the lock up front (BEGIN IMMEDIATE) so that a read-then-write transaction
    # waits on busy_timeout instead of failing with SQLITE_BUSY when it upgrades its lock.
    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection):
        readonly = connection.get_execution_options().get("emailscan_readonly", False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def alembic_config(connection: sa.Connection | None = None):
    """Alembic configuration pointing at the migrations shipped inside the package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "emailscan:migrations")
    config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Apply the migrations up to `revision`."""
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def current_revision(engine: sa.Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def ensure_schema(engine: sa.Engine) -> None:
    """Create the schema in a database that has none, so a plain `scrapy crawl` just works.

    A database that has a schema is left alone: upgrading it is the operator's
    `emailscan db upgrade`, never a side effect of a crawl.
    """
    if not sa.inspect(engine).has_table("alembic_version"):
        upgrade(engine)
