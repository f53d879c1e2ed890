"""`scrapy crawl emails` against the fixture site: what it finds, where it stops, what it stores."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid

import pytest
import sqlalchemy as sa
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from emailscan import db, store
from emailscan import settings as project
from emailscan.models import TaskStatus, jobs
from emailscan.spiders.emails import EmailsSpider
from tests.crawl import ROOT, crawl_command, crawl_environment, run_crawl
from tests.fixture_site import DECOY_STRINGS, EXPECTED_EMAILS, FixtureSite
from tests.scrapyd_server import free_port


@pytest.fixture
def site():
    with FixtureSite() as site:
        yield site


def only_job(engine) -> store.Job:
    with engine.connect() as connection:
        (job_id,) = connection.scalars(sa.select(jobs.c.id)).all()
    return store.get_job(engine, job_id)


def test_finds_every_planted_address_and_no_decoy(tmp_path, engine, database_url, site):
    result = run_crawl(tmp_path, database_url, f"domain={site.url}")
    assert result.returncode == 0, result.log
    assert result.emails == EXPECTED_EMAILS
    for decoy in DECOY_STRINGS:
        assert not any(decoy.lower() in email for email in result.emails), decoy
    assert len(result.items) == len(result.emails)  # one item per address

    job = only_job(engine)
    assert (job.status, job.progress, job.error) == (TaskStatus.COMPLETE, 1.0, None)
    assert job.emails_found == len(EXPECTED_EMAILS)
    stored = {entry["email"]: entry for entry in job.result_data["emails"]}
    assert set(stored) == EXPECTED_EMAILS
    assert len(stored["info@acme-widgets.com"]["sources"]) > 5  # the footer address
    assert {c["email"] for c in store.domain_contacts(engine, job.domain_id)} == EXPECTED_EMAILS


def test_obeys_robots_and_survives_traps(tmp_path, site):
    result = run_crawl(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", f"domain={site.url}")
    assert result.returncode == 0, result.log
    assert site.hits("/private") == 0
    assert site.hits("/robots.txt") >= 1
    assert site.hits("/flaky.html") >= 2  # 503, then retried
    assert site.hits("/calendar") <= 250
    assert site.hits("/shop") <= 250
    assert site.hits("/redirect-loop") <= 12


def test_page_cap_takes_the_valuable_pages_first(tmp_path, site):
    database_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = run_crawl(tmp_path, database_url, f"domain={site.url}", "max_pages=4")
    assert result.returncode == 0, result.log
    engine = db.make_engine(database_url)
    job = only_job(engine)
    assert (job.status, job.pages_crawled) == (TaskStatus.COMPLETE, 4)
    assert site.hits("/contact") >= 1
    assert site.hits("/impressum") >= 1


def test_bare_host_falls_back_from_https_to_http(tmp_path, site):
    result = run_crawl(
        tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", f"domain={site.host}:{site.port}"
    )
    assert result.returncode == 0, result.log
    assert "info@acme-widgets.com" in result.emails


def test_unreachable_site_fails_with_a_clear_error(tmp_path, engine, database_url):
    result = run_crawl(tmp_path, database_url, f"domain=http://127.0.0.1:{free_port()}")
    assert result.returncode == 0, result.log
    job = only_job(engine)
    assert job.status is TaskStatus.FAILED
    assert "refused the connection" in job.error
    assert job.progress < 1.0


def test_private_target_is_refused_without_a_request(tmp_path, engine, database_url, site):
    result = run_crawl(
        tmp_path, database_url, f"domain={site.url}", settings={"ALLOW_PRIVATE_NETWORKS": "False"}
    )
    assert result.returncode == 0, result.log
    job = only_job(engine)
    assert job.status is TaskStatus.FAILED
    assert "refused to connect to 127.0.0.1" in job.error
    assert site.requests == []


def test_given_job_is_claimed_and_completed(tmp_path, engine, database_url, site):
    domain_id = store.get_or_create_domain(engine, "fixture")
    job, _ = store.start_scan(engine, domain_id, uuid.uuid4())
    result = run_crawl(tmp_path, database_url, f"domain={site.url}", f"job_id={job.id}")
    assert result.returncode == 0, result.log
    done = store.get_job(engine, job.id)
    assert done.status is TaskStatus.COMPLETE
    assert {item["job_id"] for item in result.items} == {str(job.id)}


def test_second_process_for_a_claimed_job_leaves_it_alone(tmp_path, engine, database_url, site):
    domain_id = store.get_or_create_domain(engine, "fixture")
    job, _ = store.start_scan(engine, domain_id)
    assert store.claim_job(engine, job.id)  # another process holds it
    result = run_crawl(tmp_path, database_url, f"domain={site.url}", f"job_id={job.id}")
    assert result.returncode == 0, result.log
    assert result.items == []
    assert site.requests == []
    untouched = store.get_job(engine, job.id)
    assert (untouched.status, untouched.pages_crawled, untouched.finished_at) == (
        TaskStatus.RUNNING,
        0,
        None,
    )


def start_crawl(database_url: str, site_url: str, tmp_path) -> subprocess.Popen:
    command = crawl_command(
        tmp_path / "items.jsonl", [f"domain={site_url}"], {"CONCURRENT_REQUESTS": 2}
    )
    return subprocess.Popen(
        command, cwd=ROOT, env=crawl_environment(database_url), stderr=subprocess.DEVNULL
    )


def watch(engine, process, seconds=60):
    """Progress values seen while the crawl runs, polling the database like the API does."""
    seen, deadline = [], time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        jobs = store.open_jobs(engine)
        if jobs and jobs[0].status is TaskStatus.RUNNING:
            seen.append(jobs[0].progress)
        time.sleep(0.05)
    return seen


def test_progress_is_monotonic_and_one_only_when_complete(tmp_path, engine, database_url):
    with FixtureSite(delay=0.02) as site:
        process = start_crawl(database_url, site.url, tmp_path)
        seen = watch(engine, process)
        assert process.wait(timeout=60) == 0
    assert len(set(seen)) >= 3
    assert seen == sorted(seen)
    assert max(seen) < 1.0
    assert only_job(engine).progress == 1.0


def test_sigterm_cancels_and_keeps_partial_results(tmp_path, engine, database_url):
    with FixtureSite(delay=0.1) as site:
        process = start_crawl(database_url, site.url, tmp_path)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            running = store.open_jobs(engine)
            if running and running[0].pages_crawled >= 3:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)  # what scrapyd's cancel.json does
        assert process.wait(timeout=60) == 0
    job = only_job(engine)
    assert job.status is TaskStatus.CANCELLED
    assert job.progress < 1.0
    assert "cancelled" in job.error
    assert job.result_data["emails"]  # partial results kept


def test_json_logs_carry_the_job_id(tmp_path, site):
    database_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = run_crawl(
        tmp_path, database_url, f"domain={site.url}", "max_pages=2", settings={"LOG_JSON": "True"}
    )
    assert result.returncode == 0, result.log
    job_id = str(only_job(db.make_engine(database_url)).id)
    # Scrapy logs its start-up before any extension runs; from the claim on, every line is JSON.
    lines = result.log.splitlines()
    first = next(n for n, line in enumerate(lines) if line.startswith('{"time"'))
    records = [json.loads(line) for line in lines[first:]]
    assert len(records) >= 3
    assert {record["job_id"] for record in records} == {job_id}
    assert any("finished COMPLETE" in record["message"] for record in records)


def test_pages_at_the_depth_limit_leave_their_links_for_shallower_pages():
    settings = {name: getattr(project, name) for name in dir(project) if name.isupper()}
    crawler = get_crawler(
        EmailsSpider, {**settings, "EMAILSCAN_JOBS_ENABLED": False, "DEPTH_LIMIT": 2}
    )
    spider = EmailsSpider.from_crawler(crawler, domain="acme-widgets.com")
    crawler.spider = spider
    body = b'<a href="/deep-page">deep</a>'

    def parse(depth):
        request = Request("https://acme-widgets.com/p", meta={"depth": depth})
        response = HtmlResponse(request.url, body=body, encoding="utf-8", request=request)
        return [r.url for r in spider.parse_page(response) if isinstance(r, Request)]

    assert parse(2) == []
    assert parse(1) == ["https://acme-widgets.com/deep-page"]
