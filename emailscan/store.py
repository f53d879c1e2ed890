"""Storage API shared by the crawl and the status API: each function is one transaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from emailscan.models import SYSTEM_USER_ID, TaskStatus, api_keys, contacts, domains, jobs

# Progress stays below 1.0 until the job is COMPLETE.
MAX_RUNNING_PROGRESS = 0.99
# A footer address shows on every page; keep the first pages it was seen on, count the rest.
MAX_SOURCES = 20
_START_SCAN_ATTEMPTS = 5


@dataclasses.dataclass(frozen=True, slots=True)
class Job:
    id: uuid.UUID
    domain_id: uuid.UUID
    domain: str
    user_id: uuid.UUID
    status: TaskStatus
    progress: float
    pages_crawled: int
    emails_found: int
    max_pages: int | None
    result_data: dict | None
    error: str | None
    scheduler_node: str | None
    scheduler_job_id: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    heartbeat_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Job:
        values = {field.name: row[field.name] for field in dataclasses.fields(cls)}
        for name in ("created_at", "started_at", "finished_at", "heartbeat_at"):
            values[name] = as_utc(values[name])
        values["status"] = TaskStatus(values["status"])
        return cls(**values)


@dataclasses.dataclass(frozen=True, slots=True)
class Sighting:
    """One address seen on one page by a crawl."""

    email: str
    source_url: str
    kind: str = "personal"
    on_domain: bool = False


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _insert(connection: sa.Connection, table: sa.Table):
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _reading(engine: sa.Engine) -> sa.Connection:
    """A connection for reads only: no write lock on SQLite, no BEGIN/ROLLBACK round trips on
    PostgreSQL (status polls are the hot path)."""
    options = {"emailscan_readonly": True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    return engine.connect().execution_options(**options)


_job_select = sa.select(jobs, domains.c.host.label("domain")).join(
    domains, domains.c.id == jobs.c.domain_id
)
# Status polls are the hot path: statements built once keep SQLAlchemy's cache key memoized.
_job_by_id = _job_select.where(jobs.c.id == sa.bindparam("job_id"))
_job_by_id_and_owner = _job_by_id.where(jobs.c.user_id == sa.bindparam("user_id"))
_emails_of_job = (
    sa.select(contacts.c.email, contacts.c.kind, contacts.c.on_domain, contacts.c.source_urls)
    .where(contacts.c.last_job_id == sa.bindparam("job_id"))
    .order_by(contacts.c.email)
)


def get_or_create_domain(engine: sa.Engine, host: str) -> uuid.UUID:
    """The id of the domain row for a normalised host, inserting it when new (race-free)."""
    with engine.begin() as connection:
        statement = _insert(connection, domains).values(
            id=uuid.uuid4(), host=host, created_at=utcnow()
        )
        connection.execute(statement.on_conflict_do_nothing(index_elements=["host"]))
        return connection.scalar(sa.select(domains.c.id).where(domains.c.host == host))


def get_domain(engine: sa.Engine, domain_id: uuid.UUID) -> str | None:
    """The host of a known domain id, None when unknown."""
    with _reading(engine) as connection:
        return connection.scalar(sa.select(domains.c.host).where(domains.c.id == domain_id))


def start_scan(
    engine: sa.Engine,
    domain_id: uuid.UUID,
    user_id: uuid.UUID = SYSTEM_USER_ID,
    max_pages: int | None = None,
) -> tuple[Job, bool]:
    """A new PENDING job for the domain, or the one already PENDING/RUNNING: (job, created).

    The partial unique index `uq_jobs_active_domain` decides between racing callers; the
    loser reads the winner's job. When that job finishes in between, try again.
    """
    for _ in range(_START_SCAN_ATTEMPTS):
        with engine.begin() as connection:
            job_id = connection.scalar(_insert_job(connection, domain_id, user_id, max_pages))
            created = job_id is not None
            if not created:
                job_id = connection.scalar(
                    sa.select(jobs.c.id).where(
                        jobs.c.domain_id == domain_id, jobs.c.status.in_(TaskStatus.active())
                    )
                )
            if job_id is not None:
                row = connection.execute(_job_by_id, {"job_id": job_id}).mappings().one()
                return Job.from_row(row), created
    raise RuntimeError(f"could not start or find an active scan for domain {domain_id}")


def _insert_job(connection, domain_id, user_id, max_pages):
    statement = _insert(connection, jobs).values(
        id=uuid.uuid4(),
        domain_id=domain_id,
        user_id=user_id,
        status=TaskStatus.PENDING,
        max_pages=max_pages,
        created_at=utcnow(),
    )
    return statement.on_conflict_do_nothing(
        index_elements=["domain_id"], index_where=_ACTIVE_LITERALS
    ).returning(jobs.c.id)


# The partial index's predicate with its values written into the SQL. With bound parameters
# PostgreSQL stops matching uq_jobs_active_domain once psycopg prepares the statement (its 5th
# run on a connection) and the server plans it generically (5 runs later): the INSERT then fails
# with "no unique or exclusion constraint matching the ON CONFLICT specification".
_ACTIVE_LITERALS = jobs.c.status.in_(
    sa.bindparam("active_statuses", list(TaskStatus.active()), expanding=True, literal_execute=True)
)


def get_job(engine: sa.Engine, job_id: uuid.UUID, user_id: uuid.UUID | None = None) -> Job | None:
    """The job, or None when it doesn't exist or belongs to another user than `user_id`."""
    query, params = _job_by_id, {"job_id": job_id}
    if user_id is not None:
        query, params = _job_by_id_and_owner, {"job_id": job_id, "user_id": user_id}
    with _reading(engine) as connection:
        row = connection.execute(query, params).mappings().first()
    return Job.from_row(row) if row else None


