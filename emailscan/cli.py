"""The `emailscan` command: database migrations and operator tasks."""

from __future__ import annotations

import os

import click

from emailscan import db, store


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


@main.group("apikey")
def apikey_group() -> None:
    """API keys: with at least one key the status API requires `Authorization: Bearer`."""


@apikey_group.command("create")
@click.option("--user", "user_id", required=True, type=click.UUID, help="Owner of the key.")
@click.option("--name", default="", help="A label, e.g. the frontend it is for.")
def apikey_create(user_id, name: str) -> None:
    """Create a key for USER and print it (it is shown only once)."""
    engine = db.make_engine()
    db.ensure_schema(engine)
    click.echo(store.create_api_key(engine, user_id, name))


@apikey_group.command("revoke")
@click.argument("key")
def apikey_revoke(key: str) -> None:
    """Revoke KEY."""
    if not store.revoke_api_key(db.make_engine(), key):
        raise click.ClickException("no such active key")
    click.echo("revoked")


@main.command("reap")
def reap() -> None:
    """Close jobs whose crawl died or was lost; reschedule or fail forgotten PENDING jobs."""
    # The reaper asks scrapyd about jobs, which is the status API's business.
    from statusapi.reaper import reap_once
    from statusapi.serve import config_from_env

    counts = reap_once(config_from_env(os.environ))
    click.echo(" ".join(f"{name}={count}" for name, count in counts.items()))
