"""Job status (shapes, headers, reconciliation with scrapyd), cancel, and the job list."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from emailscan import store
from emailscan.models import SYSTEM_USER_ID, TaskStatus
from emailscan.store import Sighting
from statusapi.config import DEFAULTS
from statusapi.jobs import LOST
from statusapi.status import CANCELLED

pytest_plugins = ["tests.fake_scrapyd"]


def status_of(api, job_id):
    return api.get(f"/api/v3/scan/status/{job_id}")


def start(api, domain="acme.com") -> uuid.UUID:
    response = api.post("/api/v3/scan/website", json={"domain": domain})
    assert response.status_code == 202, response.get_json()
    return uuid.UUID(response.get_json()["job_id"])


def run(engine, job_id, *emails):
    """The crawl's side: claim the job, store some sightings, report progress."""
    job = store.get_job(engine, job_id)
    assert store.claim_job(engine, job_id)
    sightings = [
        Sighting(email, f"https://acme.com/p{i}", "role") for i, email in enumerate(emails)
    ]
    store.upsert_contacts(engine, job.domain_id, job_id, sightings)
    store.record_progress(engine, job_id, 0.5, 10, len(emails))


def ago(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)


def parse_time(text):
    assert text.endswith("Z") or text.endswith("+00:00"), text
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_pending_job_status(api):
    job_id = start(api)

    response = status_of(api, job_id)

    assert response.status_code == 200
    assert response.headers["Retry-After"] == "2"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["status"] == "PENDING"
    assert body["progress"] == 0
    assert body["result_data"] == {"emails": [], "partial": True, "stats": None}
    assert body["error"] is None
    assert body["started_at"] is None and body["finished_at"] is None
    assert parse_time(body["created_at"]) <= dt.datetime.now(dt.UTC)


def test_running_job_shows_the_addresses_found_so_far(api, engine):
    job_id = start(api)
    run(engine, job_id, "info@acme.com", "sales@acme.com")

    response = status_of(api, job_id)

    body = response.get_json()
    assert response.headers["Retry-After"] == "2"
    assert body["status"] == "RUNNING"
    assert (body["progress"], body["pages_crawled"], body["emails_found"]) == (0.5, 10, 2)
    assert body["result_data"]["partial"] is True
    assert body["result_data"]["emails"] == [
        {
            "email": "info@acme.com",
            "kind": "role",
            "on_domain": False,
            "sources": ["https://acme.com/p0"],
        },
        {
            "email": "sales@acme.com",
            "kind": "role",
            "on_domain": False,
            "sources": ["https://acme.com/p1"],
        },
    ]
    parse_time(body["started_at"])


def test_complete_job_status(api, engine):
    job_id = start(api)
    run(engine, job_id, "info@acme.com")
    store.finish_job(engine, job_id, TaskStatus.COMPLETE, pages_crawled=12, stats={"seconds": 3})

    response = status_of(api, job_id)

    body = response.get_json()
    assert "Retry-After" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    assert body["status"] == "COMPLETE"
    assert body["progress"] == 1.0
    assert body["pages_crawled"] == 12
    assert body["result_data"]["partial"] is False
    assert body["result_data"]["stats"] == {"seconds": 3}
    assert [e["email"] for e in body["result_data"]["emails"]] == ["info@acme.com"]
    assert parse_time(body["finished_at"]) >= parse_time(body["started_at"])


@pytest.mark.parametrize(
    ("job_id", "status", "code"),
    [
        ("nope", 400, "invalid_job_id"),
        ("12345", 400, "invalid_job_id"),
        (uuid.uuid4(), 404, "job_not_found"),
    ],
)
def test_status_of_bad_or_unknown_job(api, job_id, status, code):
    response = status_of(api, job_id)

    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


