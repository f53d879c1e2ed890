"""POST /api/v3/scan/website: check the site, create (or find) the job, schedule its crawl."""

from __future__ import annotations

import logging
import uuid

import pydantic
from flask import Blueprint, current_app, url_for

from emailscan import store
from emailscan.domains import Target, parse_target
from emailscan.models import SYSTEM_USER_ID, TaskStatus
from emailscan.netguard import UNRESOLVABLE_PREFIX, host_refusal, port_refusal
from emailscan.store import Job
from statusapi import jobs
from statusapi.auth import caller, load_caller, visible_domain
from statusapi.config import is_true
from statusapi.errors import ApiError, validation_message
from statusapi.schemas import EmailScanRequest, ScanAccepted
from statusapi.scrapyd import ScrapydError
from statusapi.web import json_body, respond, services

logger = logging.getLogger(__name__)

SCHEDULER_DOWN = (
    "The scan could not be started: the crawler service is unavailable. Please try again."
)

bp = Blueprint("scans", __name__, url_prefix="/api/v3/scan")
bp.before_request(load_caller)


@bp.post("/website")
def start_scan():
    scan = _scan_request()
    user_id = _owner(scan)
    text = scan.domain.strip() if scan.domain is not None else visible_domain(scan.domain_id)
    target = _target(text)
    _refuse_private(target)
    engine = services().engine
    domain_id = store.get_or_create_domain(engine, target.key)
    job, created = store.start_scan(engine, domain_id, user_id, scan.max_pages)
    if not created:
        return _deduplicated(job, user_id)
    _schedule_or_fail(job, text)
    body = _accepted(job, deduplicated=False)
    return respond(body, 202, {"Location": body.status_url})


def _scan_request() -> EmailScanRequest:
    try:
        return EmailScanRequest.model_validate(json_body())
    except pydantic.ValidationError as exc:
        raise ApiError(422, "validation_error", validation_message(exc)) from None


def _owner(scan: EmailScanRequest) -> uuid.UUID:
    """The key's owner; without keys the body's user_id or the system user."""
    who = caller()
    if not who.authenticated:
        return scan.user_id or SYSTEM_USER_ID
    if scan.user_id is not None and scan.user_id != who.user_id:
        raise ApiError(
            422,
            "validation_error",
            "user_id: jobs belong to the API key's owner; leave user_id out or send the key's.",
        )
    return who.user_id


def _target(text: str) -> Target:
    try:
        return parse_target(text)
    except ValueError as exc:  # InvalidDomain, and urlsplit's own ("Invalid IPv6 URL")
        raise ApiError(400, "invalid_domain", f"This is not a website address: {exc}.") from None


def _refuse_private(target: Target) -> None:
    """Refuse private, local and unresolvable targets up front (the crawl checks again)."""
    if is_true(current_app.config["ALLOW_PRIVATE_NETWORKS"]):
        return
    # A public host's other services (ssh, scrapyd, PostgreSQL) are refused as the crawl would.
    refusal = (port_refusal(target.port) if target.port else None) or host_refusal(
        target.host, resolve=services().resolve
    )
    if refusal is None:
        return
    if refusal.startswith(UNRESOLVABLE_PREFIX):
        message = f"The domain {target.host} could not be found ({refusal}). Check the spelling."
        raise ApiError(400, "unresolvable_domain", message)
    message = f"This site cannot be scanned: {refusal}. Only public websites can be scanned."
    raise ApiError(400, "private_address", message)


def _deduplicated(job: Job, user_id: uuid.UUID):
    # With API keys a caller sees only its own jobs: another user's scan can't be shared.
    if caller().authenticated and job.user_id != user_id:
        raise ApiError(
            409,
            "scan_in_progress",
            f"{job.domain} is being scanned right now. Please try again when that scan ends.",
            {"Retry-After": "30"},
        )
    return respond(_accepted(job, deduplicated=True), 200)


def _schedule_or_fail(job: Job, domain: str) -> None:
    """Schedule the crawl; when that fails close the job at once, so the domain isn't blocked."""
    engine = services().engine
    try:
        jobs.schedule(engine, services().scrapyd, job, domain)
    except ScrapydError as exc:
        logger.error("Could not schedule job %s: %s", job.id, exc)
        store.finish_job(engine, job.id, TaskStatus.FAILED, error=SCHEDULER_DOWN)
        raise ApiError(
            503, "scheduler_unavailable", f"{SCHEDULER_DOWN} (job {job.id} was closed.)"
        ) from None
    except BaseException:
        store.finish_job(engine, job.id, TaskStatus.FAILED, error=SCHEDULER_DOWN)
        raise


def _accepted(job: Job, deduplicated: bool) -> ScanAccepted:
    return ScanAccepted(
        job_id=job.id,
        status=job.status,
        domain_id=job.domain_id,
        domain=job.domain,
        status_url=url_for("jobs.status", job_id=job.id),
        deduplicated=deduplicated,
    )
