"""Faults injected for real: crawls killed, scrapyd stopped or lying, the database cut off, the
API restarted. Each test is a row of docs/reliability.md."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid

import pytest
import requests
import sqlalchemy as sa

from emailscan import store
from emailscan.extensions import DATABASE_UNAVAILABLE
from emailscan.models import TaskStatus
from statusapi import create_app
from statusapi.jobs import LOST
from statusapi.scans import SCHEDULER_DOWN
from statusapi.scrapyd import ScrapydNodes
from statusapi.serve import start_reaper
from statusapi.status import CANCELLED
from tests.crawl import ROOT, TEST_SETTINGS, crawl_command, crawl_environment
from tests.faults import HOME_EMAILS, ScrapydProxy, TcpProxy, page_email, slow_site
from tests.fixture_site import EXPECTED_EMAILS, FixtureSite
from tests.scrapyd_server import scrapyd_server
from tests.served_api import ServedApi

SCAN = "/api/v3/scan/website"
HEARTBEAT = float(TEST_SETTINGS["EMAILSCAN_PROGRESS_INTERVAL"])  # crawls' heartbeat interval
DOWNLOAD_TIMEOUT = float(TEST_SETTINGS["DOWNLOAD_TIMEOUT"])
API_CONFIG = {
    "ALLOW_PRIVATE_NETWORKS": True,
    "HEARTBEAT_TIMEOUT": 3 * HEARTBEAT,  # three missed heartbeats: ask scrapyd
    "RECONCILE_INTERVAL": HEARTBEAT,
    "PENDING_GRACE": 5,
    "HUNG_TIMEOUT": 5,  # silent this long and unknown to scrapyd (restarted): lost
}


@pytest.fixture
def scrapyd(database_url, engine):
    """A real scrapyd running one crawl at a time, with fast crawl settings."""
    environ = {"DATABASE_URL": database_url, "ALLOW_PRIVATE_NETWORKS": "1"}
    with scrapyd_server(
        env=environ, max_proc=1, settings_module="tests.scrapyd_settings"
    ) as server:
        yield server


@pytest.fixture
def make_api(database_url):
    apps = []

    def make(scrapyd_url: str, **config):
        config = {"DATABASE_URL": database_url, "SCRAPYD_URL": scrapyd_url, **API_CONFIG, **config}
        app = create_app(config)
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        app.extensions["emailscan"].close()


def poll(api, job_id, until, seconds: float = 60.0, every: float = 0.05) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        body = api.get(f"/api/v3/scan/status/{job_id}").get_json()
        if until(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(every)


def emails(body: dict) -> set[str]:
    return {entry["email"] for entry in body["result_data"]["emails"]}


def running_crawl(server) -> dict:
    """The one crawl scrapyd runs (max_proc 1), once it has one."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        running = requests.get(f"{server.url}/listjobs.json", timeout=5).json()["running"]
        if running:
            return running[0]
        time.sleep(0.1)
    raise AssertionError(server.log())


def _poll_over_http(url: str, job_id: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while not (body := requests.get(f"{url}/api/v3/scan/status/{job_id}", timeout=5).json())[
        "finished_at"
    ]:
        assert time.monotonic() < deadline, body
        time.sleep(0.1)
    return body


def wait_until_gone(pid: int, seconds: float) -> float:
    """Seconds until the process `pid` is gone."""
    started = time.monotonic()
    while os.path.exists(f"/proc/{pid}") and "Z" not in _state(pid):
        assert time.monotonic() - started < seconds, f"process {pid} still running"
        time.sleep(0.05)
    return time.monotonic() - started


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


# Crawl process killed ---------------------------------------------------------------------


@pytest.mark.parametrize("observer", ["status poll", "reaper"])
def test_killed_crawl_fails_within_three_heartbeats_keeping_its_addresses(
    engine, scrapyd, make_api, observer
):
    api = make_api(scrapyd.url)
    with slow_site(pages=40, delay=5) as site:
        job_id = api.post(SCAN, json={"domain": site.url}).get_json()["job_id"]
        seen = emails(poll(api, job_id, lambda body: emails(body) >= HOME_EMAILS))
        crawl = running_crawl(scrapyd)

        os.kill(crawl["pid"], signal.SIGKILL)  # no chance to report anything
        killed = time.monotonic()
        if observer == "status poll":
            body = poll(api, job_id, lambda body: body["finished_at"], seconds=20)
        else:  # nobody polls: the API's reaper thread closes it
            nodes = ScrapydNodes.from_urls(scrapyd.url)
            stop = start_reaper(engine, nodes, {"REAPER_INTERVAL": HEARTBEAT, **_timeouts()})
            try:
                while store.get_job(engine, uuid.UUID(job_id)).status is TaskStatus.RUNNING:
                    assert time.monotonic() - killed < 20
                    time.sleep(0.05)
            finally:
                stop.set()
            body = api.get(f"/api/v3/scan/status/{job_id}").get_json()
        elapsed = time.monotonic() - killed

    assert (body["status"], body["error"]) == ("FAILED", LOST)
    assert "stopped unexpectedly" in body["error"]
    assert emails(body) >= seen  # what was found before the kill is kept
    assert body["result_data"]["partial"] is True
    # Three heartbeat intervals, plus one poll or reaper round and a scrapyd round trip.
    assert elapsed < 3 * HEARTBEAT + 2 * HEARTBEAT + 1.0, elapsed


def _timeouts() -> dict:
    return {
        "HEARTBEAT_TIMEOUT": API_CONFIG["HEARTBEAT_TIMEOUT"],
        "PENDING_GRACE": API_CONFIG["PENDING_GRACE"],
        "HUNG_TIMEOUT": API_CONFIG["HUNG_TIMEOUT"],
    }


# scrapyd down, restarted, lying ----------------------------------------------------------


def test_scrapyd_down_at_post_is_503_and_the_job_is_not_left_pending(engine, scrapyd, make_api):
    api = make_api(scrapyd.url)
    scrapyd.stop()
    with FixtureSite() as site:
        refused = api.post(SCAN, json={"domain": site.url})
        failed_id = refused.get_json()["error"]["message"].split("job ")[-1].split(" ")[0]

        scrapyd.start()  # back: the same scan can be asked for again, and runs
        accepted = api.post(SCAN, json={"domain": site.url})
        body = poll(api, accepted.get_json()["job_id"], lambda body: body["finished_at"])

    assert refused.status_code == 503
    assert refused.get_json()["error"]["code"] == "scheduler_unavailable"
    assert refused.is_json
    failed = store.get_job(engine, uuid.UUID(failed_id))
    assert (failed.status, failed.error) == (TaskStatus.FAILED, SCHEDULER_DOWN)
    assert accepted.status_code == 202
    assert (body["status"], emails(body)) == ("COMPLETE", EXPECTED_EMAILS)


@pytest.mark.parametrize("crawl_survives", [True, False], ids=["crawl survives", "crawl dies"])
def test_scrapyd_restarted_mid_crawl(engine, scrapyd, make_api, crawl_survives):
    api = make_api(scrapyd.url)
    with slow_site(pages=20, delay=30) as slow, FixtureSite() as quick:
        running_id = api.post(SCAN, json={"domain": slow.url}).get_json()["job_id"]
        poll(api, running_id, lambda body: emails(body) >= HOME_EMAILS)
        queued_id = api.post(SCAN, json={"domain": quick.url}).get_json()["job_id"]
        crawl = running_crawl(scrapyd)

        scrapyd.stop()  # its crawl goes on as an orphan; its queue is on disk
        if not crawl_survives:
            os.kill(crawl["pid"], signal.SIGKILL)
        scrapyd.start()
        slow.release.set()  # the rest of the slow site answers now
        running = poll(api, running_id, lambda body: body["finished_at"], seconds=60)
        queued = poll(api, queued_id, lambda body: body["finished_at"], seconds=60)

    if crawl_survives:
        assert running["status"] == "COMPLETE"
        assert emails(running) == HOME_EMAILS | {page_email(n) for n in range(20)}
    else:  # the new scrapyd never heard of it: lost, with what it had found
        assert (running["status"], running["error"]) == ("FAILED", LOST)
        assert emails(running) >= HOME_EMAILS
    assert (queued["status"], emails(queued)) == ("COMPLETE", EXPECTED_EMAILS)


def test_scrapyd_error_after_scheduling_leaves_no_crawl_working(engine, scrapyd, make_api):
    proxy = ScrapydProxy(scrapyd.url, "error")
    api = make_api(proxy.url)
    try:
        with FixtureSite() as site:
            response = api.post(SCAN, json={"domain": site.url})
            job_id = uuid.UUID(response.get_json()["error"]["message"].split("job ")[-1][:36])
            crawl = _finished_crawl(scrapyd, str(job_id))  # scrapyd did start one
    finally:
        proxy.close()

    assert response.status_code == 503
    job = store.get_job(engine, job_id)
    assert (job.status, job.error, job.pages_crawled) == (TaskStatus.FAILED, SCHEDULER_DOWN, 0)
    assert not store.job_emails(engine, job_id)
    assert "already claimed" in _crawl_log(scrapyd, crawl) or "Not crawling" in _crawl_log(
        scrapyd, crawl
    )


def test_schedule_timeout_is_retried_and_one_crawl_works_on_the_job(engine, scrapyd, make_api):
    # scrapyd itself may take a second or two to schedule (it runs `scrapy list`).
    proxy = ScrapydProxy(scrapyd.url, "slow", delay=6)
    api = make_api(proxy.url, SCRAPYD_TIMEOUT=4)
    try:
        with FixtureSite() as site:
            accepted = api.post(SCAN, json={"domain": site.url})
            job_id = accepted.get_json()["job_id"]
            body = poll(api, job_id, lambda body: body["finished_at"])
            crawls = _finished_crawls(scrapyd, job_id, count=2)
    finally:
        proxy.close()

    assert accepted.status_code == 202
    assert proxy.schedules == 2  # timed out once, asked again
    assert (body["status"], emails(body)) == ("COMPLETE", EXPECTED_EMAILS)
    assert len(crawls) == 2
    log = _crawl_log(scrapyd, crawls[0])  # both runs of the job id log to one file
    assert log.count("Claimed job") == 1
    assert log.count("was already claimed by another process") == 1


def _finished_crawls(server, job_id: str, count: int) -> list[dict]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        finished = requests.get(f"{server.url}/listjobs.json", timeout=5).json()["finished"]
        mine = [crawl for crawl in finished if crawl["id"] == job_id]
        if len(mine) >= count:
            return mine
        time.sleep(0.1)
    raise AssertionError(server.log())


def _finished_crawl(server, job_id: str) -> dict:
    return _finished_crawls(server, job_id, 1)[0]


def _crawl_log(server, crawl: dict) -> str:
    [log] = (server.home / "logs").rglob(f"{crawl['id']}.log")
    return log.read_text(errors="replace")


# Cancel -----------------------------------------------------------------------------------


def test_cancel_pending_and_running_jobs(engine, scrapyd, make_api):
    api = make_api(scrapyd.url)
    with slow_site(pages=20, delay=30) as slow, FixtureSite() as quick:
        running_id = api.post(SCAN, json={"domain": slow.url}).get_json()["job_id"]
        poll(api, running_id, lambda body: emails(body) >= HOME_EMAILS)
        pending_id = api.post(SCAN, json={"domain": quick.url}).get_json()["job_id"]
        crawl = running_crawl(scrapyd)

        pending = api.post(f"/api/v3/scan/{pending_id}/cancel")
        running = api.post(f"/api/v3/scan/{running_id}/cancel")
        seconds_to_stop = wait_until_gone(crawl["pid"], seconds=4 * DOWNLOAD_TIMEOUT)
        final = api.get(f"/api/v3/scan/status/{running_id}").get_json()
        listed = requests.get(f"{scrapyd.url}/listjobs.json", timeout=5).json()

    for response in (pending, running):
        assert response.status_code == 202
        assert (response.get_json()["status"], response.get_json()["error"]) == (
            "CANCELLED",
            CANCELLED,
        )
    assert pending_id not in {job["id"] for job in listed["pending"] + listed["running"]}
    assert store.get_job(engine, uuid.UUID(pending_id)).pages_crawled == 0
    # Scrapy lets the requests in flight and queued end first: at most two download timeouts,
    # not the 30 s the pages would take.
    assert seconds_to_stop < 2 * DOWNLOAD_TIMEOUT + 3
    assert final["status"] == "CANCELLED"
    assert emails(final) >= HOME_EMAILS  # kept, and brought up to date by the stopping crawl
    assert final["result_data"]["stats"]["close_reason"] in ("shutdown", "job_closed")


# Database unavailable during a crawl's writes ---------------------------------------------


def _start_crawl(tmp_path, database_url, job_id, site_url, **settings):
    output = tmp_path / "items.jsonl"
    command = crawl_command(
        output, [f"domain={site_url}", f"job_id={job_id}"], {"LOG_LEVEL": "INFO", **settings}
    )
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=crawl_environment(database_url),
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "crawl.log", "w"),  # noqa: SIM115 - closed with the process
    )