def set_scheduled(engine: sa.Engine, job_id: uuid.UUID, node: str, scheduler_job_id: str) -> bool:
    """Remember where a job was scheduled, so it can be cancelled and reconciled there."""
    with engine.begin() as connection:
        result = connection.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id)
            .values(scheduler_node=node, scheduler_job_id=scheduler_job_id)
        )
        return result.rowcount == 1


def claim_job(engine: sa.Engine, job_id: uuid.UUID) -> bool:
    """PENDING -> RUNNING in one guarded UPDATE: False when another process got there first."""
    now = utcnow()
    with engine.begin() as connection:
        result = connection.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == TaskStatus.PENDING)
            .values(status=TaskStatus.RUNNING, started_at=now, heartbeat_at=now)
        )
        return result.rowcount == 1


def record_progress(
    engine: sa.Engine,
    job_id: uuid.UUID,
    progress: float,
    pages_crawled: int,
    emails_found: int,
) -> bool:
    """Heartbeat plus progress of a RUNNING job; counters never move backwards."""
    progress = min(max(progress, 0.0), MAX_RUNNING_PROGRESS)
    with engine.begin() as connection:
        result = connection.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == TaskStatus.RUNNING)
            .values(
                progress=_at_least(jobs.c.progress, progress),
                pages_crawled=_at_least(jobs.c.pages_crawled, pages_crawled),
                emails_found=_at_least(jobs.c.emails_found, emails_found),
                heartbeat_at=utcnow(),
            )
        )
        return result.rowcount == 1


def _at_least(column: sa.Column, value):
    return sa.case((column < value, value), else_=column)


def finish_job(
    engine: sa.Engine,
    job_id: uuid.UUID,
    status: TaskStatus,
    error: str | None = None,
    pages_crawled: int | None = None,
    stats: Mapping[str, Any] | None = None,
) -> bool:
    """Close an open job; its result_data lists the addresses it saw, partial or not.

    False when the job was already finished: the first outcome written stands.
    """
    if not status.finished:
        raise ValueError(f"{status} is not a final status")
    with engine.begin() as connection:
        values = {"status": status, "finished_at": utcnow(), **_results(connection, job_id, stats)}
        if status is TaskStatus.COMPLETE:
            values["progress"] = 1.0
        if error is not None:
            values["error"] = error
        if pages_crawled is not None:
            values["pages_crawled"] = _at_least(jobs.c.pages_crawled, pages_crawled)
        result = connection.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status.in_(TaskStatus.active()))
            .values(**values)
        )
        return result.rowcount == 1


def refresh_results(
    engine: sa.Engine,
    job_id: uuid.UUID,
    pages_crawled: int,
    stats: Mapping[str, Any],
) -> bool:
    """Bring the results of a job closed elsewhere (cancelled through the API, or given up on)
    up to what its crawl stored before it stopped; its status, error and end time stand."""
    with engine.begin() as connection:
        result = connection.execute(
            sa.update(jobs)
            .where(
                jobs.c.id == job_id,
                jobs.c.status.in_((TaskStatus.CANCELLED, TaskStatus.FAILED)),
            )
            .values(
                pages_crawled=_at_least(jobs.c.pages_crawled, pages_crawled),
                **_results(connection, job_id, stats),
            )
        )
        return result.rowcount == 1


def _results(connection, job_id: uuid.UUID, stats: Mapping[str, Any] | None) -> dict:
    """A closed job's result columns: the addresses it saw, and the crawl's figures."""
    emails = _job_emails(connection, job_id)
    return {
        "emails_found": len(emails),
        "result_data": {"emails": emails, "stats": dict(stats or {})},
    }


def job_emails(engine: sa.Engine, job_id: uuid.UUID) -> list[dict]:
    """The addresses a job has seen so far, with the pages they were seen on."""
    with _reading(engine) as connection:
        return _job_emails(connection, job_id)


def _job_emails(connection: sa.Connection, job_id: uuid.UUID) -> list[dict]:
    rows = connection.execute(_emails_of_job, {"job_id": job_id}).mappings()
    return [
        {
            "email": row["email"],
            "kind": row["kind"],
            "on_domain": row["on_domain"],
            "sources": list(row["source_urls"]),
        }
        for row in rows
    ]


def upsert_contacts(
    engine: sa.Engine, domain_id: uuid.UUID, job_id: uuid.UUID, sightings: Iterable[Sighting]
) -> int:
    """Record a batch of sightings in one transaction: new contacts, new source pages.

    First-seen stays as it was; last-seen and the job that last saw it move on.
    Returns how many contacts were new.
    """
    by_email = _group(sightings)
    if not by_email:
        return 0
    now = utcnow()
    with engine.begin() as connection:
        inserted = _insert_new_contacts(connection, domain_id, job_id, by_email, now)
        existing = {email: group for email, group in by_email.items() if email not in inserted}
        _merge_existing_contacts(connection, domain_id, job_id, existing, now)
    return len(inserted)


def _group(sightings: Iterable[Sighting]) -> dict[str, tuple[Sighting, list[str]]]:
    by_email: dict[str, tuple[Sighting, list[str]]] = {}
    for sighting in sightings:
        _, urls = by_email.setdefault(sighting.email, (sighting, []))
        if sighting.source_url not in urls:
            urls.append(sighting.source_url)
    return by_email


def _insert_new_contacts(connection, domain_id, job_id, by_email, now) -> set[str]:
    rows = [
        {
            "id": uuid.uuid4(),
            "domain_id": domain_id,
            "email": email,
            "kind": first.kind,
            "on_domain": first.on_domain,
            "source_urls": urls[:MAX_SOURCES],
            "sightings": len(urls),
            "first_seen_at": now,
            "last_seen_at": now,
            "last_job_id": job_id,
        }
        for email, (first, urls) in by_email.items()
    ]
    statement = (
        _insert(connection, contacts)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["domain_id", "email"])
        .returning(contacts.c.email)
    )
    return set(connection.scalars(statement))


def _merge_existing_contacts(connection, domain_id, job_id, existing, now) -> None:
    if not existing:
        return
    query = sa.select(contacts.c.id, contacts.c.email, contacts.c.source_urls).where(
        contacts.c.domain_id == domain_id, contacts.c.email.in_(existing)
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    updates = []
    for row in connection.execute(query).mappings():
        first, urls = existing[row["email"]]
        stored = list(row["source_urls"])
        fresh = [url for url in urls if url not in stored]
        updates.append(
            {
                "contact_id": row["id"],
                "kind": first.kind,
                "on_domain": first.on_domain,
                "source_urls": (stored + fresh)[:MAX_SOURCES],
                "new_sightings": len(fresh),
            }
        )
    connection.execute(
        sa.update(contacts)
        .where(contacts.c.id == sa.bindparam("contact_id"))
        .values(
            kind=sa.bindparam("kind"),
            on_domain=sa.bindparam("on_domain"),
            source_urls=sa.bindparam("source_urls", type_=contacts.c.source_urls.type),
            sightings=contacts.c.sightings + sa.bindparam("new_sightings"),
            last_seen_at=now,
            last_job_id=job_id,
        ),
        updates,
    )


def list_jobs(
    engine: sa.Engine,
    user_id: uuid.UUID,
    status: TaskStatus | None = None,
    domain: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Job], int]:
    """A page of the user's jobs, newest first, and how many there are in all."""
    conditions = [jobs.c.user_id == user_id]
    if status is not None:
        conditions.append(jobs.c.status == status)
    if domain is not None:
        conditions.append(domains.c.host == domain)
    query = _job_select.where(*conditions)
    with _reading(engine) as connection:
        total = connection.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
        rows = connection.execute(
            query.order_by(jobs.c.created_at.desc(), jobs.c.id).limit(limit).offset(offset)
        ).mappings()
        return [Job.from_row(row) for row in rows], total


