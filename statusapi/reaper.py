"""Close jobs whose crawl died or was lost; reschedule (once) PENDING jobs scrapyd forgot."""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from emailscan import db, store
from emailscan.models import TaskStatus
from emailscan.store import Job
from statusapi import jobs
from statusapi.config import DEFAULTS
from statusapi.scrapyd import ScrapydError, ScrapydNodes

logger = logging.getLogger(__name__)

NOT_STARTED = "The scan could not be started: the crawler service lost it. Please try again."


def reap(
    engine: sa.Engine,
    scrapyd: ScrapydNodes,
    heartbeat_timeout: float,
    pending_timeout: float,
    hung_timeout: float,
) -> dict[str, int]:
    """One pass over the open jobs; counts of what happened to them."""
    counts = collections.Counter(
        {"checked": 0, "failed": 0, "rescheduled": 0, "unreachable": 0, "ok": 0}
    )
    now = store.utcnow()
    for job in store.open_jobs(engine):
        counts["checked"] += 1
        if not jobs.looks_stuck(job, now, pending_timeout, heartbeat_timeout):
            counts["ok"] += 1
        elif job.status is TaskStatus.RUNNING:
            counts[jobs.check_running(engine, scrapyd, job, now, hung_timeout)] += 1
        else:
            counts[_reap_pending(engine, scrapyd, job)] += 1
    if counts["failed"] or counts["rescheduled"]:
        logger.info("Reaper: %s", dict(counts))
    return dict(counts)


def _reap_pending(engine: sa.Engine, scrapyd: ScrapydNodes, job: Job) -> str:
    try:
        state = scrapyd.status(job.scheduler_node, jobs.scrapyd_jobid(job))
    except ScrapydError as exc:
        logger.warning("Job %s: scrapyd unreachable, left for the next round: %s", job.id, exc)
        return "unreachable"
    if state in ("pending", "running"):
        return "ok"  # queued behind other crawls, or starting
    if state == "finished":  # the crawl ran and ended without claiming its job
        return _fail(engine, job, jobs.LOST)
    if job.heartbeat_at is not None:  # rescheduled once already, and lost again
        return _fail(engine, job, NOT_STARTED)
    if not store.mark_rescheduled(engine, job.id):
        return "ok"  # another reaper got there first, or the job moved on
    try:
        node = jobs.schedule(engine, scrapyd, job, job.domain)
    except ScrapydError as exc:
        logger.warning("Job %s: could not reschedule: %s", job.id, exc)
        return _fail(engine, job, NOT_STARTED)
    logger.warning("Job %s: scrapyd had lost it; rescheduled on %s", job.id, node)
    return "rescheduled"


def _fail(engine: sa.Engine, job: Job, error: str) -> str:
    return "failed" if store.finish_job(engine, job.id, TaskStatus.FAILED, error=error) else "ok"


def reap_once(config: Mapping[str, Any]) -> dict[str, int]:
    """One reaper pass with an engine and scrapyd clients built from the config (CLI)."""
    from statusapi.services import scrapyd_from_config

    config = {**DEFAULTS, **config}
    engine = db.make_engine(config["DATABASE_URL"])
    try:
        return reap(
            engine,
            scrapyd_from_config(config),
            heartbeat_timeout=float(config["HEARTBEAT_TIMEOUT"]),
            pending_timeout=float(config["PENDING_GRACE"]),
            hung_timeout=float(config["HUNG_TIMEOUT"]),
        )
    finally:
        engine.dispose()
