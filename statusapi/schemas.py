"""Request and response bodies (pydantic): validated input, and the OpenAPI schemas."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emailscan.models import TaskStatus
from emailscan.store import Job

MAX_PAGES_LIMIT = 10_000


class EmailScanRequest(BaseModel):
    """Scan a site, named by `domain` (host or URL) or by the `domain_id` of a known one."""

    model_config = ConfigDict(extra="forbid")

    domain: str | None = Field(None, max_length=2048, examples=["acme.com"])
    domain_id: uuid.UUID | None = None
    max_pages: int | None = Field(None, ge=1, le=MAX_PAGES_LIMIT)
    user_id: uuid.UUID | None = Field(
        None, description="Owner of the job; only when the API runs without API keys."
    )

    @model_validator(mode="after")
    def _one_target(self) -> EmailScanRequest:
        if (self.domain is None) == (self.domain_id is None):
            raise ValueError("give either domain or domain_id (exactly one)")
        return self


class ScanAccepted(BaseModel):
    job_id: uuid.UUID
    status: TaskStatus
    domain_id: uuid.UUID
    domain: str
    status_url: str
    deduplicated: bool


class EmailFound(BaseModel):
    email: str
    kind: str
    on_domain: bool
    sources: list[str]


class ResultData(BaseModel):
    emails: list[EmailFound]
    partial: bool = Field(description="True until the job is COMPLETE: more may come, or not.")
    stats: dict[str, Any] | None = Field(None, description="Crawl statistics, once finished.")


class JobSummary(BaseModel):
    job_id: uuid.UUID
    domain: str
    domain_id: uuid.UUID
    status: TaskStatus
    progress: float = Field(ge=0, le=1)
    pages_crawled: int
    emails_found: int
    max_pages: int | None
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @classmethod
    def from_job(cls, job: Job, **extra: Any) -> Any:
        return cls(
            job_id=job.id,
            domain=job.domain,
            domain_id=job.domain_id,
            status=job.status,
            progress=job.progress,
            pages_crawled=job.pages_crawled,
            emails_found=job.emails_found,
            max_pages=job.max_pages,
            error=job.error,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            **extra,
        )


class JobStatusResponse(JobSummary):
    result_data: ResultData


class JobList(BaseModel):
    jobs: list[JobSummary]
    total: int
    limit: int
    offset: int


class JobListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: TaskStatus | None = None
    domain: str | None = None
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)


class Contact(BaseModel):
    email: str
    kind: str
    on_domain: bool
    source_urls: list[str]
    sightings: int
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    last_job_id: uuid.UUID | None


class ContactList(BaseModel):
    domain_id: uuid.UUID
    domain: str
    contacts: list[Contact]


class NodeHealth(BaseModel):
    node: str
    status: Literal["ok", "unavailable"]
    running: int | None = None
    pending: int | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded", "unavailable"]
    database: Literal["ok", "unavailable"]
    scrapyd: list[NodeHealth]


class ErrorDetail(BaseModel):
    code: str = Field(examples=["job_not_found"])
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail
