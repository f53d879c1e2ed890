"""The storage API on SQLite and PostgreSQL: lifecycle, races, counters and row counts."""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa

from emailscan import db, store
from emailscan.models import SYSTEM_USER_ID, TaskStatus, jobs
from emailscan.store import Sighting


@pytest.fixture
def domain_id(engine):
    return store.get_or_create_domain(engine, "acme.com")


@pytest.fixture
def running_job(engine, domain_id):
    job, _ = store.start_scan(engine, domain_id)
    assert store.claim_job(engine, job.id)
    return job


def test_get_or_create_domain_is_idempotent(engine):
    first = store.get_or_create_domain(engine, "acme.com")
    assert store.get_or_create_domain(engine, "acme.com") == first
    assert store.get_or_create_domain(engine, "other.org") != first
    assert store.get_domain(engine, first) == "acme.com"
    assert store.get_domain(engine, uuid.uuid4()) is None


def test_start_scan_creates_pending_job_owned_by_caller(engine, domain_id):
    user = uuid.uuid4()
    job, created = store.start_scan(engine, domain_id, user, max_pages=50)
    assert created
    assert job.status is TaskStatus.PENDING
    assert (job.user_id, job.domain, job.max_pages, job.progress) == (user, "acme.com", 50, 0.0)
    assert job.created_at.tzinfo is not None


def test_start_scan_returns_the_active_job(engine, domain_id):
    first, _ = store.start_scan(engine, domain_id)
    again, created = store.start_scan(engine, domain_id, uuid.uuid4())
    assert (again.id, created) == (first.id, False)
    store.claim_job(engine, first.id)
    assert store.start_scan(engine, domain_id)[0].id == first.id


def test_start_scan_after_finish_creates_a_new_job(engine, domain_id, running_job):
    assert store.finish_job(engine, running_job.id, TaskStatus.COMPLETE)
    job, created = store.start_scan(engine, domain_id)
    assert created and job.id != running_job.id


def test_database_refuses_a_second_active_job(engine, domain_id):
    store.start_scan(engine, domain_id)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(
            jobs.insert().values(
                id=uuid.uuid4(),
                domain_id=domain_id,
                user_id=SYSTEM_USER_ID,
                status=TaskStatus.RUNNING,
                created_at=store.utcnow(),
            )
        )


