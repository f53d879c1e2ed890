"""Every endpoint fuzzed from the API's own OpenAPI document with schemathesis.

The app is the real one (`create_app`) over a migrated database, a fake scrapyd and a resolver
that answers every name with a public address, so generated domains get as far as scheduling.
It runs without API keys and with one (sent with every request but those schemathesis makes
without or with bad credentials), in positive and negative modes, its coverage phase included
(boundary values, unsupported methods, other content types).
Jobs in every state and a domain with contacts are stored first, and generated ids are swapped
for theirs some of the time, so the real bodies of jobs and contacts are checked too.
"""

from __future__ import annotations

import socket
import uuid

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from emailscan import store
from emailscan.models import SYSTEM_USER_ID, TaskStatus
from emailscan.store import Sighting
from statusapi import create_app

pytest_plugins = ["tests.fake_scrapyd"]

OWNER = uuid.UUID("f0220000-0000-4000-8000-000000000001")
PUBLIC_ADDRESS = "93.184.215.14"
EXAMPLES = 40  # per operation, after the coverage phase; about 15 s of CPU for the module


def _load_schema():
    """The document as the app serves it; serving it needs no database (the engine is unused).

    Loaded at import rather than with `schemathesis.pytest.from_fixture`, which needs
    `request.node._nodeid`, an attribute pytest 9.2 no longer has: the app under test comes from
    a fixture and is passed to each call instead.
    """
    app = create_app({"DATABASE_URL": "sqlite://", "SCRAPYD_URL": "http://127.0.0.1:9"})
    try:
        return schemathesis.openapi.from_wsgi("/api/v3/openapi.json", app)
    finally:
        app.extensions["emailscan"].close()


schema = _load_schema()


def resolve_any(host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002
    """Every name is a public site: nothing generated is refused for want of DNS."""
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (PUBLIC_ADDRESS, 0))]


@pytest.fixture(params=["open", "keys"])
def auth_headers(request, engine) -> dict[str, str]:
    if request.param == "open":
        return {}
    return {"Authorization": f"Bearer {store.create_api_key(engine, OWNER, 'fuzz')}"}


@pytest.fixture
def app(make_app, auth_headers):
    return make_app(RESOLVE=resolve_any, AUTH_CACHE_SECONDS=60)


@pytest.fixture
def known_ids(engine, fake_scrapyd, auth_headers) -> dict[str, list[str]]:
    """A job in every state (the caller's) and their domains, one with contacts."""
    owner = OWNER if auth_headers else SYSTEM_USER_ID
    job_ids, domain_ids = [], []
    for status in TaskStatus:
        domain_id = store.get_or_create_domain(engine, f"{status.lower()}.example.org")
        job, _ = store.start_scan(engine, domain_id, owner)
        store.set_scheduled(engine, job.id, fake_scrapyd.url, str(job.id))
        fake_scrapyd.states[str(job.id)] = "pending"
        if status is not TaskStatus.PENDING:
            _run(engine, job, status, fake_scrapyd)
        job_ids.append(str(job.id))
        domain_ids.append(str(domain_id))
    return {"job_id": job_ids, "domain_id": domain_ids}


def _run(engine, job, status: TaskStatus, fake_scrapyd) -> None:
    store.claim_job(engine, job.id)
    fake_scrapyd.states[str(job.id)] = "running"
    sightings = [
        Sighting("info@example.org", "https://example.org/contact", "role", True),
        Sighting("jane.doe@example.org", "https://example.org/team"),
    ]
    store.upsert_contacts(engine, job.domain_id, job.id, sightings)
    store.record_progress(engine, job.id, 0.5, 12, len(sightings))
    if status.finished:
        store.finish_job(engine, job.id, status, error=None, pages_crawled=12, stats={"pages": 12})
        fake_scrapyd.states[str(job.id)] = "finished"


def use_known_ids(case, known: dict[str, list[str]]) -> None:
    """Swap a generated UUID for a stored one, chosen by its value (so derandomized runs repeat);
    one choice in len+1 keeps the generated id: an unknown job or domain."""
    places = [case.path_parameters or {}]
    if isinstance(case.body, dict):
        places.append(case.body)
    for place in places:
        for name, pool in known.items():
            try:
                generated = uuid.UUID(place[name])
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
            index = generated.int % (len(pool) + 1)
            if index < len(pool):
                place[name] = pool[index]


def error_shape(ctx: CheckContext, response, case) -> bool | None:
    """Every 4xx is `application/json` `{"error": {"code": str, "message": str}}`, no more."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.split(";")[0].strip() == "application/json", content_type
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert all(isinstance(value, str) and value for value in body["error"].values()), body
    assert "Traceback" not in response.text
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    error_shape,
]


@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_openapi_document(case, app, auth_headers, known_ids):
    use_known_ids(case, known_ids)

    case.call_and_validate(app=app, headers=auth_headers, checks=CHECKS)