def _new_job(engine, host: str):
    job, _ = store.start_scan(engine, store.get_or_create_domain(engine, host))
    return job.id


def _wait_for_emails(engine, job_id, wanted: set[str], seconds: float = 30) -> None:
    deadline, job_id = time.monotonic() + seconds, uuid.UUID(str(job_id))
    while {entry["email"] for entry in store.job_emails(engine, job_id)} < wanted:
        assert time.monotonic() < deadline
        time.sleep(0.05)


class _Outage:
    """Makes the crawl's database unavailable: SQLite locked by another writer, or
    PostgreSQL's connections cut at a proxy in front of it."""

    def __init__(self, database_url: str):
        self.url = sa.make_url(database_url)
        self.proxy = None
        self._lock_connection = None
        if self.url.get_backend_name() == "postgresql":
            self.proxy = TcpProxy(self.url.host or "127.0.0.1", self.url.port or 5432)

    @property
    def crawl_url(self) -> str:
        if self.proxy is None:  # a short busy timeout: a locked database fails fast
            return self.url.update_query_dict({"timeout": "0.2"}).render_as_string(False)
        return self.url.set(port=self.proxy.port).render_as_string(hide_password=False)

    def begin(self) -> None:
        if self.proxy is not None:
            self.proxy.cut()
            return
        engine = sa.create_engine(self.url.set(query={}), poolclass=sa.pool.NullPool)
        self._lock_connection = engine.raw_connection()
        self._lock_connection.driver_connection.isolation_level = None
        self._lock_connection.driver_connection.execute("BEGIN EXCLUSIVE")

    def end(self) -> None:
        if self.proxy is not None:
            self.proxy.restore()
            return
        self._lock_connection.driver_connection.execute("ROLLBACK")
        self._lock_connection.close()

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.close()


