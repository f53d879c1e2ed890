"""In-process stand-ins for the API's network (a fake scrapyd, a fake DNS resolver) and the
fixtures of the API tests, which load this module with `pytest_plugins`."""

from __future__ import annotations

import ipaddress
import socket
import threading
import uuid

import pytest
import sqlalchemy as sa

from emailscan.models import jobs
from statusapi import create_app
from statusapi.scrapyd import ScrapydRejected, ScrapydUnavailable

PUBLIC_ADDRESS = "93.184.215.14"
TEST_SITES = ("acme.com", "globex.com", "initech.com", "umbrella.com", "hooli.com")


class FakeScrapyd:
    """ScrapydClient's interface over a dict of job states; records every call.

    Set `down` to make every call raise ScrapydUnavailable, `reject` (a message) to make
    every call raise ScrapydRejected, as scrapyd's `"status": "error"` does.
    """

    def __init__(self, url: str = "http://scrapyd.test:6800", project: str = "emailscan"):
        self.url = url
        self.project = project
        self.down = False
        self.reject: str | None = None
        self.calls: list[tuple[str, dict]] = []
        self.states: dict[str, str] = {}  # jobid -> pending / running / finished
        self.scheduled: dict[str, dict] = {}  # jobid -> spider and arguments
        self._lock = threading.Lock()

    def _call(self, name: str, **arguments) -> None:
        with self._lock:
            self.calls.append((name, arguments))
        if self.down:
            raise ScrapydUnavailable(f"{self.url}: connection refused (fake)")
        if self.reject:
            raise ScrapydRejected(f"{self.url}: {self.reject}")

    def called(self, name: str) -> list[dict]:
        return [arguments for call, arguments in self.calls if call == name]

    def schedule(self, spider: str, jobid: str, **args) -> str:
        self._call("schedule", spider=spider, jobid=jobid, **args)
        with self._lock:
            self.states[jobid] = "pending"
            self.scheduled[jobid] = {"spider": spider, **args}
        return jobid

    def cancel(self, jobid: str, signal: str = "TERM") -> str:
        self._call("cancel", jobid=jobid, signal=signal)
        with self._lock:
            prevstate = self.states.get(jobid, "")
            if prevstate == "pending":
                del self.states[jobid]  # scrapyd drops it from its queue
            elif prevstate == "running":
                self.states[jobid] = "finished"  # the crawl got the signal and stopped
        return prevstate if prevstate in ("pending", "running") else ""

    def status(self, jobid: str) -> str:
        self._call("status", jobid=jobid)
        return self.states.get(jobid, "")

    def listjobs(self) -> dict:
        self._call("listjobs")
        by_state: dict[str, list] = {"pending": [], "running": [], "finished": []}
        for jobid, state in self.states.items():
            by_state[state].append({"id": jobid, "project": self.project})
        return by_state

    def daemonstatus(self) -> dict:
        self._call("daemonstatus")
        states = list(self.states.values())
        return {key: states.count(key) for key in ("pending", "running", "finished")}


class FakeResolver:
    """A getaddrinfo stand-in knowing only the names it is given.

    Any other name is a test bug: it is recorded in `unexpected` and raises AssertionError
    (not OSError, which the SSRF check would quietly report as "could not resolve").
    """

    def __init__(self, names: dict[str, list[str] | Exception] | None = None):
        self.names = dict(names or {})
        self.asked: list[str] = []
        self.unexpected: list[str] = []

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002
        self.asked.append(host)
        if host not in self.names:
            self.unexpected.append(host)
            raise AssertionError(f"unexpected DNS lookup of {host!r} in a test")
        answer = self.names[host]
        if isinstance(answer, Exception):
            raise answer
        return [_addrinfo(address) for address in answer]


def _addrinfo(address: str) -> tuple:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sockaddr = (address, 0, 0, 0) if family == socket.AF_INET6 else (address, 0)
    return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)


@pytest.fixture
def fake_scrapyd() -> FakeScrapyd:
    return FakeScrapyd()


@pytest.fixture
def new_fake_scrapyd() -> type[FakeScrapyd]:
    """More fakes, for several nodes (importing this module would defeat assert rewriting)."""
    return FakeScrapyd


@pytest.fixture
def fake_resolver(no_real_dns) -> FakeResolver:
    names = {host: [PUBLIC_ADDRESS] for site in TEST_SITES for host in (site, f"www.{site}")}
    resolver = FakeResolver(names)
    yield resolver
    assert not resolver.unexpected, f"unexpected DNS lookups: {resolver.unexpected}"


@pytest.fixture
def no_real_dns(monkeypatch):
    """Fail any lookup of a name through the system resolver (IP literals still work)."""
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        try:
            ipaddress.ip_address(host if isinstance(host, str) else host.decode())
        except (ValueError, AttributeError):
            raise AssertionError(f"a real DNS lookup of {host!r} in a test") from None
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


@pytest.fixture
def make_app(engine, database_url, fake_scrapyd, fake_resolver):
    """create_app over the test database, the fake scrapyd and the fake resolver."""
    apps = []

    def make(**config):
        defaults = {"DATABASE_URL": database_url, "SCRAPYD": fake_scrapyd, "RESOLVE": fake_resolver}
        app = create_app({"TESTING": True, **defaults, **config})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["emailscan"].close()


@pytest.fixture
def api(make_app):
    return make_app().test_client()


@pytest.fixture
def set_job(engine):
    """Set columns of a job directly, e.g. to age its heartbeat: `set_job(job_id, **values)`."""

    def update(job_id: uuid.UUID | str, **values) -> None:
        with engine.begin() as connection:
            query = sa.update(jobs).where(jobs.c.id == uuid.UUID(str(job_id))).values(**values)
            connection.execute(query)

    return update