def test_twenty_racing_scans_make_one_job(engine, domain_id):
    barrier = threading.Barrier(20)
    results, errors = [], []

    def start():
        try:
            barrier.wait()
            results.append(store.start_scan(engine, domain_id, uuid.uuid4()))
        except Exception as exc:  # collected and reported below, never swallowed
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({job.id for job, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(jobs)) == 1


def test_claim_is_guarded_and_counts_rows(engine, domain_id):
    job, _ = store.start_scan(engine, domain_id)
    assert store.claim_job(engine, job.id) is True
    assert store.claim_job(engine, job.id) is False  # a second process finds nothing to claim
    assert store.claim_job(engine, uuid.uuid4()) is False
    claimed = store.get_job(engine, job.id)
    assert claimed.status is TaskStatus.RUNNING
    assert claimed.started_at is not None and claimed.heartbeat_at is not None


def test_progress_never_moves_backwards_and_stays_below_one(engine, running_job):
    assert store.record_progress(engine, running_job.id, 0.4, 40, 2)
    assert store.record_progress(engine, running_job.id, 0.2, 30, 1)
    job = store.get_job(engine, running_job.id)
    assert (job.progress, job.pages_crawled, job.emails_found) == (0.4, 40, 2)
    store.record_progress(engine, running_job.id, 1.0, 100, 3)
    assert store.get_job(engine, running_job.id).progress == store.MAX_RUNNING_PROGRESS


def test_progress_is_only_recorded_while_running(engine, domain_id):
    job, _ = store.start_scan(engine, domain_id)
    assert store.record_progress(engine, job.id, 0.5, 1, 0) is False
    assert store.get_job(engine, job.id).progress == 0.0


def test_complete_sets_progress_to_one_and_keeps_results(engine, domain_id, running_job):
    store.upsert_contacts(
        engine, domain_id, running_job.id, [Sighting("info@acme.com", "https://acme.com/", "role")]
    )
    assert store.finish_job(engine, running_job.id, TaskStatus.COMPLETE, pages_crawled=12)
    job = store.get_job(engine, running_job.id)
    assert (job.status, job.progress, job.pages_crawled, job.emails_found) == (
        TaskStatus.COMPLETE,
        1.0,
        12,
        1,
    )
    assert job.finished_at is not None
    assert job.result_data["emails"] == [
        {
            "email": "info@acme.com",
            "kind": "role",
            "on_domain": False,
            "sources": ["https://acme.com/"],
        }
    ]


@pytest.mark.parametrize("status", [TaskStatus.FAILED, TaskStatus.CANCELLED])
def test_failed_and_cancelled_keep_progress_and_partial_results(
    engine, domain_id, running_job, status
):
    store.record_progress(engine, running_job.id, 0.3, 5, 1)
    store.upsert_contacts(
        engine, domain_id, running_job.id, [Sighting("bob@acme.com", "https://acme.com/team")]
    )
    assert store.finish_job(engine, running_job.id, status, error="The site stopped answering.")
    job = store.get_job(engine, running_job.id)
    assert (job.status, job.progress, job.error) == (status, 0.3, "The site stopped answering.")
    assert [entry["email"] for entry in job.result_data["emails"]] == ["bob@acme.com"]


def test_first_outcome_stands(engine, running_job):
    assert store.finish_job(engine, running_job.id, TaskStatus.CANCELLED) is True
    assert store.finish_job(engine, running_job.id, TaskStatus.COMPLETE) is False
    assert store.get_job(engine, running_job.id).status is TaskStatus.CANCELLED


def test_finish_refuses_an_active_status(engine, running_job):
    with pytest.raises(ValueError):
        store.finish_job(engine, running_job.id, TaskStatus.RUNNING)


def test_pending_job_can_be_failed_before_it_starts(engine, domain_id):
    job, _ = store.start_scan(engine, domain_id)
    assert store.finish_job(engine, job.id, TaskStatus.FAILED, error="Scheduler unavailable.")
    assert store.get_job(engine, job.id).progress == 0.0


def test_get_job_hides_other_users_jobs(engine, domain_id):
    owner = uuid.uuid4()
    job, _ = store.start_scan(engine, domain_id, owner)
    assert store.get_job(engine, job.id, owner).id == job.id
    assert store.get_job(engine, job.id, uuid.uuid4()) is None
    assert store.get_job(engine, uuid.uuid4()) is None


def test_set_scheduled_counts_rows(engine, domain_id):
    job, _ = store.start_scan(engine, domain_id)
    assert store.set_scheduled(engine, job.id, "http://127.0.0.1:6800", job.id.hex) is True
    assert store.set_scheduled(engine, uuid.uuid4(), "http://127.0.0.1:6800", "x") is False
    assert store.get_job(engine, job.id).scheduler_node == "http://127.0.0.1:6800"


def test_upsert_contacts_merges_sources_and_keeps_first_seen(engine, domain_id, running_job):
    batch = [
        Sighting("info@acme.com", "https://acme.com/", "role", True),
        Sighting("info@acme.com", "https://acme.com/contact", "role", True),
        Sighting("info@acme.com", "https://acme.com/", "role", True),
        Sighting("ann@acme.com", "https://acme.com/team", "personal", True),
    ]
    assert store.upsert_contacts(engine, domain_id, running_job.id, batch) == 2
    first = {e["email"]: e for e in store.job_emails(engine, running_job.id)}
    assert first["info@acme.com"]["sources"] == ["https://acme.com/", "https://acme.com/contact"]

    later = [Sighting("info@acme.com", "https://acme.com/imprint", "role", True)]
    assert store.upsert_contacts(engine, domain_id, running_job.id, later) == 0
    merged = {e["email"]: e for e in store.job_emails(engine, running_job.id)}
    assert merged["info@acme.com"]["sources"] == [
        "https://acme.com/",
        "https://acme.com/contact",
        "https://acme.com/imprint",
    ]
    with engine.connect() as connection:
        row = connection.execute(
            sa.text("SELECT first_seen_at, last_seen_at, sightings FROM contacts WHERE email = :e"),
            {"e": "info@acme.com"},
        ).one()
    assert row.last_seen_at >= row.first_seen_at
    assert row.sightings == 3


def test_sources_are_capped_but_sightings_counted(engine, domain_id, running_job):
    pages = [Sighting("info@acme.com", f"https://acme.com/p{n}") for n in range(50)]
    store.upsert_contacts(engine, domain_id, running_job.id, pages)
    (entry,) = store.job_emails(engine, running_job.id)
    assert len(entry["sources"]) == store.MAX_SOURCES
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT sightings FROM contacts")) == 50


def test_contacts_are_per_domain(engine, running_job, domain_id):
    other = store.get_or_create_domain(engine, "other.org")
    sighting = Sighting("info@acme.com", "https://acme.com/")
    assert store.upsert_contacts(engine, domain_id, running_job.id, [sighting]) == 1
    assert store.upsert_contacts(engine, other, running_job.id, [sighting]) == 1
    assert store.upsert_contacts(engine, domain_id, running_job.id, []) == 0


def test_list_jobs_pages_newest_first_and_filters(engine):
    owner, other = uuid.uuid4(), uuid.uuid4()
    made = []
    for host in ("a.com", "b.com", "c.com"):
        job, _ = store.start_scan(engine, store.get_or_create_domain(engine, host), owner)
        made.append(job)
    store.start_scan(engine, store.get_or_create_domain(engine, "d.com"), other)
    store.claim_job(engine, made[0].id)
    page, total = store.list_jobs(engine, owner, limit=2)
    assert total == 3
    assert [job.domain for job in page] == ["c.com", "b.com"]
    assert [job.domain for job in store.list_jobs(engine, owner, limit=2, offset=2)[0]] == ["a.com"]
    running, total = store.list_jobs(engine, owner, status=TaskStatus.RUNNING)
    assert (total, [job.id for job in running]) == (1, [made[0].id])
    assert store.list_jobs(engine, owner, domain="b.com")[1] == 1
    assert store.list_jobs(engine, uuid.uuid4()) == ([], 0)


def test_open_jobs_lists_pending_and_running(engine, domain_id, running_job):
    other, _ = store.start_scan(engine, store.get_or_create_domain(engine, "b.com"))
    assert {job.id for job in store.open_jobs(engine)} == {running_job.id, other.id}
    store.finish_job(engine, other.id, TaskStatus.FAILED)
    assert [job.id for job in store.open_jobs(engine)] == [running_job.id]


def test_domain_contacts_lists_everything_found(engine, domain_id, running_job):
    store.upsert_contacts(
        engine,
        domain_id,
        running_job.id,
        [
            Sighting("b@acme.com", "https://acme.com/1"),
            Sighting("a@acme.com", "https://acme.com/2"),
        ],
    )
    found = store.domain_contacts(engine, domain_id)
    assert [c["email"] for c in found] == ["a@acme.com", "b@acme.com"]
    assert found[0]["source_urls"] == ["https://acme.com/2"]
    assert found[0]["first_seen_at"].tzinfo is not None
    assert found[0]["last_job_id"] == running_job.id


def test_api_keys_are_compared_in_constant_time(engine, monkeypatch):
    secret = store.create_api_key(engine, uuid.uuid4())
    compared = []

    def compare_digest(a, b):
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(store.hmac, "compare_digest", compare_digest)

    assert store.user_for_api_key(engine, secret) is not None
    assert compared == [(store._key_hash(secret),) * 2]


def test_api_keys_are_stored_hashed_and_revocable(engine):
    assert store.api_keys_exist(engine) is False
    owner = uuid.uuid4()
    secret = store.create_api_key(engine, owner, "frontend")
    assert store.api_keys_exist(engine) is True
    assert store.user_for_api_key(engine, secret) == owner
    assert store.user_for_api_key(engine, secret + "x") is None
    with engine.connect() as connection:
        stored = connection.scalar(sa.text("SELECT key_hash FROM api_keys"))
    assert secret not in stored
    assert store.revoke_api_key(engine, secret) is True
    assert store.revoke_api_key(engine, secret) is False
    assert store.user_for_api_key(engine, secret) is None
    assert store.api_keys_exist(engine) is False


def test_start_scan_keeps_working_on_one_connection(database_url):
    # PostgreSQL: psycopg prepares a statement on its 5th run on a connection, and the server
    # may plan it generically 5 runs later; the partial index must still match ON CONFLICT.
    engine = db.make_engine(database_url, pool_size=1, max_overflow=0)
    db.upgrade(engine)
    try:
        domain_id = store.get_or_create_domain(engine, "acme.com")
        for _ in range(15):
            job, created = store.start_scan(engine, domain_id)
            again, created_again = store.start_scan(engine, domain_id)
            assert (created, created_again, again.id) == (True, False, job.id)
            store.finish_job(engine, job.id, TaskStatus.COMPLETE)
    finally:
        engine.dispose()