@pytest.fixture
def outage(database_url):
    outage = _Outage(database_url)
    yield outage
    outage.close()


def test_database_outage_shorter_than_the_retry_budget_loses_nothing(tmp_path, engine, outage):
    job_id = _new_job(engine, "127.0.0.1")
    with slow_site(pages=10, delay=30) as site:
        crawl = _start_crawl(
            tmp_path, outage.crawl_url, job_id, site.url, EMAILSCAN_DB_RETRY_SECONDS=30
        )
        _wait_for_emails(engine, job_id, HOME_EMAILS)
        outage.begin()
        site.release.set()  # the other pages answer while the database is away
        time.sleep(3 * HEARTBEAT + 1)  # writes fail and are retried meanwhile
        outage.end()
        assert crawl.wait(timeout=60) == 0

    job = store.get_job(engine, job_id)
    log = (tmp_path / "crawl.log").read_text()
    assert "Database unavailable, retrying" in log
    assert job.status is TaskStatus.COMPLETE, log
    assert {e["email"] for e in job.result_data["emails"]} == HOME_EMAILS | {
        page_email(n) for n in range(10)
    }


@pytest.mark.parametrize("back_before_the_end", [True, False], ids=["back later", "gone"])
def test_database_outage_longer_than_the_retry_budget_ends_failed_never_complete(
    tmp_path, database_url, engine, outage, back_before_the_end
):
    job_id = _new_job(engine, "127.0.0.1")
    # Pages take 4 s each: the crawl goes on well past the 2 s its writes are retried for.
    with slow_site(pages=10, delay=4) as site:
        crawl = _start_crawl(
            tmp_path, outage.crawl_url, job_id, site.url, EMAILSCAN_DB_RETRY_SECONDS=2
        )
        _wait_for_emails(engine, job_id, HOME_EMAILS)
        outage.begin()
        if back_before_the_end:
            # Writes give up after 2 s and the crawl stops; its last write comes after the
            # pages in flight (4 s), when the database is back.
            threading.Timer(3.0, outage.end).start()
        assert crawl.wait(timeout=60) == 0
        if not back_before_the_end:
            outage.end()

    job = store.get_job(engine, job_id)
    log = (tmp_path / "crawl.log").read_text()
    assert DATABASE_UNAVAILABLE in log
    if back_before_the_end:  # the crawl could say what happened itself
        assert job.status is TaskStatus.FAILED, log
        assert "database was unavailable" in job.error
    else:  # it could not: its job looks like a lost crawl, and the API closes it so
        assert job.status is TaskStatus.RUNNING, log
        from tests.fake_scrapyd import FakeScrapyd  # here: importing it early spoils the plugin

        fake = FakeScrapyd()
        fake.states[str(job_id)] = "finished"
        app = create_app({"DATABASE_URL": database_url, "SCRAPYD": fake, **API_CONFIG})
        body = app.test_client().get(f"/api/v3/scan/status/{job_id}").get_json()
        app.extensions["emailscan"].close()
        assert (body["status"], body["error"]) == ("FAILED", LOST)
        job = store.get_job(engine, job_id)
    assert job.status is not TaskStatus.COMPLETE
    assert {e["email"] for e in job.result_data["emails"]} >= HOME_EMAILS


