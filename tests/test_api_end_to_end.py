"""The whole path: the API schedules on a real scrapyd, whose crawl writes to the database."""

from __future__ import annotations

import os
import signal
import time

import pytest

from statusapi import create_app
from statusapi.jobs import LOST
from statusapi.status import CANCELLED
from tests.fixture_site import EXPECTED_EMAILS, FixtureSite
from tests.scrapyd_server import scrapyd_server, silent_site

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
                "HEARTBEAT_TIMEOUT": 1,
                "RECONCILE_INTERVAL": 0,
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


def test_cancelled_crawl_closes_its_job_cancelled(stack):
    api, server = stack
    # Slow pages: the crawl is still going when cancelled, and stops within one page's time
    # (Scrapy lets requests in flight finish before it closes).
    with FixtureSite(delay=0.5) as site:
        job_id = api.post(SCAN, json={"domain": site.url}).get_json()["job_id"]
        poll(api, job_id, lambda body: body["status"] == "RUNNING")

        assert api.post(f"/api/v3/scan/{job_id}/cancel").status_code == 202
        body = poll(api, job_id, lambda body: body["finished_at"], seconds=30)

    assert (body["status"], body["error"]) == ("CANCELLED", CANCELLED), server.log()


def test_killed_crawl_is_failed_on_the_next_poll(stack):
    api, server = stack
    with silent_site() as url:
        job_id = api.post(SCAN, json={"domain": url}).get_json()["job_id"]
        poll(api, job_id, lambda body: body["status"] == "RUNNING")
        [crawl] = api.application.extensions["emailscan"].scrapyd.clients[0].listjobs()["running"]

        os.kill(crawl["pid"], signal.SIGKILL)  # no chance to report anything
        body = poll(api, job_id, lambda body: body["finished_at"], seconds=30)

    assert (body["status"], body["error"]) == ("FAILED", LOST)
