"""Load through the served API (`python -m statusapi.serve`, two worker processes, over HTTP).

With the fake scrapyd served over HTTP: a stampede of POSTs for one domain (however it is
spelled) makes exactly one job and one schedule.json call; 200 domains posted in rows each get
one job. With a real scrapyd (max_proc 2) and real crawls: a burst of 200 scans of distinct
sites (tests/many_sites.py) all complete, each with its own address, while status polls stay
fast.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from emailscan.domains import parse_target
from emailscan.models import TaskStatus, domains, jobs
from tests.many_sites import ManySites
from tests.scrapyd_server import scrapyd_server
from tests.served_api import alarms, served_api

pytest_plugins = ["tests.fake_scrapyd"]

SCAN = "/api/v3/scan/website"
STATUS = "/api/v3/scan/status/"

STAMPEDE = 50
SPELLINGS = (
    "acme.test",
    "https://www.acme.test/",
    "ACME.test.",
    "http://acme.test",
    "www.acme.test",
    " Acme.Test ",
    "acme.test:443",
    "http://WWW.ACME.TEST:80/",
    "https://acme.test/contact?lang=en",
    "HTTPS://acme.test:443/about/",
)

BURST = 200
# A crawl of these sites takes 2 s or so (mostly process start-up), longer on a busy machine:
# waiting ends when every job is finished, when none has finished for STALL_SECONDS (stuck),
# or after BURST_CAP seconds.
STALL_SECONDS = 90
BURST_CAP = 1200
POLL_RATE = 100  # status polls/s: 200 jobs polled every 2 s, the Retry-After the API sends
POLL_P99_BOUND = 1.0  # seconds


def load_api(directory: Path, database_url: str, scrapyd_url: str):
    environ = {"DATABASE_URL": database_url, "SCRAPYD_URL": scrapyd_url}
    return served_api(directory, {**environ, "ALLOW_PRIVATE_NETWORKS": "1"})


def post_all_at_once(url: str, domains_typed: list[str]) -> list[tuple[int, dict]]:
    """POST one scan per entry, all released together: each thread connects first (keep-alive),
    then waits at a barrier, so the requests leave within a few milliseconds."""
    barrier = threading.Barrier(len(domains_typed))

    def post(domain: str) -> tuple[int, dict]:
        with requests.Session() as session:
            session.get(f"{url}/api/v3/openapi.json", timeout=30).raise_for_status()
            barrier.wait(timeout=30)
            response = session.post(url + SCAN, json={"domain": domain}, timeout=30)
            return response.status_code, response.json()

    with ThreadPoolExecutor(len(domains_typed)) as pool:
        return list(pool.map(post, domains_typed))


@pytest.mark.parametrize(
    "spellings", [SPELLINGS[:1], SPELLINGS], ids=["one-spelling", "many-spellings"]
)
def test_stampede_for_one_domain_makes_exactly_one_job(
    tmp_path, engine, database_url, fake_scrapyd_http, spellings
):
    [key] = {parse_target(text).key for text in spellings}  # the spellings name one site
    typed = [spellings[n % len(spellings)] for n in range(STAMPEDE)]
    with load_api(tmp_path, database_url, fake_scrapyd_http.url) as api:
        answers = post_all_at_once(api.url, typed)

    assert all(code in (200, 202) for code, _ in answers), answers
    assert [code for code, _ in answers].count(202) == 1, answers
    [job_id] = {body["job_id"] for _, body in answers}
    assert all(body["deduplicated"] is (code == 200) for code, body in answers)
    [scheduled] = fake_scrapyd_http.called("schedule")
    assert (scheduled["jobid"], scheduled["job_id"]) == (job_id, job_id)
    assert scheduled["domain"] in {text.strip() for text in typed}  # the API strips spaces
    with engine.connect() as connection:
        rows = connection.execute(sa.select(domains.c.host, jobs.c.id, jobs.c.status).join(jobs))
        assert rows.all() == [(key, uuid.UUID(job_id), TaskStatus.PENDING)]
        assert connection.scalar(sa.select(sa.func.count()).select_from(domains)) == 1
    assert not api.alarms(), api.log()


def test_many_domains_through_few_connections_each_get_one_job(
    tmp_path, engine, database_url, fake_scrapyd_http
):
    """200 domains over 4 keep-alive connections, twice: each API database connection
    starts dozens of scans (PostgreSQL plans a statement differently once it has run it
    a few times), and the second round finds every job already there."""
    typed = [f"site-{number:03d}.test" for number in range(BURST)]
    with load_api(tmp_path, database_url, fake_scrapyd_http.url) as api:
        first = post_in_rows(api.url, typed, connections=4)
        second = post_in_rows(api.url, typed, connections=4)

    assert [code for code, _ in first] == [202] * BURST, [a for a in first if a[0] != 202][:5]
    assert [code for code, _ in second] == [200] * BURST, [a for a in second if a[0] != 200][:5]
    job_ids = [body["job_id"] for _, body in first]
    assert [body["job_id"] for _, body in second] == job_ids
    assert sorted(call["jobid"] for call in fake_scrapyd_http.called("schedule")) == sorted(job_ids)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(domains.c.host, jobs.c.id).join(jobs)).all()
    expected = sorted(zip(typed, job_ids, strict=True))
    assert sorted((host, str(job_id)) for host, job_id in rows) == expected
    assert not api.alarms(), api.alarms()


def post_in_rows(url: str, domains_typed: list[str], connections: int) -> list[tuple[int, dict]]:
    """POST the scans one after another on each of `connections` keep-alive sessions (entry n
    on session n % connections); the answers in the order of `domains_typed`."""

    def post_row(row: int) -> list[tuple[int, dict]]:
        answers = []
        with requests.Session() as session:
            for domain in domains_typed[row::connections]:
                response = session.post(url + SCAN, json={"domain": domain}, timeout=30)
                answers.append((response.status_code, response.json()))
        return answers

    with ThreadPoolExecutor(connections) as pool:
        rows = list(pool.map(post_row, range(connections)))
    return [rows[n % connections][n // connections] for n in range(len(domains_typed))]


class StatusPoller(threading.Thread):
    """GETs the status of random known jobs at POLL_RATE until stopped; records each poll's
    latency with when it was sent (seconds since the poller started)."""

    def __init__(self, url: str):
        super().__init__(name="status-poller", daemon=True)
        self.url = url
        self.job_ids: list[str] = []  # appended to by the submitting threads
        self.samples: list[tuple[float, float]] = []  # (sent at, latency) in seconds
        self.failures: list[str] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        session, pick = requests.Session(), random.Random(1)
        began = next_at = time.monotonic()
        while not self.stopped.wait(max(0.0, next_at - time.monotonic())):
            next_at += 1 / POLL_RATE
            if not self.job_ids:
                continue
            sent = time.monotonic()
            try:
                response = session.get(self.url + STATUS + pick.choice(self.job_ids), timeout=30)
            except requests.RequestException as exc:
                self.failures.append(repr(exc))
                continue
            self.samples.append((sent - began, time.monotonic() - sent))
            if response.status_code != 200:
                self.failures.append(f"{response.status_code} {response.text[:300]}")

    def stop(self) -> None:
        self.stopped.set()
        self.join()

    def summary(self) -> dict[str, float]:
        latencies = [latency for _, latency in self.samples]
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        slowest_at, slowest = max(self.samples, key=lambda sample: sample[1])
        return {
            "requests": len(latencies),
            "p50_ms": cuts[49] * 1000,
            "p95_ms": cuts[94] * 1000,
            "p99_ms": cuts[98] * 1000,
            "max_ms": slowest * 1000,
            "max_sent_at_s": slowest_at,
        }


def submit_all(url: str, poller: StatusPoller, site_urls: list[str]) -> list[tuple[int, dict]]:
    """POST every scan at once; each accepted job is handed to the poller as soon as it is."""

    def post(site_url: str) -> tuple[int, dict]:
        response = requests.post(url + SCAN, json={"domain": site_url}, timeout=60)
        body = response.json()
        if response.status_code == 202:
            poller.job_ids.append(body["job_id"])
        return response.status_code, body

    with ThreadPoolExecutor(len(site_urls)) as pool:
        return list(pool.map(post, site_urls))


def wait_until_finished(engine: sa.Engine, job_ids: list[str]) -> dict[str, int]:
    """Poll the database (the record) until no job is open, or until none has finished for
    STALL_SECONDS (stuck: a slow machine only makes this take longer), or BURST_CAP passed.
    The count of each status."""
    query = (
        sa.select(jobs.c.status, sa.func.count())
        .where(jobs.c.id.in_([uuid.UUID(job_id) for job_id in job_ids]))
        .group_by(jobs.c.status)
    )
    cap = time.monotonic() + BURST_CAP
    finished, progress_at = -1, time.monotonic()
    while True:
        with engine.connect() as connection:
            counts = {str(status): count for status, count in connection.execute(query)}
        open_now = sum(counts.get(str(status), 0) for status in TaskStatus.active())
        now = time.monotonic()
        if len(job_ids) - open_now > finished:
            finished, progress_at = len(job_ids) - open_now, now
        if not open_now or now - progress_at > STALL_SECONDS or now > cap:
            return counts
        time.sleep(0.5)


def open_jobs(engine: sa.Engine, scrapyd_url: str, job_ids: list[str]) -> list[dict]:
    """The jobs still open, each with what scrapyd says about it: for a failure message."""
    query = (
        sa.select(domains.c.host, jobs)
        .join(domains)
        .where(jobs.c.id.in_([uuid.UUID(job_id) for job_id in job_ids]))
        .where(jobs.c.status.in_(TaskStatus.active()))
    )
    with engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(query).mappings()]
    for row in rows:
        params = {"project": "emailscan", "job": str(row["id"])}
        answer = requests.get(f"{scrapyd_url}/status.json", params=params, timeout=10)
        row["scrapyd"] = answer.json().get("currstate")
    return rows


def crawl_seconds(engine: sa.Engine, job_ids: list[str]) -> float:
    """The median time from claim to close inside a crawl process."""
    query = sa.select(jobs.c.started_at, jobs.c.finished_at).where(
        jobs.c.id.in_([uuid.UUID(job_id) for job_id in job_ids]), jobs.c.started_at.is_not(None)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    seconds = [(end - start).total_seconds() for start, end in rows if end]
    return statistics.median(seconds) if seconds else float("nan")


@pytest.mark.slow
@pytest.mark.timeout(BURST_CAP + 300)
# One database: several minutes of crawl start-ups. SQLite, the default, is the one with a
# writer lock to contend for; PostgreSQL's statement preparation under many POSTs on a pooled
# connection has its own test above.
@pytest.mark.databases("sqlite")
def test_burst_of_200_scans_completes_every_one_while_polls_stay_fast(
    tmp_path, engine, database_url
):
    environ = {"DATABASE_URL": database_url, "ALLOW_PRIVATE_NETWORKS": "1"}
    with (
        ManySites(BURST) as many,
        scrapyd_server(environ, max_proc=2, settings_module="tests.scrapyd_settings") as scrapyd,
        load_api(tmp_path, database_url, scrapyd.url) as api,
    ):
        poller = StatusPoller(api.url)
        poller.start()
        try:
            started = time.monotonic()
            answers = submit_all(api.url, poller, [site.url for site in many.sites])
            submitted = time.monotonic() - started
            assert [code for code, _ in answers] == [202] * BURST, [
                answer for answer in answers if answer[0] != 202
            ]
            job_ids = [body["job_id"] for _, body in answers]
            counts = wait_until_finished(engine, job_ids)
            wall = time.monotonic() - started
        finally:
            poller.stop()
        stuck = open_jobs(engine, scrapyd.url, job_ids)
        finals = [requests.get(api.url + STATUS + job_id, timeout=30).json() for job_id in job_ids]
        scrapyd_log = scrapyd.log()
        (tmp_path / "scrapyd.out").write_text(scrapyd_log)  # kept with api.log for a post-mortem

    polls = poller.summary()
    print(
        f"\n{BURST} scans, max_proc 2: POSTs answered in {submitted:.1f} s, all finished in "
        f"{wall:.1f} s: {2 * wall / BURST:.2f} s per scan per crawl slot, of which "
        f"{crawl_seconds(engine, job_ids):.2f} s from claim to close (the rest: process start-up "
        "and scrapyd); status polls: "
        + ", ".join(f"{name} {value:.1f}" for name, value in polls.items())
        + f"; logs in {tmp_path}"
    )
    assert counts == {"COMPLETE": BURST}, (counts, stuck[:10])
    assert len(set(job_ids)) == BURST
    for site, body in zip(many.sites, finals, strict=True):
        found = {entry["email"] for entry in body["result_data"]["emails"]}
        assert (body["status"], body["progress"], found) == ("COMPLETE", 1.0, {site.email}), body
    assert not poller.failures, poller.failures[:20]
    assert polls["p99_ms"] < POLL_P99_BOUND * 1000, polls
    assert not api.alarms(), api.alarms()
    assert not alarms(scrapyd_log), alarms(scrapyd_log)
