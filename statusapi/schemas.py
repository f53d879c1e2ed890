"""Request and response bodies (pydantic): validated input, and the OpenAPI schemas."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, model_validator

from emailscan.models import TaskStatus
from emailscan.store import Job

MAX_PAGES_LIMIT = 10_000
MAX_DOMAIN_LENGTH = 2048
MAX_OFFSET = 2**31 - 1  # past SQLite's and PostgreSQL's integers a query fails, not just misses
# Control characters (C0, DEL, C1) and lone surrogates: urlsplit drops tabs and newlines
# silently, a NUL ends a process argument and a surrogate can't be encoded for scrapyd, so a
# domain carrying them would not be the text the crawl is given.
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f-\x9f\ud800-\udfff]*$"
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Exactly one of domain / domain_id, for the document (the validator below enforces it).
_ONE_TARGET = {
    "oneOf": [
        {
            "required": ["domain"],
            "properties": {"domain": {"type": "string"}, "domain_id": {"type": "null"}},
        },
        {
            "required": ["domain_id"],
            "properties": {"domain": {"type": "null"}, "domain_id": {"type": "string"}},
        },
    ]
}


def _printable(value: str) -> str:
    if _CONTROL_CHARACTER.search(value):
        raise ValueError("must not contain control characters (tabs, newlines, NUL, ...)")
    return value


DomainText = Annotated[
    str,
    AfterValidator(_printable),
    Field(max_length=MAX_DOMAIN_LENGTH, json_schema_extra={"pattern": NO_CONTROL_CHARACTERS}),
]


class EmailScanRequest(BaseModel):
    """Scan a site, named by `domain` (host or URL) or by the `domain_id` of a known one."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_ONE_TARGET)

    domain: DomainText | None = Field(None, examples=["acme.com"])
    domain_id: uuid.UUID | None = None
    # Strict: `true` or "5" is a client's bug, not a page count.
    max_pages: StrictInt | None = Field(None, ge=1, le=MAX_PAGES_LIMIT)
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
    domain: DomainText | None = None
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


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