def open_jobs(engine: sa.Engine) -> list[Job]:
    """Every PENDING or RUNNING job, oldest first: what the reaper checks."""
    query = _job_select.where(jobs.c.status.in_(TaskStatus.active())).order_by(jobs.c.created_at)
    with _reading(engine) as connection:
        return [Job.from_row(row) for row in connection.execute(query).mappings()]


def domain_contacts(engine: sa.Engine, domain_id: uuid.UUID) -> list[dict]:
    """Every contact ever found for a domain, with where and when it was seen."""
    query = (
        sa.select(
            contacts.c.email,
            contacts.c.kind,
            contacts.c.on_domain,
            contacts.c.source_urls,
            contacts.c.sightings,
            contacts.c.first_seen_at,
            contacts.c.last_seen_at,
            contacts.c.last_job_id,
        )
        .where(contacts.c.domain_id == domain_id)
        .order_by(contacts.c.email)
    )
    with _reading(engine) as connection:
        rows = connection.execute(query).mappings().all()
    return [
        {
            **row,
            "source_urls": list(row["source_urls"]),
            "first_seen_at": as_utc(row["first_seen_at"]),
            "last_seen_at": as_utc(row["last_seen_at"]),
        }
        for row in rows
    ]


def _key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(engine: sa.Engine, user_id: uuid.UUID, name: str = "") -> str:
    """A new API key for the user; only its hash is stored, so the secret is shown once."""
    secret = "esk_" + secrets.token_urlsafe(32)
    with engine.begin() as connection:
        connection.execute(
            api_keys.insert().values(
                id=uuid.uuid4(),
                user_id=user_id,
                name=name,
                key_hash=_key_hash(secret),
                created_at=utcnow(),
            )
        )
    return secret


def user_for_api_key(engine: sa.Engine, secret: str) -> uuid.UUID | None:
    """The owner of a valid, unrevoked key.

    The database only ever sees the key's SHA-256, and the stored hash is compared in
    constant time, so timing tells nothing about how much of a guess was right.
    """
    digest = _key_hash(secret)
    query = sa.select(api_keys.c.key_hash, api_keys.c.user_id).where(
        api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None)
    )
    with _reading(engine) as connection:
        row = connection.execute(query).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return row.user_id


def api_keys_exist(engine: sa.Engine) -> bool:
    """Whether auth is on: with no keys the API runs open for local development."""
    with _reading(engine) as connection:
        return connection.scalar(sa.select(sa.exists().where(api_keys.c.revoked_at.is_(None))))


def revoke_api_key(engine: sa.Engine, secret: str) -> bool:
    with engine.begin() as connection:
        result = connection.execute(
            sa.update(api_keys)
            .where(api_keys.c.key_hash == _key_hash(secret), api_keys.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return result.rowcount == 1


def ping(engine: sa.Engine) -> None:
    """Raise when the database does not answer (health checks)."""
    with _reading(engine) as connection:
        connection.execute(sa.text("SELECT 1"))


def user_has_domain(engine: sa.Engine, user_id: uuid.UUID, domain_id: uuid.UUID) -> bool:
    """Has the user ever scanned the domain? Only then may it read the domain's contacts."""
    query = sa.select(sa.exists().where(jobs.c.user_id == user_id, jobs.c.domain_id == domain_id))
    with _reading(engine) as connection:
        return bool(connection.scalar(query))


def mark_rescheduled(engine: sa.Engine, job_id: uuid.UUID) -> bool:
    """Claim the one reschedule a lost PENDING job gets: False when it was already used.

    A PENDING row has no heartbeat until a crawl claims it, so `heartbeat_at` on a PENDING row
    records the reschedule (and restarts its grace period); the guarded UPDATE makes racing
    reapers agree on who reschedules.
    """
    with engine.begin() as connection:
        result = connection.execute(
            sa.update(jobs)
            .where(
                jobs.c.id == job_id,
                jobs.c.status == TaskStatus.PENDING,
                jobs.c.heartbeat_at.is_(None),
            )
            .values(heartbeat_at=utcnow())
        )
        return result.rowcount == 1
