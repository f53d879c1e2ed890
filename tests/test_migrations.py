"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from emailscan import db
from emailscan.models import TaskStatus, metadata


def test_models_and_migrations_agree(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_upgrade_is_idempotent_and_at_head(engine):
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()


def test_ensure_schema_creates_a_missing_schema(database_url):
    engine = db.make_engine(database_url)
    try:
        db.ensure_schema(engine)
        assert db.current_revision(engine) == db.head_revision()
        db.ensure_schema(engine)
    finally:
        engine.dispose()


def test_downgrade_to_base_removes_everything(engine):
    from alembic import command

    with engine.begin() as connection:
        command.downgrade(db.alembic_config(connection), "base")
    tables = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set()


@pytest.mark.databases("postgresql")
def test_postgres_enum_is_generated_from_task_status(engine):
    with engine.connect() as connection:
        values = connection.scalars(sa.text("SELECT unnest(enum_range(NULL::task_status))"))
        assert list(values) == [status.value for status in TaskStatus]


@pytest.mark.databases("sqlite")
def test_sqlite_checks_status_values(engine):
    # The CHECK constraint stands in for the enum on SQLite.
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO domains (id, host, created_at) VALUES ('d', 'x.com', '2026-01-01')"
        )
        connection.exec_driver_sql(
            "INSERT INTO jobs (id, domain_id, user_id, status, created_at)"
            " VALUES ('j', 'd', 'u', 'DONE', '2026-01-01')"
        )


@pytest.mark.databases("sqlite")
def test_sqlite_pragmas(engine):
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0


def test_database_url_defaults_to_a_sqlite_file(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert db.database_url() == db.DEFAULT_DATABASE_URL
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/db")
    assert db.database_url() == "postgresql+psycopg://u@h/db"
