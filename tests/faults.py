"""Fault injectors for tests/test_faults.py: a slow site, a TCP proxy that can cut a database
off, and a scrapyd proxy that lies."""

from __future__ import annotations

import contextlib
import http.server
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests

HOME_EMAILS = {"info@acme-corp.de", "sales@acme-corp.de"}


def page_email(number: int) -> str:
    return f"staff{number}@acme-corp.de"


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    server: _SlowServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/":
            links = "".join(f'<a href="/p/{n}">Page {n}</a>' for n in range(self.server.pages))
            emails = " ".join(sorted(HOME_EMAILS))
            return self._send(f"<h1>Acme</h1><p>Write to {emails}</p>{links}")
        if self.path.startswith("/p/"):
            self.server.release.wait(self.server.delay)  # set: answer at once
            return self._send(f"<p>{page_email(int(self.path[3:]))}</p>")
        self.send_error(404)

    def _send(self, html: str) -> None:
        body = f"<html><body>{html}</body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet
        pass


class _SlowServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, pages: int, delay: float):
        super().__init__(("127.0.0.1", 0), _SlowHandler)
        self.pages, self.delay = pages, delay
        self.release = threading.Event()


@contextlib.contextmanager
def slow_site(pages: int = 60, delay: float = 1.0) -> Iterator[_SlowServer]:
    """A home page with HOME_EMAILS linking to `pages` pages that answer after `delay` seconds,
    each with its page_email(n): a crawl that stores addresses early and runs for a while.
    `site.release.set()` makes the remaining pages answer at once. `site.url` is its address."""
    server = _SlowServer(pages, delay)
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


class TcpProxy:
    """Forwards 127.0.0.1:port to a target; `cut()` drops every connection and refuses new
    ones (a database going away), `restore()` lets them through again."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = threading.Event()
        self.open.set()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self.open.clear()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def restore(self) -> None:
        self.open.set()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open.is_set():
                client.close()  # refused, as by a server that is down
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _ScrapydProxyHandler(http.server.BaseHTTPRequestHandler):
    server: ScrapydProxy

    def do_GET(self) -> None:  # noqa: N802
        self._forward("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._forward("POST")

    def _forward(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        upstream = requests.request(
            method,
            self.server.target + self.path,
            data=body,
            headers={"Content-Type": self.headers.get("Content-Type", "")},
            timeout=10,
        )
        answer = upstream.content
        if urlsplit(self.path).path == "/schedule.json":
            self.server.schedules += 1
            answer = self.server.misbehave(answer)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(answer)

    def log_message(self, format, *args) -> None:  # noqa: A002
        pass


class ScrapydProxy(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """scrapyd behind a proxy that lets schedule.json through, then answers it badly:
    "error" says `{"status": "error"}` (with HTTP 200), "slow" answers the first one only
    after `delay` seconds (past the client's timeout)."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, target: str, mode: str, delay: float = 3.0):
        super().__init__(("127.0.0.1", 0), _ScrapydProxyHandler)
        self.target, self.mode, self.delay = target, mode, delay
        self.schedules = 0
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def misbehave(self, answer: bytes) -> bytes:
        if self.mode == "error":
            return b'{"status": "error", "message": "simulated failure after scheduling"}'
        if self.mode == "slow" and self.schedules == 1:
            time.sleep(self.delay)
        return answer

    def close(self) -> None:
        self.shutdown()
        self.server_close()
