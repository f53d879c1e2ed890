"""ScrapydClient against a real scrapyd running the installed project (no egg, no database)."""

from __future__ import annotations

import time
import uuid

import pytest

from statusapi.scrapyd import ScrapydClient, ScrapydNodes, ScrapydRejected, ScrapydUnavailable
from tests.scrapyd_server import free_port, scrapyd_server, silent_site

# The crawl fails fast and touches no database: no job, no retries.
NO_DATABASE = ["EMAILSCAN_JOBS_ENABLED=False", "RETRY_ENABLED=False"]


@pytest.fixture(scope="module")
def server():
    with scrapyd_server(env={"ALLOW_PRIVATE_NETWORKS": "1"}, max_proc=1) as server:
        yield server


@pytest.fixture
def client(server):
    return ScrapydClient(server.url, timeout=5)


def wait_for(client: ScrapydClient, jobid: str, state: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while (current := client.status(jobid)) != state:
        assert time.monotonic() < deadline, f"{jobid} still {current!r}, not {state!r}"
        time.sleep(0.1)


def test_daemonstatus(client):
    status = client.daemonstatus()

    assert {"pending", "running", "finished"} <= set(status)


def test_unknown_spider_is_rejected(client):
    with pytest.raises(ScrapydRejected, match="spider 'nope' not found"):
        client.schedule("nope", uuid.uuid4().hex)


def test_unknown_project_is_rejected(server):
    with pytest.raises(ScrapydRejected, match="not found"):
        ScrapydClient(server.url, project="nothing").listjobs()


def test_status_of_an_unknown_job_is_empty(client):
    assert client.status(uuid.uuid4().hex) == ""


def test_scheduled_crawl_runs_to_the_end(client, server):
    jobid = str(uuid.uuid4())

    assert (
        client.schedule(
            "emails", jobid, domain=f"http://127.0.0.1:{free_port()}", setting=NO_DATABASE
        )
        == jobid
    )
    wait_for(client, jobid, "finished")

    assert jobid in [job["id"] for job in client.listjobs()["finished"]], server.log()
    assert client.cancel(jobid) == ""  # nothing left to cancel


def test_cancel_running_and_pending_crawls(client):
    running, queued = str(uuid.uuid4()), str(uuid.uuid4())
    with silent_site() as url:
        client.schedule("emails", running, domain=url, setting=NO_DATABASE)
        wait_for(client, running, "running")
        client.schedule("emails", queued, domain=url, setting=NO_DATABASE)
        assert client.status(queued) == "pending"  # max_proc = 1

        assert client.cancel(queued) == "pending"
        assert client.status(queued) == ""
        assert client.cancel(running) == "running"
        wait_for(client, running, "finished", seconds=30)


def test_a_dead_port_is_unavailable_at_once():
    client = ScrapydClient(f"http://127.0.0.1:{free_port()}", timeout=5)
    started = time.monotonic()

    for call in (client.daemonstatus, lambda: client.schedule("emails", "x")):
        with pytest.raises(ScrapydUnavailable):
            call()
    assert time.monotonic() - started < 2


def test_a_silent_server_times_out():
    with silent_site() as url:
        client = ScrapydClient(url, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(ScrapydUnavailable):
            client.status("x")
        assert time.monotonic() - started < 2


def test_nodes_fall_over_to_a_node_that_answers(server):
    dead = f"http://127.0.0.1:{free_port()}"
    nodes = ScrapydNodes.from_urls(f"{dead},{server.url}", timeout=2)

    with pytest.raises(ScrapydRejected):
        nodes.schedule("nope", uuid.uuid4().hex)  # reached the live node, which said no
    assert nodes.daemonstatus()[0][0] == dead
    assert isinstance(nodes.daemonstatus()[0][1], ScrapydUnavailable)
    assert nodes.daemonstatus()[1][1]["status"] == "ok"


def test_basic_auth():
    with scrapyd_server(username="emailscan", password="s3cret") as server:
        assert ScrapydClient(server.url, username="emailscan", password="s3cret").daemonstatus()
        for password in ("wrong", None):
            with pytest.raises(ScrapydRejected, match="401"):
                ScrapydClient(server.url, username="emailscan", password=password).daemonstatus()
