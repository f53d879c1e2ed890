"""ScrapydNodes: new crawls on the least busy node that answers, the rest on the job's node."""

from __future__ import annotations

import pytest

from statusapi.scrapyd import ScrapydClient, ScrapydNodes, ScrapydRejected, ScrapydUnavailable

pytest_plugins = ["tests.fake_scrapyd"]


@pytest.fixture
def three(new_fake_scrapyd):
    return [new_fake_scrapyd(f"http://node{i}:6800") for i in range(3)]


def test_from_urls_makes_one_client_per_node():
    nodes = ScrapydNodes.from_urls(
        " http://a:6800/ ,http://b:6800,", project="p", username="u", password="s", timeout=2
    )

    assert nodes.urls == ["http://a:6800", "http://b:6800"]
    assert all(isinstance(client, ScrapydClient) for client in nodes.clients)
    assert nodes.clients[0].session.auth == ("u", "s")
    assert (nodes.clients[0].project, nodes.clients[0].timeout) == ("p", 2)


def test_schedule_goes_to_the_least_busy_node(three):
    three[0].states.update({"a": "running", "b": "pending"})
    three[1].states.update({"c": "finished", "d": "finished"})  # finished jobs don't count
    three[2].states.update({"e": "running"})

    node, jobid = ScrapydNodes(three).schedule("emails", "job-1", domain="acme.com")

    assert (node, jobid) == ("http://node1:6800", "job-1")
    assert three[1].scheduled["job-1"] == {"spider": "emails", "domain": "acme.com"}


def test_schedule_skips_nodes_that_are_down(three):
    three[1].down = True
    three[2].states["busy"] = "running"

    node, _ = ScrapydNodes(three[1:]).schedule("emails", "job-1")

    assert node == "http://node2:6800"


def test_schedule_with_every_node_down_is_unavailable(three):
    for fake in three:
        fake.down = True

    with pytest.raises(ScrapydUnavailable):
        ScrapydNodes(three).schedule("emails", "job-1")


def test_a_rejection_is_not_retried_elsewhere(three):
    three[0].reject = "spider 'emails' not found"

    with pytest.raises(ScrapydRejected):
        ScrapydNodes(three[:1]).schedule("emails", "job-1")


def test_one_node_is_not_asked_for_its_load(three):
    ScrapydNodes(three[:1]).schedule("emails", "job-1")

    assert [call for call, _ in three[0].calls] == ["schedule"]


def test_cancel_and_status_go_to_the_recorded_node(three):
    three[2].states["job-1"] = "running"
    nodes = ScrapydNodes(three)

    assert nodes.status("http://node2:6800/", "job-1") == "running"
    assert nodes.cancel("http://node2:6800", "job-1") == "running"
    assert not three[0].calls and not three[1].calls


def test_without_a_recorded_node_every_node_is_asked(three):
    three[1].down = True
    three[2].states["job-1"] = "pending"
    nodes = ScrapydNodes(three)

    assert nodes.status(None, "job-1") == "pending"
    with pytest.raises(ScrapydUnavailable):  # node1 might know job-2: can't say "unknown"
        nodes.status(None, "job-2")
    three[1].down = False
    assert nodes.status(None, "job-2") == ""


def test_a_recorded_node_no_longer_configured_gets_its_own_client(three):
    made = []

    def factory(url):
        made.append(url)
        return three[2]

    nodes = ScrapydNodes(three[:2], factory=factory)

    nodes.status("http://retired:6800", "job-1")
    nodes.status("http://retired:6800", "job-2")
    nodes.schedule("emails", "job-3")

    assert made == ["http://retired:6800"]
    assert nodes.urls == ["http://node0:6800", "http://node1:6800"]  # never scheduled on
    assert "job-3" not in three[2].scheduled
