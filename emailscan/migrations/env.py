"""Alembic environment: runs on the connection handed over by emailscan.db, or DATABASE_URL."""

from alembic import context

from emailscan.db import make_engine
from emailscan.models import metadata


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite can't ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    with make_engine().begin() as connection:
        run_migrations(connection)
