"""GET /api/v3/domains/{id}/contacts as JSON and as CSV."""

from __future__ import annotations

import csv
import io
import uuid

import pytest

from emailscan import store
from emailscan.models import TaskStatus
from emailscan.store import Sighting
from statusapi.contacts import CSV_HEADER

pytest_plugins = ["tests.fake_scrapyd"]


@pytest.fixture
def domain_id(api, engine):
    """acme.com after two scans: three contacts, one seen on two pages, one a formula."""
    first = api.post("/api/v3/scan/website", json={"domain": "acme.com"}).get_json()
    domain_id, job_id = uuid.UUID(first["domain_id"]), uuid.UUID(first["job_id"])
    store.upsert_contacts(
        engine,
        domain_id,
        job_id,
        [
            Sighting("info@acme.com", "https://acme.com/", "role", True),
            Sighting("info@acme.com", "https://acme.com/contact", "role", True),
            Sighting("=cmd@evil.example", "https://acme.com/x", "personal", False),
        ],
    )
    store.finish_job(engine, job_id, TaskStatus.COMPLETE)
    second = api.post("/api/v3/scan/website", json={"domain": "acme.com"}).get_json()
    store.upsert_contacts(
        engine,
        domain_id,
        uuid.UUID(second["job_id"]),
        [Sighting("jane@acme.com", "https://acme.com/team", "personal", True)],
    )
    return domain_id


def test_contacts_as_json(api, domain_id):
    response = api.get(f"/api/v3/domains/{domain_id}/contacts")

    assert response.status_code == 200
    body = response.get_json()
    assert body["domain"] == "acme.com"
    assert body["domain_id"] == str(domain_id)
    by_email = {contact["email"]: contact for contact in body["contacts"]}
    assert sorted(by_email) == ["=cmd@evil.example", "info@acme.com", "jane@acme.com"]
    info = by_email["info@acme.com"]
    assert info["source_urls"] == ["https://acme.com/", "https://acme.com/contact"]
    assert (info["kind"], info["on_domain"], info["sightings"]) == ("role", True, 2)
    assert info["first_seen_at"].endswith("Z")


def test_contacts_as_csv(api, domain_id):
    response = api.get(f"/api/v3/domains/{domain_id}/contacts?format=csv")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == list(CSV_HEADER)
    assert (
        ",".join(rows[0]) == "email,kind,on_domain,first_seen_at,last_seen_at,sightings,source_urls"
    )
    by_email = {row[0]: row for row in rows[1:]}
    info = by_email["info@acme.com"]
    assert info[1:3] == ["role", "true"]
    assert info[5:] == ["2", "https://acme.com/ https://acme.com/contact"]
    # A value a spreadsheet would run as a formula is defused.
    assert "'=cmd@evil.example" in by_email


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v3/domains/nope/contacts", 400, "invalid_domain_id"),
        (f"/api/v3/domains/{uuid.uuid4()}/contacts", 404, "domain_not_found"),
    ],
)
def test_contacts_of_bad_or_unknown_domain(api, path, status, code):
    response = api.get(path)

    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_contacts_in_an_unknown_format(api, domain_id):
    response = api.get(f"/api/v3/domains/{domain_id}/contacts?format=xml")

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_parameter"


def test_contacts_need_a_job_of_the_caller_for_the_domain(make_app, engine, domain_id):
    alice, bob = uuid.uuid4(), uuid.uuid4()
    store.create_api_key(engine, alice)
    bob_key = store.create_api_key(engine, bob)
    api = make_app().test_client()
    headers = {"Authorization": f"Bearer {bob_key}"}

    assert api.get(f"/api/v3/domains/{domain_id}/contacts", headers=headers).status_code == 404

    active, _ = store.start_scan(engine, domain_id, bob)  # the system user's, still PENDING
    store.finish_job(engine, active.id, TaskStatus.COMPLETE)
    job, created = store.start_scan(engine, domain_id, bob)
    assert created and job.user_id == bob

    assert api.get(f"/api/v3/domains/{domain_id}/contacts", headers=headers).status_code == 200
