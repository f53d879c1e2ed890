"""The whole path: the API schedules on a real scrapyd, whose crawl writes to the database."""

from __future__ import annotations

import time

import pytest

from statusapi import create_app
from tests.fixture_site import EXPECTED_EMAILS, FixtureSite
from tests.scrapyd_server import scrapyd_server

SCAN = "/api/v3/scan/website"


@pytest.fixture
def stack(database_url, engine):
    """A test client of an API whose scrapyd runs crawls against the test database."""
    environ = {"DATABASE_URL": database_url, "ALLOW_PRIVATE_NETWORKS": "1"}
    with scrapyd_server(env=environ, max_proc=2) as server:
        app = create_app(
            {
                "DATABASE_URL": database_url,
                "SCRAPYD_URL": server.url,
                "ALLOW_PRIVATE_NETWORKS": True,
            }
        )
        yield app.test_client(), server
        app.extensions["emailscan"].close()


def poll(api, job_id, until, seconds=90.0) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        body = api.get(f"/api/v3/scan/status/{job_id}").get_json()
        if until(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def test_scan_runs_to_complete_with_every_address(stack):
    api, server = stack
    with FixtureSite() as site:
        accepted = api.post(SCAN, json={"domain": site.url})
        assert accepted.status_code == 202, accepted.get_json()
        body = poll(api, accepted.get_json()["job_id"], lambda body: body["finished_at"])

    assert body["status"] == "COMPLETE", (body, server.log())
    assert body["progress"] == 1.0
    assert {entry["email"] for entry in body["result_data"]["emails"]} == EXPECTED_EMAILS
    contacts = api.get(f"/api/v3/domains/{body['domain_id']}/contacts").get_json()
    assert {contact["email"] for contact in contacts["contacts"]} == EXPECTED_EMAILS