@pytest.mark.parametrize(
    ("scrapyd_state", "silent"),
    [
        ("finished", 10),
        # scrapyd restarted and forgot it: an orphaned crawl may run on, so only a long
        # silence tells it is gone.
        ("forgotten", DEFAULTS["HUNG_TIMEOUT"] + 1),
    ],
)
def test_running_job_whose_crawl_is_gone_is_failed_with_partial_results(
    api, engine, fake_scrapyd, scrapyd_state, silent, set_job
):
    job_id = start(api)
    run(engine, job_id, "info@acme.com")
    set_job(job_id, heartbeat_at=ago(silent))
    if scrapyd_state == "finished":
        fake_scrapyd.states[str(job_id)] = "finished"
    else:
        fake_scrapyd.states.clear()  # scrapyd restarted: it forgets finished jobs

    body = status_of(api, job_id).get_json()

    assert fake_scrapyd.called("status") == [{"jobid": str(job_id)}]
    assert body["status"] == "FAILED"
    assert body["error"] == LOST
    assert body["result_data"]["partial"] is True
    assert [e["email"] for e in body["result_data"]["emails"]] == ["info@acme.com"]


def test_running_job_forgotten_by_a_restarted_scrapyd_gets_time_to_show_up(
    api, engine, fake_scrapyd, set_job
):
    job_id = start(api)
    run(engine, job_id)
    set_job(job_id, heartbeat_at=ago(10))
    fake_scrapyd.states.clear()

    assert status_of(api, job_id).get_json()["status"] == "RUNNING"
    assert fake_scrapyd.called("status") == [{"jobid": str(job_id)}]


def test_running_job_with_a_fresh_heartbeat_does_not_ask_scrapyd(api, engine, fake_scrapyd):
    job_id = start(api)
    run(engine, job_id)
    fake_scrapyd.states.clear()

    for _ in range(3):
        assert status_of(api, job_id).get_json()["status"] == "RUNNING"
    assert not fake_scrapyd.called("status")


def test_stale_job_that_scrapyd_still_runs_is_left_and_checked_rarely(
    api, engine, fake_scrapyd, set_job
):
    job_id = start(api)
    run(engine, job_id)
    set_job(job_id, heartbeat_at=ago(120))
    fake_scrapyd.states[str(job_id)] = "running"

    for _ in range(3):
        assert status_of(api, job_id).get_json()["status"] == "RUNNING"
    assert len(fake_scrapyd.called("status")) == 1


def test_pending_job_is_checked_only_after_the_grace_period(api, engine, fake_scrapyd, set_job):
    job_id = start(api)
    fake_scrapyd.states.clear()
    assert status_of(api, job_id).get_json()["status"] == "PENDING"
    assert not fake_scrapyd.called("status")

    set_job(job_id, created_at=ago(31))
    body = status_of(api, job_id).get_json()

    assert body["status"] == "FAILED"
    assert body["error"] == LOST


def test_stale_job_is_answered_as_it_is_when_scrapyd_is_down(api, engine, fake_scrapyd, set_job):
    job_id = start(api)
    run(engine, job_id)
    set_job(job_id, heartbeat_at=ago(120))
    fake_scrapyd.down = True

    response = status_of(api, job_id)

    assert response.status_code == 200
    assert response.get_json()["status"] == "RUNNING"


def test_cancel_pending_job(api, engine, fake_scrapyd):
    job_id = start(api)

    response = api.post(f"/api/v3/scan/{job_id}/cancel")

    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "CANCELLED"
    assert body["error"] == CANCELLED
    assert "Retry-After" not in response.headers
    assert fake_scrapyd.called("cancel") == [{"jobid": str(job_id), "signal": "TERM"}]
    assert start(api) != job_id  # the domain is free again


def test_cancel_running_job_is_cancelled_at_once_and_its_crawl_signalled(api, engine, fake_scrapyd):
    job_id = start(api)
    run(engine, job_id, "info@acme.com")
    fake_scrapyd.states[str(job_id)] = "running"

    response = api.post(f"/api/v3/scan/{job_id}/cancel")

    assert response.status_code == 202
    body = response.get_json()
    assert (body["status"], body["error"]) == ("CANCELLED", CANCELLED)
    assert [e["email"] for e in body["result_data"]["emails"]] == ["info@acme.com"]
    assert fake_scrapyd.called("cancel") == [{"jobid": str(job_id), "signal": "TERM"}]
    # The crawl's heartbeat now finds its job closed, and it stops.
    assert not store.record_progress(engine, job_id, 0.5, 3, 1)


