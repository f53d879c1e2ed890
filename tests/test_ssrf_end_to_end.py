"""SSRF guard end to end: real `scrapy crawl emails` processes and the API, counting what
reaches the private targets (it must be nothing).

Every crawl runs with the project's settings and ALLOW_PRIVATE_NETWORKS off, inside the
test-only network of tests/ssrf_netstub.py: names resolve from tests/ssrf_cases.py's table,
and every connect() is recorded, then sent either to the public-looking site (the one
test-only allow rule: PUBLIC_IP:80 is served by a loopback server) or to the sink, a loopback
:class:`~tests.ssrf_target.CountingServer` standing in for every private target, loopback or
not. Nothing but loopback is ever connected to, even by a broken guard; a working guard
leaves the sink at zero connections and zero requests. The control runs (guard off) show the
sink does see the same targets, so the zeros are not a blind measurement.

The matrix (tests/ssrf_cases.py) is shared with tests/test_ssrf_crawl.py, which proves the
guard alone with a probe spider; here the same targets go through the emails spider (start
target, links, redirects, meta refresh) and through POST /api/v3/scan/website.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from html import escape
from pathlib import Path

import pytest
import sqlalchemy as sa

from emailscan import settings as project_settings
from emailscan.models import TaskStatus, jobs
from tests.ssrf_cases import (
    DNS,
    PUBLIC_IP,
    SCHEME_URLS,
    SITE_URL,
    SUBMITTED,
    URL_CASES,
    Submitted,
    UrlCase,
)
from tests.ssrf_target import (
    REDIRECT_KINDS,
    CountingServer,
    GuardedCrawl,
    redirect_site,
    run_guarded_crawl,
)

pytest_plugins = ["tests.fake_scrapyd"]

SCAN = "/api/v3/scan/website"
SITE_EMAIL = "info@acme.com"
OFFSITE_OFF = {
    "DOWNLOADER_MIDDLEWARES": json.dumps(
        {
            **project_settings.DOWNLOADER_MIDDLEWARES,
            "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
        }
    )
}
# One of each kind runs by default; the whole matrix (one crawl process each) is slow.
QUICK = {"decimal", "mapped", "name-split", "localhost", "port-scrapyd", "userinfo-url", "gopher"}


def _job_count(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(sa.select(sa.func.count()).select_from(jobs))


@pytest.fixture
def sink() -> Iterator[CountingServer]:
    with CountingServer() as server:
        yield server


def assert_untouched(sink: CountingServer) -> None:
    sink.stop()  # final counts: see CountingServer.stop
    assert (sink.connections, sink.requests) == (0, []), sink.summary()


def public_site(server: CountingServer) -> tuple[str, int, str, int]:
    """The test-only allow rule: PUBLIC_IP:80 is this loopback server."""
    return (PUBLIC_IP, 80, server.host, server.port)


# --------------------------------------------------------------------------
# What a user submits, as `scrapy crawl emails -a domain=...`
# --------------------------------------------------------------------------


def _submitted() -> list:
    return [
        pytest.param(case, id=case.id, marks=() if case.id in QUICK else pytest.mark.slow)
        for case in SUBMITTED
    ]


@pytest.mark.parametrize("case", _submitted())
def test_submitted_target_is_never_connected_to(
    tmp_path: Path, sink: CountingServer, case: Submitted
) -> None:
    crawl = run_guarded_crawl(tmp_path, case.domain, dns=DNS, sink=sink)

    assert_untouched(sink)
    assert crawl.attempts == []
    assert set(crawl.lookups) <= case.names  # literals and localhost: no DNS query at all
    if case.invalid:
        assert crawl.returncode != 0
        assert f"InvalidDomain: {case.invalid}" in crawl.log
        assert crawl.jobs == []
    else:
        assert crawl.returncode == 0, crawl.log[-3000:]
        assert crawl.job["status"] is TaskStatus.FAILED
        assert crawl.job["error"] == f"The site could not be crawled: {case.refusal}."
        assert crawl.stat("emailscan/ssrf_blocked") >= 1
        assert crawl.stat("downloader/response_count") == 0


@pytest.mark.parametrize("dnscache", [True, False], ids=["dns-cache", "no-dns-cache"])
def test_dns_rebinding_start_target(tmp_path: Path, sink: CountingServer, dnscache: bool) -> None:
    """rebind.acme.com answers PUBLIC_IP, then 127.0.0.1: what is connected to is what was
    checked (the cache only holds checked answers), and the loopback answer is refused."""
    with CountingServer(redirect_site({}, index=f"<p>{SITE_EMAIL}</p>")) as site:
        crawl = run_guarded_crawl(
            tmp_path,
            "http://rebind.acme.com/",
            dns=DNS,
            routes=[public_site(site)],
            sink=sink,
            settings={"DNSCACHE_ENABLED": str(dnscache)},
        )
    assert_untouched(sink)
    assert set(crawl.attempts) == {(PUBLIC_IP, 80)}
    if dnscache:
        assert crawl.lookups == ["rebind.acme.com"]
        assert (crawl.job["status"], crawl.job["emails_found"]) == (TaskStatus.COMPLETE, 1)
    else:
        # robots.txt got the public answer; the page itself got (and refused) loopback.
        assert crawl.lookups[:2] == ["rebind.acme.com", "rebind.acme.com"]
        assert crawl.job["status"] is TaskStatus.FAILED
        assert crawl.job["error"] == (
            "The site could not be crawled: refused to connect to 127.0.0.1 (loopback address)"
            " for rebind.acme.com."
        )
        assert [hit.path for hit in site.requests] == ["/robots.txt"]


# --------------------------------------------------------------------------
# A public-looking site that links and redirects to every target
# --------------------------------------------------------------------------

LINK = "link"
HTTP_USES = (*REDIRECT_KINDS, LINK)


def _site() -> tuple[dict[str, str], str, set[str]]:
    """The redirect targets of /go/<kind>/<mark>, the index page linking to all of it, and
    the /go/ paths."""
    targets: dict[str, str] = {}
    go: set[str] = set()
    links: list[str] = []
    named = [(case.name, case.url) for case in URL_CASES]
    schemes = [(f"scheme-{scheme}", url) for url, scheme in SCHEME_URLS]
    for name, url in [*named, *schemes, ("scheme-javascript", "javascript:alert(1)")]:
        for kind in REDIRECT_KINDS:
            mark = f"{name}-{kind}"
            targets[mark] = url.format(mark=mark)
            go.add(f"/go/{kind}/{mark}")
        links.append(url.format(mark=f"{name}-{LINK}"))
    anchors = "\n".join(f'<a href="{escape(link)}">{escape(link)}</a>' for link in [*go, *links])
    index = f"<html><body><p>Write to {SITE_EMAIL}</p>{anchors}</body></html>"
    return targets, index, go


def _crawl_site(
    tmp_path: Path, sink: CountingServer, **settings: str
) -> tuple[GuardedCrawl, CountingServer]:
    targets, index, _ = _site()
    with CountingServer(redirect_site(targets, index)) as site:
        crawl = run_guarded_crawl(
            tmp_path, SITE_URL, dns=DNS, routes=[public_site(site)], sink=sink, settings=settings
        )
    assert crawl.returncode == 0, crawl.log[-3000:]
    return crawl, site


def _blocked_with(crawl: GuardedCrawl, case: UrlCase, use: str) -> bool:
    """Did the guard refuse this use of the case, with the case's message?"""
    mark = f"{case.name}-{use}"
    pattern = re.compile(rf"/{re.escape(mark)}\b")
    message = case.message(mark)
    return any(pattern.search(line) and message in line for line in crawl.blocked_lines())


def _guarded_uses(case: UrlCase, offsite_filter: bool) -> set[str]:
    """The uses of a case that reach the guard: the emails spider follows on-site links only,
    and Scrapy's offsite filter drops redirects to other hosts before the guard sees them."""
    if case.on_site:
        return set(HTTP_USES)
    return set() if offsite_filter else set(REDIRECT_KINDS)


@pytest.mark.parametrize("offsite_filter", [True, False], ids=["as-shipped", "offsite-filter-off"])
def test_public_site_redirecting_and_linking_to_every_target(
    tmp_path: Path, sink: CountingServer, offsite_filter: bool
) -> None:
    crawl, site = _crawl_site(tmp_path, sink, **({} if offsite_filter else OFFSITE_OFF))

    assert_untouched(sink)
    assert set(crawl.attempts) == {(PUBLIC_IP, 80)}  # the public site, nothing else
    # The crawl did its job on the public site...
    assert (crawl.job["status"], crawl.job["emails_found"]) == (TaskStatus.COMPLETE, 1)
    # ...and took every redirect it was offered.
    assert _site()[2] <= {hit.path for hit in site.requests}
    # Each use of each target was refused by the guard, with its reason (or, as shipped,
    # dropped earlier by the offsite filter: counted below).
    missing = [
        f"{case.name}-{use}"
        for case in URL_CASES
        for use in _guarded_uses(case, offsite_filter)
        if not _blocked_with(crawl, case, use)
    ]
    assert missing == []
    offsite = sum(len(REDIRECT_KINDS) for case in URL_CASES if not case.on_site)
    assert crawl.stat("offsite/filtered") == (offsite if offsite_filter else 0)
    # Other schemes never become requests: Scrapy does not follow redirects to them.
    assert not [line for line in crawl.blocked_lines() if "URL scheme" in line]


def test_control_public_site_reaches_every_target_without_the_guard(
    tmp_path: Path, sink: CountingServer
) -> None:
    """The same site with ALLOW_PRIVATE_NETWORKS (and no offsite filter): the sink sees each
    target the guard refused above, so the zero counts there are the guard's doing."""
    crawl, _ = _crawl_site(tmp_path, sink, ALLOW_PRIVATE_NETWORKS="True", **OFFSITE_OFF)

    sink.stop()
    reached = {hit.path.rsplit("/", 1)[-1] for hit in sink.requests}
    expected = {
        f"{case.name}-{use}"
        for case in URL_CASES
        if case.unguarded == "reached"
        for use in _guarded_uses(case, offsite_filter=False)
    }
    assert expected - reached == set()
    assert crawl.blocked_lines() == []


# --------------------------------------------------------------------------
# The API: refused up front, nothing stored, nothing scheduled
# --------------------------------------------------------------------------


def _api_cases() -> list:
    return [pytest.param(case, id=case.id) for case in SUBMITTED]


@pytest.fixture
def stub_names(fake_resolver) -> None:
    """The API's resolver answers like the crawls' stub DNS (first answers; never localhost)."""
    fake_resolver.names.update(
        {name: answers[0] for name, answers in DNS.items() if not name.endswith("localhost")}
    )


@pytest.mark.parametrize("case", _api_cases())
def test_api_refuses_submitted_target(
    api, engine, fake_scrapyd, fake_resolver, stub_names, case: Submitted
) -> None:
    response = api.post(SCAN, json={"domain": case.domain})

    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == case.api_code
    assert case.api_says in error["message"]
    assert fake_scrapyd.calls == []  # nothing scheduled
    assert _job_count(engine) == 0  # nothing stored
    assert set(fake_resolver.asked) <= case.names  # literals and localhost: never looked up


@pytest.mark.databases("sqlite")  # the crawl's connections are gated: PostgreSQL's too
def test_api_accepts_a_public_name_the_crawl_then_refuses(
    api, database_url, fake_scrapyd, fake_resolver, stub_names, tmp_path, sink
) -> None:
    """Time of check to time of use: the name was public when submitted and points inward
    when the crawl connects; the crawl's own check refuses it and says so in the job."""
    response = api.post(SCAN, json={"domain": "rebind.acme.com"})
    assert response.status_code == 202
    [scheduled] = fake_scrapyd.called("schedule")

    crawl = run_guarded_crawl(
        tmp_path,
        scheduled["domain"],
        arguments=[f"job_id={scheduled['job_id']}"],
        database_url=database_url,
        dns={"rebind.acme.com": [["127.0.0.1"]]},
        sink=sink,
    )

    assert_untouched(sink)
    assert crawl.attempts == []
    status = api.get(f"/api/v3/scan/status/{uuid.UUID(scheduled['job_id'])}").get_json()
    assert status["status"] == TaskStatus.FAILED
    assert status["error"] == (
        "The site could not be crawled: refused to connect to 127.0.0.1 (loopback address)"
        " for rebind.acme.com."
    )
