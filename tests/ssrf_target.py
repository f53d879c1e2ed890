"""Test side of the SSRF proofs: a loopback server that counts what reaches it, and a real
`scrapy crawl emails` run inside the test-only network of :mod:`tests.ssrf_netstub`.

A :class:`CountingServer` stands in for "the private target" (the sink every non-public
connection is sent to) or serves the "public" site a crawl starts on. It counts accepted TCP
connections and requests; :meth:`CountingServer.stop` first stops serving, then accepts and
counts what is still in the listen backlog and waits for every handler, so a count read after
it is final: a connection the crawl completed can't be missed by a race.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import socket
import subprocess
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from emailscan.models import jobs
from tests.crawl import ROOT, crawl_command, crawl_environment

#: What a "public" name resolves to in the stub DNS (never connected to: routed to loopback).
PUBLIC_IP = "93.184.215.14"

Respond = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


@dataclasses.dataclass(frozen=True)
class Hit:
    method: str | None  # None: not HTTP (a TLS handshake, garbage)
    path: str | None
    host: str | None


def _reached(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "text/html"}, b"<html>the private target was reached</html>"


#: How a page can send a crawler elsewhere: HTTP redirects and a meta refresh.
REDIRECT_KINDS = ("301", "302", "303", "307", "308", "meta")


def redirect_site(targets: dict[str, str], index: str = "") -> Respond:
    """A site whose ``/go/<kind>/<key>`` sends the crawler to ``targets[key]`` (written as is
    into the Location header or the meta refresh) and whose ``/`` is the HTML *index*."""

    def respond(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        parts = handler.path.split("/")
        if handler.path == "/":
            return 200, {"Content-Type": "text/html; charset=utf-8"}, index.encode()
        if len(parts) == 4 and parts[1] == "go" and parts[3] in targets:
            kind, target = parts[2], targets[parts[3]]
            if kind == "meta":
                refresh = f'<meta http-equiv="refresh" content="0; url={html.escape(target)}">'
                body = f"<html><head>{refresh}</head><body>moved</body></html>"
                return 200, {"Content-Type": "text/html; charset=utf-8"}, body.encode()
            return int(kind), {"Location": target}, b""
        return 404, {"Content-Type": "text/plain"}, b"not found"

    return respond


class CountingServer:
    """An HTTP server on a random loopback port counting connections and requests."""

    def __init__(self, respond: Respond = _reached, host: str = "127.0.0.1"):
        self.host = host
        self.connections = 0
        self.requests: list[Hit] = []
        self._lock = threading.Lock()
        self._respond = respond
        self._httpd = self._server()
        self.port: int = self._httpd.server_address[1]
        # A short poll interval: stop() waits up to one for the serving loop to notice.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self._stopped = False

    def _server(self) -> ThreadingHTTPServer:
        counter = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 2  # a client that went quiet (a TLS hello) does not hold stop() up

            def parse_request(self) -> bool:
                ok = super().parse_request()
                host = self.headers.get("Host") if ok else None
                with counter._lock:
                    counter.requests.append(Hit(self.command, self.path, host))
                return ok

            def do_GET(self) -> None:
                status, headers, body = counter._respond(self)
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    # UTF-8 on the wire, as servers send a Location with a non-ASCII host.
                    self.send_header(name, value.encode("utf-8").decode("latin-1"))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            daemon_threads = False  # server_close() joins the handlers
            block_on_close = True

            def get_request(self):
                accepted = super().get_request()
                counter._count_connection()
                return accepted

        return Server((self.host, 0), Handler)

    def _count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    def stop(self) -> None:
        """Stop serving; count connections still waiting to be accepted; join the handlers."""
        if self._stopped:
            return
        self._stopped = True
        self._httpd.shutdown()
        self._thread.join()
        listener = self._httpd.socket
        listener.setblocking(False)
        while True:
            try:
                connection, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            self._count_connection()
            connection.close()
        self._httpd.server_close()

    def __enter__(self) -> CountingServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def summary(self) -> str:
        more = f" and {len(self.requests) - 10} more" if len(self.requests) > 10 else ""
        return f"{self.connections} connection(s), requests {self.requests[:10]}{more}"


@dataclasses.dataclass
class GuardedCrawl:
    """What a crawl under the test network did."""

    returncode: int
    log: str
    attempts: list[tuple[str, int]]  # every connect() the crawl process made, in order
    lookups: list[str]  # every host it asked getaddrinfo about
    jobs: list[dict[str, Any]]  # the rows of its database's jobs table

    def stat(self, name: str) -> int:
        """A counter from Scrapy's final stats dump (0 when absent)."""
        match = re.search(rf"'{re.escape(name)}': (\d+)", self.log)
        return int(match[1]) if match else 0

    def blocked_lines(self) -> list[str]:
        return [
            line
            for line in self.log.splitlines()
            if "emailscan.middlewares] WARNING: Blocked" in line
        ]

    @property
    def job(self) -> dict[str, Any]:
        [job] = self.jobs
        return job


def run_guarded_crawl(
    work: Path,
    domain: str,
    *,
    dns: dict[str, list[list[str]]] | None = None,
    routes: Iterable[tuple[str, int, str, int]] = (),
    sink: CountingServer | None = None,
    settings: dict[str, Any] | None = None,
    arguments: Iterable[str] = (),
    database_url: str | None = None,
    timeout: float = 90,
) -> GuardedCrawl:
    """`scrapy crawl emails -a domain=DOMAIN -a ARGUMENT...` with the project's settings,
    ALLOW_PRIVATE_NETWORKS off unless *settings* say otherwise, in the network of
    :mod:`tests.ssrf_netstub`; a SQLite database in *work* unless *database_url* (its
    connections must be routed, so SQLite is what this is for)."""
    work.mkdir(parents=True, exist_ok=True)
    config = {
        "dns": dns or {},
        "routes": [list(route) for route in routes],
        "sink": [sink.host, sink.port] if sink else None,
        "attempts_file": str(work / "attempts.jsonl"),
        "lookups_file": str(work / "lookups.jsonl"),
    }
    config_path = work / "network.json"
    config_path.write_text(json.dumps(config))
    database_url = database_url or f"sqlite:///{work / 'emailscan.db'}"
    command = crawl_command(
        work / "items.jsonl",
        [f"domain={domain}", *arguments],
        {"ALLOW_PRIVATE_NETWORKS": "False", **(settings or {})},
    )
    assert command[1:3] == ["-m", "scrapy"], command
    command[1:3] = ["-m", "tests.ssrf_netstub", str(config_path)]
    env = crawl_environment(database_url)
    for name in list(env):
        if name.lower().endswith("_proxy") or name == "ALLOW_PRIVATE_NETWORKS":
            del env[name]
    process = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    return GuardedCrawl(
        process.returncode,
        process.stderr,
        [tuple(json.loads(line)) for line in _lines(work / "attempts.jsonl")],
        [json.loads(line) for line in _lines(work / "lookups.jsonl")],
        _jobs(database_url),
    )


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _jobs(database_url: str) -> list[dict[str, Any]]:
    path = sa.make_url(database_url).database
    if database_url.startswith("sqlite") and not (path and Path(path).exists()):
        return []  # the crawl never got as far as its database
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(jobs.name):
                return []
            rows = connection.execute(
                sa.select(jobs.c.status, jobs.c.error, jobs.c.pages_crawled, jobs.c.emails_found)
            )
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()
