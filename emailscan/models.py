"""The one TaskStatus and the database schema, in SQLAlchemy Core."""

from __future__ import annotations

import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# A fixed owner for jobs started without a known caller (CLI crawls, an API without keys).
SYSTEM_USER_ID = uuid.UUID("00000000-0000-4000-8000-000000000000")


class TaskStatus(enum.StrEnum):
    """Lifecycle of a scan; the database enum `task_status` is generated from this class."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @classmethod
    def active(cls) -> tuple[TaskStatus, ...]:
        """Statuses of a job that still has a crawl to run or running."""
        return (cls.PENDING, cls.RUNNING)

    @property
    def finished(self) -> bool:
        return self not in self.active()


def task_status_type() -> sa.Enum:
    """Native `task_status` enum on PostgreSQL, CHECK constraint elsewhere."""
    return sa.Enum(
        TaskStatus,
        name="task_status",
        values_callable=lambda members: [member.value for member in members],
        create_constraint=True,
        validate_strings=True,
    )


# JSONB on PostgreSQL (indexable, compact), plain JSON text on SQLite.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

domains = sa.Table(
    "domains",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True, default=uuid.uuid4),
    sa.Column("host", sa.String(253), nullable=False, unique=True),
    sa.Column("created_at", Timestamp, nullable=False),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True, default=uuid.uuid4),
    sa.Column("domain_id", sa.Uuid, sa.ForeignKey("domains.id"), nullable=False),
    sa.Column("user_id", sa.Uuid, nullable=False),
    sa.Column("status", task_status_type(), nullable=False),
    sa.Column("progress", sa.Float, nullable=False, server_default="0"),
    sa.Column("pages_crawled", sa.Integer, nullable=False, server_default="0"),
    sa.Column("emails_found", sa.Integer, nullable=False, server_default="0"),
    # Per-scan page cap asked for by the caller; None means the crawler's default.
    sa.Column("max_pages", sa.Integer, nullable=True),
    sa.Column("result_data", JSONType, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    # Where the crawl was scheduled (scrapyd URL) and scrapyd's id for it.
    sa.Column("scheduler_node", sa.String(255), nullable=True),
    sa.Column("scheduler_job_id", sa.String(64), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("started_at", Timestamp, nullable=True),
    sa.Column("finished_at", Timestamp, nullable=True),
    sa.Column("heartbeat_at", Timestamp, nullable=True),
    sa.CheckConstraint("progress >= 0 AND progress <= 1", name="progress_range"),
    sa.Index("ix_jobs_user_id_created_at", "user_id", "created_at"),
)

# At most one PENDING or RUNNING job per domain: the database settles racing requests.
_active_job = jobs.c.status.in_(TaskStatus.active())
sa.Index(
    "uq_jobs_active_domain",
    jobs.c.domain_id,
    unique=True,
    sqlite_where=_active_job,
    postgresql_where=_active_job,
)

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True, default=uuid.uuid4),
    sa.Column("domain_id", sa.Uuid, sa.ForeignKey("domains.id"), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("on_domain", sa.Boolean, nullable=False),
    # Pages the address was seen on, capped (see store.MAX_SOURCES); `sightings` counts them all.
    sa.Column("source_urls", JSONType, nullable=False),
    sa.Column("sightings", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_seen_at", Timestamp, nullable=False),
    sa.Column("last_seen_at", Timestamp, nullable=False),
    sa.Column("last_job_id", sa.Uuid, sa.ForeignKey("jobs.id"), nullable=True),
    sa.UniqueConstraint("domain_id", "email"),
    sa.Index("ix_contacts_last_job_id", "last_job_id"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True, default=uuid.uuid4),
    sa.Column("user_id", sa.Uuid, nullable=False),
    sa.Column("name", sa.String(100), nullable=False, server_default=""),
    # SHA-256 of the secret: a leaked database does not leak usable keys.
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("revoked_at", Timestamp, nullable=True),
)
