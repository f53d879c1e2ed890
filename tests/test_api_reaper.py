"""The reaper: dead crawls closed FAILED, forgotten PENDING jobs rescheduled once, then failed."""

from __future__ import annotations

import datetime as dt

import pytest

from emailscan import store
from emailscan.models import TaskStatus
from emailscan.store import Sighting
from statusapi import jobs, reaper
from statusapi.scrapyd import ScrapydNodes, ScrapydUnavailable

pytest_plugins = ["tests.fake_scrapyd"]

HEARTBEAT_TIMEOUT, PENDING_TIMEOUT, HUNG_TIMEOUT = 6, 30, 180


def ago(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)


@pytest.fixture
def nodes(fake_scrapyd):
    return ScrapydNodes([fake_scrapyd])


@pytest.fixture
def reap(engine, nodes):
    return lambda: reaper.reap(engine, nodes, HEARTBEAT_TIMEOUT, PENDING_TIMEOUT, HUNG_TIMEOUT)


@pytest.fixture
def pending(engine, nodes):
    """A scheduled PENDING job for acme.com (max 7 pages)."""
    job, _ = store.start_scan(engine, store.get_or_create_domain(engine, "acme.com"), max_pages=7)
    jobs.schedule(engine, nodes, job, "acme.com")
    return store.get_job(engine, job.id)


@pytest.fixture
def running(engine, pending):
    store.claim_job(engine, pending.id)
    sighting = Sighting("info@acme.com", "https://acme.com/", "role", True)
    store.upsert_contacts(engine, pending.domain_id, pending.id, [sighting])
    return store.get_job(engine, pending.id)


@pytest.mark.parametrize(
    ("silent", "scrapyd_says", "outcome", "error", "cancelled"),
    [
        # Three heartbeats missed: scrapyd is asked whether the crawl still runs.
        (HEARTBEAT_TIMEOUT + 1, "finished", "failed", jobs.LOST, False),
        # Unknown to scrapyd: restarted, its crawl may run on as an orphan, for a while.
        (HEARTBEAT_TIMEOUT + 1, "", "ok", None, False),
        (HUNG_TIMEOUT + 1, "", "failed", jobs.LOST, False),
        (HEARTBEAT_TIMEOUT + 1, "running", "ok", None, False),  # slow database writes
        (HEARTBEAT_TIMEOUT + 1, "down", "unreachable", None, False),
        # Silent for longer than any database retry: hung, whatever scrapyd says.
        (HUNG_TIMEOUT + 1, "running", "failed", jobs.HUNG, True),
        (HUNG_TIMEOUT + 1, "down", "failed", jobs.HUNG, False),
        (HUNG_TIMEOUT + 1, "finished", "failed", jobs.LOST, False),
    ],
)
def test_running_job_without_heartbeat(
    engine, running, reap, set_job, fake_scrapyd, silent, scrapyd_says, outcome, error, cancelled
):
    set_job(running.id, heartbeat_at=ago(silent))
    if scrapyd_says == "down":
        fake_scrapyd.down = True
    else:
        fake_scrapyd.states[str(running.id)] = scrapyd_says

    counts = reap()

    job = store.get_job(engine, running.id)
    assert (counts["checked"], counts[outcome]) == (1, 1)
    if error is None:
        assert job.status is TaskStatus.RUNNING
    else:
        assert (job.status, job.error) == (TaskStatus.FAILED, error)
        assert [e["email"] for e in job.result_data["emails"]] == ["info@acme.com"]
    expected = [{"jobid": str(running.id), "signal": "TERM"}] if cancelled else []
    assert fake_scrapyd.called("cancel") == expected


def test_healthy_jobs_are_left_alone(engine, running, reap, fake_scrapyd):
    young, _ = store.start_scan(engine, store.get_or_create_domain(engine, "globex.com"))

    counts = reap()

    assert (counts["checked"], counts["ok"]) == (2, 2)
    assert store.get_job(engine, running.id).status is TaskStatus.RUNNING
    assert store.get_job(engine, young.id).status is TaskStatus.PENDING
    assert not fake_scrapyd.called("status")


