"""Domains, jobs and contacts.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copy of TaskStatus at this revision: a migration must not change when the model does.
# tests/test_migrations.py checks that the database enum still equals TaskStatus.
TASK_STATUS = ("PENDING", "RUNNING", "COMPLETE", "FAILED", "CANCELLED")
ACTIVE = "status IN ('PENDING', 'RUNNING')"
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "domains",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_domains"),
        sa.UniqueConstraint("host", name="uq_domains_host"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("domain_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(*TASK_STATUS, name="task_status", create_constraint=True),
            nullable=False,
        ),
        sa.Column("progress", sa.Float(), server_default="0", nullable=False),
        sa.Column("pages_crawled", sa.Integer(), server_default="0", nullable=False),
        sa.Column("emails_found", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_pages", sa.Integer(), nullable=True),
        sa.Column("result_data", JSONType, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("scheduler_node", sa.String(255), nullable=True),
        sa.Column("scheduler_job_id", sa.String(64), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("started_at", Timestamp, nullable=True),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.Column("heartbeat_at", Timestamp, nullable=True),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name="ck_jobs_progress_range"),
        sa.ForeignKeyConstraint(["domain_id"], ["domains.id"], name="fk_jobs_domain_id_domains"),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_user_id_created_at", "jobs", ["user_id", "created_at"])
    op.create_index(
        "uq_jobs_active_domain",
        "jobs",
        ["domain_id"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("domain_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("on_domain", sa.Boolean(), nullable=False),
        sa.Column("source_urls", JSONType, nullable=False),
        sa.Column("sightings", sa.Integer(), server_default="0", nullable=False),
        sa.Column("first_seen_at", Timestamp, nullable=False),
        sa.Column("last_seen_at", Timestamp, nullable=False),
        sa.Column("last_job_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["domains.id"], name="fk_contacts_domain_id_domains"
        ),
        sa.ForeignKeyConstraint(["last_job_id"], ["jobs.id"], name="fk_contacts_last_job_id_jobs"),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
        sa.UniqueConstraint("domain_id", "email", name="uq_contacts_domain_id_email"),
    )
    op.create_index("ix_contacts_last_job_id", "contacts", ["last_job_id"])


def downgrade() -> None:
    op.drop_table("contacts")
    op.drop_table("jobs")
    op.drop_table("domains")
    sa.Enum(name="task_status").drop(op.get_bind(), checkfirst=True)
