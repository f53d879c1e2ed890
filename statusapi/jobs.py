"""What the API does to jobs besides storing them: schedule them on scrapyd, reconcile with it."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid

import sqlalchemy as sa

from emailscan import store
from emailscan.models import TaskStatus
from emailscan.store import Job
from statusapi.scrapyd import ScrapydError, ScrapydNodes

logger = logging.getLogger(__name__)

SPIDER = "emails"
LOST = (
    "The crawl stopped unexpectedly: its process ended without reporting a result; "
    "the addresses found so far are kept."
)
HUNG = "The crawl stopped responding and was stopped; the addresses found so far are kept."
_ALIVE_STATES = ("pending", "running")  # scrapyd's states of a job that may still report
_MAX_TRACKED = 10_000


def crawl_arguments(job: Job, domain: str) -> dict[str, str]:
    """Spider arguments; never DATABASE_URL: crawls read it from their environment."""
    arguments = {"domain": domain, "job_id": str(job.id)}
    if job.max_pages:
        arguments["max_pages"] = str(job.max_pages)
    return arguments


def schedule(engine: sa.Engine, scrapyd: ScrapydNodes, job: Job, domain: str) -> str:
    """Queue the crawl of a PENDING job, with scrapyd's jobid = ours, and record where."""
    node, scrapyd_jobid = scrapyd.schedule(SPIDER, str(job.id), **crawl_arguments(job, domain))
    store.set_scheduled(engine, job.id, node, scrapyd_jobid)
    return node


def scrapyd_jobid(job: Job) -> str:
    return job.scheduler_job_id or str(job.id)


def looks_stuck(job: Job, now: dt.datetime, pending_grace: float, heartbeat_timeout: float) -> bool:
    """PENDING for longer than the grace period, or RUNNING without a recent heartbeat."""
    if job.status is TaskStatus.PENDING:
        # heartbeat_at on a PENDING row: the reaper rescheduled it then (store.mark_rescheduled).
        since, limit = job.heartbeat_at or job.created_at, pending_grace
    elif job.status is TaskStatus.RUNNING:
        since, limit = _last_heartbeat(job), heartbeat_timeout
    else:
        return False
    return now - since > dt.timedelta(seconds=limit)


def _last_heartbeat(job: Job) -> dt.datetime:
    return job.heartbeat_at or job.started_at or job.created_at


def check_running(
    engine: sa.Engine, scrapyd: ScrapydNodes, job: Job, now: dt.datetime, hung_timeout: float
) -> str:
    """A RUNNING job whose heartbeat is late: "failed" when it was closed FAILED, because
    scrapyd says its crawl ended, or because it has been silent for `hung_timeout` seconds
    (then its crawl is cancelled too: a hung crawl holds a slot); "ok" when its crawl may
    still run, "unreachable" when scrapyd could not tell."""
    silent = now - _last_heartbeat(job)
    hung = silent > dt.timedelta(seconds=hung_timeout)
    try:
        state = scrapyd.status(job.scheduler_node, scrapyd_jobid(job))
    except ScrapydError as exc:
        logger.warning("Could not ask scrapyd about job %s: %s", job.id, exc)
        state = None
    if state == "finished":  # scrapyd saw the process end
        error = LOST
    elif not hung:
        # Unknown to scrapyd: a restarted scrapyd forgets the crawls it ran, and they go on
        # running as orphans. Only silence for hung_timeout tells such a crawl is gone.
        return "unreachable" if state is None else "ok"
    else:
        error = LOST if state == "" else HUNG
    if not store.finish_job(engine, job.id, TaskStatus.FAILED, error=error):
        return "ok"  # it finished in the meantime
    logger.warning("Job %s closed FAILED: scrapyd says %r, silent for %s", job.id, state, silent)
    if state in _ALIVE_STATES:
        try:
            scrapyd.cancel(job.scheduler_node, scrapyd_jobid(job))
        except ScrapydError as exc:
            logger.warning("Job %s: could not cancel its crawl: %s", job.id, exc)
    return "failed"


class Reconciler:
    """Closes an open job whose crawl is gone, asking scrapyd only about jobs that look stuck,
    and about each one at most once per `interval` seconds (status polls are the hot path)."""

    def __init__(
        self,
        engine: sa.Engine,
        scrapyd: ScrapydNodes,
        pending_grace: float,
        heartbeat_timeout: float,
        hung_timeout: float,
        interval: float,
    ):
        self.engine = engine
        self.scrapyd = scrapyd
        self.pending_grace = pending_grace
        self.heartbeat_timeout = heartbeat_timeout
        self.hung_timeout = hung_timeout
        self.interval = interval
        self._next_check: dict[uuid.UUID, float] = {}
        self._lock = threading.Lock()

    def reconcile(self, job: Job) -> Job:
        """The job as it is, or closed FAILED when its crawl ended, is unknown or hangs."""
        now = store.utcnow()
        stuck = looks_stuck(job, now, self.pending_grace, self.heartbeat_timeout)
        if not stuck or not self._due(job.id):
            return job
        if job.status is TaskStatus.RUNNING:
            outcome = check_running(self.engine, self.scrapyd, job, now, self.hung_timeout)
        else:
            outcome = self._check_pending(job)
        if outcome != "failed":
            return job
        return store.get_job(self.engine, job.id) or job

    def _check_pending(self, job: Job) -> str:
        try:
            state = self.scrapyd.status(job.scheduler_node, scrapyd_jobid(job))
        except ScrapydError as exc:
            logger.warning("Could not ask scrapyd about job %s: %s", job.id, exc)
            return "unreachable"  # a poll never fails because scrapyd is away
        if state in _ALIVE_STATES:
            return "ok"
        if not store.finish_job(self.engine, job.id, TaskStatus.FAILED, error=LOST):
            return "ok"
        logger.warning("Job %s closed FAILED: scrapyd says %r", job.id, state or "unknown")
        return "failed"

    def _due(self, job_id: uuid.UUID) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._next_check.get(job_id, 0.0) > now:
                return False
            if len(self._next_check) >= _MAX_TRACKED:
                self._next_check = {k: t for k, t in self._next_check.items() if t > now}
            self._next_check[job_id] = now + self.interval
            return True
