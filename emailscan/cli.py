"""The `emailscan` command: database migrations and operator tasks."""

from __future__ import annotations

import click

from emailscan import db


@click.group()
def main() -> None:
    """emailscan operator commands (DATABASE_URL names the database)."""


@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    engine = db.make_engine()
    db.upgrade(engine, revision)
    click.echo(
        f"{engine.url.render_as_string(hide_password=True)} at {db.current_revision(engine)}"
    )


@db_group.command("current")
def db_current() -> None:
    """Print the revision the database is at."""
    click.echo(db.current_revision(db.make_engine()) or "empty")
