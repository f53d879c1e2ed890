"""Shared fixtures: a migrated database per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from emailscan import db

POSTGRES_URL = os.environ.get(
    "EMAILSCAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("EMAILSCAN_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL URL, or a skip (a failure when EMAILSCAN_REQUIRE_POSTGRES=1)."""
    engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        reason = f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.orig}"
        if REQUIRE_POSTGRES:
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        engine.dispose()
    return POSTGRES_URL


def postgres_schema_url(server_url: str, schema: str) -> str:
    """A URL whose connections work in their own schema (search_path), for isolation."""
    url = sa.make_url(server_url)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@pytest.fixture
def database_url(request, tmp_path) -> str:
    """An empty database of the parametrized kind, dropped after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'emailscan.db'}"
        return
    server_url = request.getfixturevalue("postgres_server")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield postgres_schema_url(server_url, schema)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "databases(*kinds): run a database test on these kinds only (sqlite, postgresql)"
    )
    config.addinivalue_line(
        "markers",
        "slow: runs for a minute or more (load, whole-stack faults); `make test` and CI run it, "
        'skip with -m "not slow" while iterating',
    )


def pytest_generate_tests(metafunc):
    # Every test that touches the database runs on both: `database_url` is parametrized here.
    if "database_url" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("databases")
        kinds = marker.args if marker else ("sqlite", "postgresql")
        metafunc.parametrize("database_url", kinds, indirect=True)


@pytest.fixture
def engine(database_url):
    """A migrated database."""
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()
