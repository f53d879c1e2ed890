"""In-process stand-ins for the API's network (a fake scrapyd, a fake DNS resolver) and the
fixtures of the API tests, which load this module with `pytest_plugins`.

The fake scrapyd can also be served over HTTP (`serve_over_http`, fixture `fake_scrapyd_http`)
for API processes started by a test, which can't be handed the object.
"""

from __future__ import annotations

import contextlib
import http.server
import ipaddress
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

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


class _FakeScrapydHandler(http.server.BaseHTTPRequestHandler):
    """scrapyd's JSON API over a FakeScrapyd: errors as scrapyd gives them (HTTP 200 with
    `"status": "error"`), `down` as HTTP 503."""

    protocol_version = "HTTP/1.1"  # keep-alive, as with the real one
    server: _FakeScrapydServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        self._answer("GET", parts.path, parse_qs(parts.query))

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        self._answer("POST", urlsplit(self.path).path, form)

    def _answer(self, method: str, path: str, form: dict[str, list[str]]) -> None:
        endpoint = _ENDPOINTS.get((method, path))
        if endpoint is None:
            return self._send(404, {"status": "error", "message": f"no {method} {path}"})
        params = {name: values[0] if len(values) == 1 else values for name, values in form.items()}
        fake = self.server.fake
        if params.pop("project", fake.project) != fake.project:
            return self._send(200, {"status": "error", "message": "project not found"})
        try:
            answer = endpoint(fake, params)
        except ScrapydUnavailable as exc:
            return self._send(503, {"status": "error", "message": str(exc)})
        except ScrapydRejected as exc:
            return self._send(200, {"status": "error", "message": str(exc)})
        return self._send(200, {"node_name": "fake", "status": "ok", **answer})

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet
        pass


def _schedule(fake: FakeScrapyd, params: dict) -> dict:
    return {"jobid": fake.schedule(params.pop("spider"), params.pop("jobid"), **params)}


_ENDPOINTS = {
    ("POST", "/schedule.json"): _schedule,
    ("POST", "/cancel.json"): lambda fake, params: {
        "prevstate": fake.cancel(params["job"], params.get("signal", "TERM")) or None
    },
    ("GET", "/status.json"): lambda fake, params: {"currstate": fake.status(params["job"]) or None},
    ("GET", "/listjobs.json"): lambda fake, params: fake.listjobs(),
    ("GET", "/daemonstatus.json"): lambda fake, params: fake.daemonstatus(),
}


class _FakeScrapydServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeScrapyd):
        super().__init__(("127.0.0.1", 0), _FakeScrapydHandler)
        self.fake = fake


@contextlib.contextmanager
def serve_over_http(fake: FakeScrapyd) -> Iterator[FakeScrapyd]:
    """Serve the fake's scrapyd API on 127.0.0.1 at a random port; `fake.url` becomes its URL."""
    server = _FakeScrapydServer(fake)
    thread = threading.Thread(target=server.serve_forever, name="fake-scrapyd", daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


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
def fake_scrapyd_http(fake_scrapyd) -> FakeScrapyd:
    """The fake scrapyd, also served over HTTP at its `url`, for API processes."""
    with serve_over_http(fake_scrapyd) as served:
        yield served


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
