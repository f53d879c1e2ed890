"""A caller's jobs: status (the hot path), cancel, and the list of them."""

from __future__ import annotations

import logging
import uuid

import pydantic
from flask import Blueprint, request

from emailscan import store
from emailscan.domains import parse_target
from emailscan.models import TaskStatus
from emailscan.store import Job
from statusapi import jobs
from statusapi.auth import caller, load_caller
from statusapi.errors import ApiError, validation_message
from statusapi.schemas import JobList, JobListQuery, JobStatusResponse, JobSummary, ResultData
from statusapi.scrapyd import ScrapydError
from statusapi.web import parse_uuid, respond, services

logger = logging.getLogger(__name__)

CANCELLED = "The scan was cancelled; the addresses found so far are kept."
POLL_AFTER_SECONDS = "2"

bp = Blueprint("jobs", __name__, url_prefix="/api/v3/scan")
bp.before_request(load_caller)


@bp.get("/status/<job_id>")
def status(job_id: str):
    job = services().reconciler.reconcile(_find_job(job_id))
    return _status_response(job)


@bp.post("/<job_id>/cancel")
def cancel(job_id: str):
    """Cancel in the database first: that is the record, and a running crawl stops itself at
    its next heartbeat when it sees it. Then scrapyd is told, so a queued crawl never starts
    and a running one stops at once (SIGTERM); scrapyd being away changes neither."""
    job = _find_job(job_id)
    engine = services().engine
    if not store.finish_job(engine, job.id, TaskStatus.CANCELLED, error=CANCELLED):
        job = store.get_job(engine, job.id) or job
        raise ApiError(409, "job_finished", f"The job is already {job.status}: nothing to cancel.")
    try:
        services().scrapyd.cancel(job.scheduler_node, jobs.scrapyd_jobid(job))
    except ScrapydError as exc:
        logger.warning(
            "Job %s cancelled; scrapyd was not told (the crawl stops itself): %s", job.id, exc
        )
    return _status_response(store.get_job(engine, job.id) or job, 202)


@bp.get("/jobs")
def list_jobs():
    repeated = sorted(name for name, values in request.args.lists() if len(values) > 1)
    if repeated:
        raise ApiError(400, "invalid_parameter", f"Give {', '.join(repeated)} once.")
    # `?status=&domain=` as forms send them: an empty value is no filter.
    arguments = {name: value for name, value in request.args.items() if value}
    if "status" in arguments:
        arguments["status"] = arguments["status"].upper()
    try:
        query = JobListQuery.model_validate(arguments)
    except pydantic.ValidationError as exc:
        raise ApiError(400, "invalid_parameter", validation_message(exc)) from None
    found, total = store.list_jobs(
        services().engine,
        caller().user_id,
        status=query.status,
        domain=_domain_key(query.domain),
        limit=query.limit,
        offset=query.offset,
    )
    summaries = [JobSummary.from_job(job) for job in found]
    return respond(JobList(jobs=summaries, total=total, limit=query.limit, offset=query.offset))


def _domain_key(text: str | None) -> str | None:
    """Filter by the domain as stored: `https://www.acme.com/` finds acme.com's jobs."""
    if text is None:
        return None
    try:
        return parse_target(text).key
    except ValueError as exc:  # InvalidDomain, and urlsplit's own
        raise ApiError(400, "invalid_domain", f"domain: {exc}.") from None


def _find_job(text: str) -> Job:
    """The job if the caller may see it; others' jobs are as unknown as missing ones."""
    job_id: uuid.UUID = parse_uuid(text, "invalid_job_id", "The job id")
    job = store.get_job(services().engine, job_id, caller().owner_filter())
    if job is None:
        raise ApiError(404, "job_not_found", f"There is no job {job_id}.")
    return job


def _status_response(job: Job, status: int = 200):
    body = JobStatusResponse.from_job(job, result_data=_result_data(job))
    headers = {} if job.status.finished else {"Retry-After": POLL_AFTER_SECONDS}
    return respond(body, status, headers)


def _result_data(job: Job) -> ResultData:
    """Final results from the row once finished; until then what the crawl has stored so far."""
    partial = job.status is not TaskStatus.COMPLETE
    if job.status.finished and job.result_data is not None:
        data = job.result_data
        return ResultData(emails=data.get("emails", []), partial=partial, stats=data.get("stats"))
    if job.status is TaskStatus.PENDING:
        return ResultData(emails=[], partial=partial)  # no crawl has claimed it: nothing yet
    return ResultData(emails=store.job_emails(services().engine, job.id), partial=partial)