def test_old_pending_job_still_queued_is_left_alone(engine, pending, reap, set_job):
    set_job(pending.id, created_at=ago(PENDING_TIMEOUT + 5))

    assert reap()["ok"] == 1
    assert store.get_job(engine, pending.id).status is TaskStatus.PENDING


def test_pending_job_whose_crawl_ended_unclaimed_is_failed(
    engine, pending, reap, set_job, fake_scrapyd
):
    set_job(pending.id, created_at=ago(PENDING_TIMEOUT + 5))
    fake_scrapyd.states[str(pending.id)] = "finished"

    assert reap()["failed"] == 1
    job = store.get_job(engine, pending.id)
    assert (job.status, job.error) == (TaskStatus.FAILED, jobs.LOST)


def test_forgotten_pending_job_is_rescheduled_once_then_failed(
    engine, pending, reap, set_job, fake_scrapyd
):
    set_job(pending.id, created_at=ago(PENDING_TIMEOUT + 5))
    fake_scrapyd.states.clear()  # scrapyd lost its queue
    fake_scrapyd.calls.clear()

    assert reap()["rescheduled"] == 1
    [again] = fake_scrapyd.called("schedule")
    assert again == {
        "spider": "emails",
        "jobid": str(pending.id),
        "domain": "acme.com",
        "job_id": str(pending.id),
        "max_pages": "7",
    }
    assert store.get_job(engine, pending.id).status is TaskStatus.PENDING
    assert reap()["ok"] == 1  # a fresh grace period after the reschedule

    set_job(pending.id, heartbeat_at=ago(PENDING_TIMEOUT + 5))
    fake_scrapyd.states.clear()  # lost again

    assert reap()["failed"] == 1
    job = store.get_job(engine, pending.id)
    assert (job.status, job.error) == (TaskStatus.FAILED, reaper.NOT_STARTED)
    assert len(fake_scrapyd.called("schedule")) == 1


def test_forgotten_pending_job_that_cannot_be_rescheduled_is_failed(
    engine, pending, reap, set_job, fake_scrapyd
):
    set_job(pending.id, created_at=ago(PENDING_TIMEOUT + 5))
    fake_scrapyd.states.clear()

    def refuse(*args, **kwargs):
        raise ScrapydUnavailable("gone mid-way")

    fake_scrapyd.schedule = refuse

    assert reap()["failed"] == 1
    assert store.get_job(engine, pending.id).error == reaper.NOT_STARTED


def test_pending_job_on_an_unreachable_node_is_left_for_next_round(
    engine, pending, reap, set_job, fake_scrapyd
):
    set_job(pending.id, created_at=ago(PENDING_TIMEOUT + 5))
    fake_scrapyd.down = True

    assert reap()["unreachable"] == 1
    assert store.get_job(engine, pending.id).status is TaskStatus.PENDING


def test_pending_job_never_scheduled_is_scheduled(engine, reap, set_job, fake_scrapyd):
    # The API died between creating the job and scheduling it: no node recorded.
    job, _ = store.start_scan(engine, store.get_or_create_domain(engine, "acme.com"))
    set_job(job.id, created_at=ago(PENDING_TIMEOUT + 5))

    assert reap()["rescheduled"] == 1
    assert store.get_job(engine, job.id).scheduler_node == fake_scrapyd.url


def test_reap_once_builds_everything_from_config(
    engine, database_url, running, set_job, fake_scrapyd
):
    set_job(running.id, heartbeat_at=ago(600))

    counts = reaper.reap_once({"DATABASE_URL": database_url, "SCRAPYD": fake_scrapyd})

    assert counts["failed"] == 1
    assert store.get_job(engine, running.id).status is TaskStatus.FAILED
