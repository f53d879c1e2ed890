"""POST /api/v3/scan/website: validation, SSRF pre-check, deduplication, scheduling on scrapyd."""

from __future__ import annotations

import socket
import threading
import uuid

import pytest
import sqlalchemy as sa

from emailscan import store
from emailscan.models import SYSTEM_USER_ID, TaskStatus, jobs
from statusapi.scans import SCHEDULER_DOWN

pytest_plugins = ["tests.fake_scrapyd"]

SCAN = "/api/v3/scan/website"


def job_count(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(sa.select(sa.func.count()).select_from(jobs))


def test_new_scan_is_scheduled_and_answers_202_with_location(api, engine, fake_scrapyd):
    response = api.post(SCAN, json={"domain": "  https://www.Acme.com/contact  "})

    assert response.status_code == 202
    body = response.get_json()
    assert response.headers["Location"] == body["status_url"]
    assert body["status_url"] == f"/api/v3/scan/status/{body['job_id']}"
    assert body["status"] == TaskStatus.PENDING
    assert body["domain"] == "acme.com"
    assert body["deduplicated"] is False
    [scheduled] = fake_scrapyd.called("schedule")
    # The user's text goes to the spider as typed (stripped); the database URL never does.
    assert scheduled == {
        "spider": "emails",
        "jobid": body["job_id"],
        "domain": "https://www.Acme.com/contact",
        "job_id": body["job_id"],
    }
    job = store.get_job(engine, uuid.UUID(body["job_id"]))
    assert (job.scheduler_node, job.scheduler_job_id) == (fake_scrapyd.url, body["job_id"])
    assert job.user_id == SYSTEM_USER_ID
    assert str(job.domain_id) == body["domain_id"]


def test_max_pages_is_stored_and_passed_to_the_spider(api, engine, fake_scrapyd):
    body = api.post(SCAN, json={"domain": "acme.com", "max_pages": 25}).get_json()

    assert fake_scrapyd.called("schedule")[0]["max_pages"] == "25"
    assert store.get_job(engine, uuid.UUID(body["job_id"])).max_pages == 25


def test_open_api_stores_the_requested_user(api, engine):
    user_id = uuid.uuid4()
    body = api.post(SCAN, json={"domain": "acme.com", "user_id": str(user_id)}).get_json()

    assert store.get_job(engine, uuid.UUID(body["job_id"])).user_id == user_id


def test_second_scan_of_an_active_domain_returns_the_same_job(api, fake_scrapyd):
    first = api.post(SCAN, json={"domain": "acme.com"}).get_json()
    response = api.post(SCAN, json={"domain": "https://www.acme.com/about"})

    assert response.status_code == 200
    assert "Location" not in response.headers
    assert response.get_json()["job_id"] == first["job_id"]
    assert response.get_json()["deduplicated"] is True
    assert len(fake_scrapyd.called("schedule")) == 1


def test_concurrent_scans_of_one_domain_make_one_job(make_app, engine, fake_scrapyd):
    app = make_app()
    answers, barrier = [], threading.Barrier(20)

    def post():
        client = app.test_client()
        barrier.wait()
        response = client.post(SCAN, json={"domain": "acme.com"})
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 19 + [202]
    assert len({body["job_id"] for _, body in answers}) == 1
    assert job_count(engine) == 1
    assert len(fake_scrapyd.called("schedule")) == 1


def test_scan_by_domain_id_uses_the_stored_host(api, engine, fake_scrapyd):
    domain_id = store.get_or_create_domain(engine, "acme.com")

    response = api.post(SCAN, json={"domain_id": str(domain_id), "max_pages": 5})

    assert response.status_code == 202
    assert response.get_json()["domain_id"] == str(domain_id)
    assert fake_scrapyd.called("schedule")[0]["domain"] == "acme.com"


def test_scan_of_an_unknown_domain_id_is_404(api):
    response = api.post(SCAN, json={"domain_id": str(uuid.uuid4())})

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "domain_not_found"


@pytest.mark.parametrize(
    ("body", "status", "code", "mentions"),
    [
        ('{"domain": "not a domain"}', 400, "invalid_domain", "not a valid host name"),
        ('{"domain": "ftp://acme.com"}', 400, "invalid_domain", "only http and https"),
        ('{"domain": "acme"}', 400, "invalid_domain", "full domain name"),
        ('{"domain": "http://[::1"}', 400, "invalid_domain", "IPv6"),
        ('{"domain": "http://acme.com:99999"}', 400, "invalid_domain", "port"),
        ('{"domain": "acme.com", "extra": 1}', 422, "validation_error", "extra"),
        ('{"domain_id": "not-a-uuid"}', 422, "validation_error", "domain_id"),
        (f'{{"domain": "acme.com", "domain_id": "{uuid.uuid4()}"}}', 422, "validation_error", ""),
        ("{}", 422, "validation_error", "domain_id"),
        ('{"domain": "acme.com", "max_pages": 0}', 422, "validation_error", "max_pages"),
        ('{"domain": "acme.com", "max_pages": 10001}', 422, "validation_error", "max_pages"),
        ('{"domain": "acme.com", "user_id": "me"}', 422, "validation_error", "user_id"),
        ('{"domain": 42}', 422, "validation_error", "domain"),
        ("not json", 400, "invalid_json", "not valid JSON"),
        ('{"domain": "acme.com"', 400, "invalid_json", "not valid JSON"),
        ("", 400, "invalid_json", "empty"),
        ("[1, 2]", 400, "invalid_json", "JSON object"),
        (b"\xff\xfe", 400, "invalid_json", "not valid JSON"),
    ],
)
def test_bad_scan_requests(api, engine, fake_scrapyd, body, status, code, mentions):
    response = api.post(SCAN, data=body, content_type="application/json")

    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code
    assert mentions in error["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    assert job_count(engine) == 0
    assert not fake_scrapyd.calls


def test_body_without_content_type_is_read_as_json(api):
    response = api.post(SCAN, data='{"domain": "acme.com"}')

    assert response.status_code == 202


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_body_declared_as_something_else_is_415(api, engine, fake_scrapyd, content_type):
    response = api.post(SCAN, data='{"domain": "acme.com"}', content_type=content_type)

    assert response.status_code == 415
    error = response.get_json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert "application/json" in error["message"]
    assert job_count(engine) == 0
    assert not fake_scrapyd.calls


def test_many_scans_on_one_connection(make_app, fake_scrapyd):
    # PostgreSQL prepares a statement on its 5th run on a connection and may plan it generically
    # 5 runs later: the partial index's ON CONFLICT must still match then.
    api = make_app().test_client()
    domains = ("acme.com", "globex.com", "initech.com", "umbrella.com", "hooli.com")

    answers = [api.post(SCAN, json={"domain": domains[i % 5]}).status_code for i in range(15)]

    assert answers == [202] * 5 + [200] * 10
    assert len(fake_scrapyd.called("schedule")) == 5


@pytest.mark.parametrize(
    ("domain", "code"),
    [
        ("http://127.0.0.1", "private_address"),
        ("http://127.0.0.1:8080/contact", "private_address"),
        ("10.0.0.1", "private_address"),
        ("169.254.169.254", "private_address"),
        ("[::1]", "private_address"),
        ("http://[::1]:8080/", "private_address"),
        ("localhost", "private_address"),
        ("http://localhost:6800", "private_address"),
        ("0x7f000001", "private_address"),
        ("intranet.acme.com", "private_address"),  # resolves to 10.1.2.3
        ("split.acme.com", "private_address"),  # one public, one private address
        ("nosuch.acme.com", "unresolvable_domain"),
    ],
)
def test_private_and_unresolvable_targets_are_refused(
    api, engine, fake_scrapyd, fake_resolver, domain, code
):
    fake_resolver.names.update(
        {
            "intranet.acme.com": ["10.1.2.3"],
            "split.acme.com": ["93.184.215.14", "192.168.1.10"],
            "nosuch.acme.com": socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
        }
    )

    response = api.post(SCAN, json={"domain": domain})

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == code
    assert ("cannot be scanned" if code == "private_address" else "could not be found") in (
        error["message"]
    )
    assert job_count(engine) == 0
    assert not fake_scrapyd.calls
    # Literals and localhost are judged without a lookup.
    assert fake_resolver.asked == ([domain] if domain.endswith("acme.com") else [])


def test_private_targets_are_allowed_when_configured(make_app, fake_scrapyd, fake_resolver):
    api = make_app(ALLOW_PRIVATE_NETWORKS=True).test_client()

    for domain in ("http://127.0.0.1:8080", "10.0.0.1", "localhost", "[::1]"):
        assert api.post(SCAN, json={"domain": domain}).status_code == 202
    assert not fake_resolver.asked
    assert len(fake_scrapyd.called("schedule")) == 4


@pytest.mark.parametrize("failure", ["down", "reject"])
def test_scheduler_failure_closes_the_job_and_frees_the_domain(api, engine, fake_scrapyd, failure):
    if failure == "down":
        fake_scrapyd.down = True
    else:
        fake_scrapyd.reject = "project 'emailscan' not found"

    response = api.post(SCAN, json={"domain": "acme.com"})

    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "scheduler_unavailable"
    [row] = store.list_jobs(engine, SYSTEM_USER_ID)[0]
    assert str(row.id) in error["message"]
    assert row.status is TaskStatus.FAILED
    assert row.error == SCHEDULER_DOWN
    assert row.finished_at is not None

    fake_scrapyd.down, fake_scrapyd.reject = False, None
    retry = api.post(SCAN, json={"domain": "acme.com"})
    assert retry.status_code == 202
    assert retry.get_json()["job_id"] != str(row.id)


def test_unexpected_scheduling_error_is_500_and_closes_the_job(api, engine, fake_scrapyd):
    def broken(*args, **kwargs):
        raise RuntimeError("bug in the client")

    fake_scrapyd.schedule = broken

    response = api.post(SCAN, json={"domain": "acme.com"})

    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
    assert "Traceback" not in response.get_data(as_text=True)
    assert "bug in the client" not in response.get_data(as_text=True)
    [row] = store.list_jobs(engine, SYSTEM_USER_ID)[0]
    assert row.status is TaskStatus.FAILED