def test_cancel_finished_job_is_409(api, engine):
    job_id = start(api)
    store.finish_job(engine, job_id, TaskStatus.COMPLETE)

    response = api.post(f"/api/v3/scan/{job_id}/cancel")

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "job_finished"


def test_cancel_with_scrapyd_down_still_cancels(api, engine, fake_scrapyd):
    job_id = start(api)
    fake_scrapyd.down = True

    response = api.post(f"/api/v3/scan/{job_id}/cancel")

    assert response.status_code == 202
    assert store.get_job(engine, job_id).status is TaskStatus.CANCELLED
    # A queued crawl that starts later finds its job closed and exits at the claim.
    assert not store.claim_job(engine, job_id)


@pytest.mark.parametrize("job_id", ["nope", uuid.uuid4()])
def test_cancel_bad_or_unknown_job(api, job_id):
    response = api.post(f"/api/v3/scan/{job_id}/cancel")

    assert response.status_code in (400, 404)
    assert response.get_json()["error"]["code"] in ("invalid_job_id", "job_not_found")


@pytest.fixture
def three_jobs(api, engine, set_job):
    """acme.com COMPLETE, globex.com FAILED, initech.com PENDING, oldest first."""
    ids = []
    for domain, outcome in (("acme.com", TaskStatus.COMPLETE), ("globex.com", TaskStatus.FAILED)):
        job_id = start(api, domain)
        store.finish_job(engine, job_id, outcome)
        ids.append(job_id)
    ids.append(start(api, "initech.com"))
    for age, job_id in zip((30, 20, 10), ids, strict=True):
        set_job(job_id, created_at=ago(age))
    return [str(job_id) for job_id in ids]


def test_jobs_list_pages_newest_first(api, three_jobs):
    first = api.get("/api/v3/scan/jobs?limit=2").get_json()
    second = api.get("/api/v3/scan/jobs?limit=2&offset=2").get_json()

    assert (first["total"], first["limit"], first["offset"]) == (3, 2, 0)
    assert [job["job_id"] for job in first["jobs"] + second["jobs"]] == three_jobs[::-1]
    assert "result_data" not in first["jobs"][0]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=COMPLETE", [0]),
        ("status=failed", [1]),
        ("domain=https://www.acme.com/contact", [0]),
        ("domain=initech.com&status=PENDING", [2]),
        ("domain=hooli.com", []),
        ("status=&domain=&limit=&offset=", [2, 1, 0]),
    ],
)
def test_jobs_list_filters(api, three_jobs, query, expected):
    body = api.get(f"/api/v3/scan/jobs?{query}").get_json()

    assert [job["job_id"] for job in body["jobs"]] == [three_jobs[i] for i in expected]
    assert body["total"] == len(expected)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("status=DONE", "invalid_parameter"),
        ("limit=0", "invalid_parameter"),
        ("limit=many", "invalid_parameter"),
        ("offset=-1", "invalid_parameter"),
        ("domain=ftp://acme.com", "invalid_domain"),
        ("user_id=me", "invalid_parameter"),
    ],
)
def test_jobs_list_bad_parameters(api, query, code):
    response = api.get(f"/api/v3/scan/jobs?{query}")

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code


def test_open_api_lists_the_requested_users_jobs(api):
    user_id = uuid.uuid4()
    api.post("/api/v3/scan/website", json={"domain": "acme.com", "user_id": str(user_id)})
    start(api, "globex.com")

    mine = api.get(f"/api/v3/scan/jobs?user_id={user_id}").get_json()
    system = api.get("/api/v3/scan/jobs").get_json()

    assert [job["domain"] for job in mine["jobs"]] == ["acme.com"]
    assert [job["domain"] for job in system["jobs"]] == ["globex.com"]
    assert SYSTEM_USER_ID  # jobs without a user belong to the system user