# API restarted ----------------------------------------------------------------------------


def test_api_restarted_while_a_job_runs_loses_nothing(tmp_path, database_url, engine, scrapyd):
    environ = {"DATABASE_URL": database_url, "SCRAPYD_URL": scrapyd.url}
    served = ServedApi(tmp_path, {**environ, "ALLOW_PRIVATE_NETWORKS": "1"})
    served.start()
    try:
        with slow_site(pages=10, delay=30) as site:
            accepted = requests.post(served.url + SCAN, json={"domain": site.url}, timeout=10)
            job_id = accepted.json()["job_id"]
            _wait_for_emails(engine, job_id, HOME_EMAILS)
            served.kill()
            with pytest.raises(requests.ConnectionError):
                requests.get(f"{served.url}/api/v3/scan/status/{job_id}", timeout=2)
            site.release.set()
            served.start()
            body = _poll_over_http(served.url, job_id)
    finally:
        served.kill()

    assert body["status"] == "COMPLETE"
    assert emails(body) == HOME_EMAILS | {page_email(n) for n in range(10)}


def test_database_down_when_a_crawl_starts_means_no_crawl(tmp_path, engine, outage):
    job_id = _new_job(engine, "127.0.0.1")
    outage.begin()
    try:
        with FixtureSite() as site:
            crawl = _start_crawl(
                tmp_path, outage.crawl_url, job_id, site.url, EMAILSCAN_DB_RETRY_SECONDS=1
            )
            assert crawl.wait(timeout=60) == 0
            pages_fetched = len(site.requests)
    finally:
        outage.end()

    log = (tmp_path / "crawl.log").read_text()
    assert f"Spider closed ({DATABASE_UNAVAILABLE})" in log
    assert "Database unavailable, retrying" in log
    # Left PENDING for the API, which closes it once scrapyd says the crawl ended.
    assert store.get_job(engine, job_id).status is TaskStatus.PENDING
    assert pages_fetched <= 1  # at most the first start request was already under way
