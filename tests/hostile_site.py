"""A website on 127.0.0.1 that misbehaves on purpose, for crawler robustness tests.

Raw sockets, one thread per connection, so a route can do what no well-behaved server does:
drip bytes, lie about Content-Length, never finish its headers, answer a TLS handshake with
garbage. ``/`` is an ordinary page carrying :data:`HOME_EMAIL` and linking to ``links``, unless
``home`` names a route to serve there instead. Routes:

* ``/page/<name>``: an ordinary page carrying :data:`PAGE_EMAIL`.
* ``/drip``: headers at once (Content-Length 1 MB), then one body byte every ``drip_interval``;
  ``/drip/head``: the status line and headers themselves, one byte every ``drip_interval``.
  Both go on until the client hangs up; :attr:`HostileSite.hangups` records after how long.
* ``/silent``: reads the request and never answers.
* ``/bomb/<gzip|deflate|br|zstd>``: :data:`BOMB_SIZE` zeros, compressed (text/html).
* ``/length/long`` (Content-Length larger than the body, then close), ``/length/short`` (smaller,
  the rest of the page follows on a kept-alive connection), ``/length/huge`` (10**12, then a
  trickle).
* ``/big``: :data:`BIG_SIZE` bytes of HTML with Content-Length; ``/big/chunked`` chunked;
  ``/big/close`` delimited by closing. :attr:`HostileSite.sent` says how much got out.
* ``/redirect/chain/<n>`` -> ``/redirect/chain/<n+1>`` forever; ``/redirect/loop/a`` <-> ``b``.
* ``/maze/<hex token>``, ``/maze/words/<letters>``: pages linking to :data:`MAZE_LINKS` fresh
  URLs of their kind (ids that URL patterns fold together, or words that they don't).
* ``/status/<code>[/<anything>]``: that status forever, with ``Retry-After: <retry_after>``
  when set.
* ``/robots.txt``: ``robots`` is ``None`` (404), ``"huge"`` (:func:`huge_robots`), ``"giant"``
  (:data:`GIANT_ROBOTS_SIZE` of rules, streamed) or ``"garbage"`` (random bytes, invalid UTF-8).
* ``/junk/<random|png|longline|nested>``: non-HTML bodies sent as text/html.

``tls`` decides what a connection that starts with a TLS handshake gets: ``None`` (treated as a
malformed HTTP request: closed), ``"hang"`` (nothing, ever) or ``"garbage"`` (random bytes).
"""

from __future__ import annotations

import contextlib
import functools
import random
import select
import socket
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from html import escape
from types import TracebackType

import brotli
from backports import zstd

HOST = "127.0.0.1"
HOME_EMAIL = "info@hostile-widgets.com"
PAGE_EMAIL = "sales@hostile-widgets.com"
NESTED_EMAIL = "deep@hostile-widgets.com"  # /junk/nested only
FORBIDDEN_PATH = "/page/forbidden"
BEYOND_PATH = "/page/beyond"
BOMB_SIZE = 1 << 30  # 1 GiB once decompressed
BIG_SIZE = 30 * 1024 * 1024
HUGE_ROBOTS_SIZE = 4 * 1024 * 1024
GIANT_ROBOTS_SIZE = 50 * 1024 * 1024
MAZE_LINKS = 50
NESTING = 100_000
_CHUNK = 64 * 1024
_TLS_HANDSHAKE = 0x16  # first byte of a TLS record carrying a ClientHello
_MAX_HEAD = 64 * 1024

Handler = Callable[["HostileSite", "_Connection", str], bool]


class HostileSite:
    """The server; a context manager. ``hits`` counts requests per path."""

    def __init__(
        self,
        *,
        home: str | None = None,
        links: Sequence[str] = (),
        robots: str | None = None,
        retry_after: str | None = None,
        tls: str | None = None,
        drip_interval: float = 0.5,
    ) -> None:
        self.home, self.links, self.robots = home, tuple(links), robots
        self.retry_after, self.tls, self.drip_interval = retry_after, tls, drip_interval
        self.hits: Counter[str] = Counter()
        self.hangups: dict[str, list[float]] = {}  # path -> seconds until the client hung up
        self.sent: Counter[str] = Counter()  # path -> body bytes that got out
        self.tls_handshakes = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server((HOST, 0))
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self.port = self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def __enter__(self) -> HostileSite:
        self._listener.settimeout(0.1)
        self._spawn(self._accept)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(timeout=10)
        self._listener.close()

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._connections.add(sock)
            self._spawn(self._serve, sock)

    def _serve(self, sock: socket.socket) -> None:
        connection = _Connection(sock, self._stop)
        try:
            if self._is_tls(sock):
                self._answer_tls(connection)
                return
            while (target := connection.read_request()) is not None:
                if not self._dispatch(connection, target):
                    break
        except OSError:
            pass  # the client hung up: what a crawler does to a hostile site
        finally:
            with self._lock:
                self._connections.discard(sock)
            sock.close()

    def _is_tls(self, sock: socket.socket) -> bool:
        sock.settimeout(5)
        first = sock.recv(1, socket.MSG_PEEK)
        sock.settimeout(None)
        return bool(first) and first[0] == _TLS_HANDSHAKE

    def _answer_tls(self, connection: _Connection) -> None:
        with self._lock:
            self.tls_handshakes += 1
        if self.tls == "hang":
            connection.hold()
        elif self.tls == "garbage":
            connection.send(random.Random(7).randbytes(4096))
            connection.hold()

    def _dispatch(self, connection: _Connection, target: str) -> bool:
        path = target.split("?", 1)[0]
        with self._lock:
            self.hits[path] += 1
        if path == "/" and self.home:
            path = self.home
        for prefix, handler in _ROUTES:
            if path == prefix or path.startswith(prefix + "/"):
                return handler(self, connection, path)
        return _not_found(self, connection, path)

    def record(self, path: str, started: float, sent: int = 0) -> None:
        with self._lock:
            self.hangups.setdefault(path, []).append(time.monotonic() - started)
            self.sent[path] += sent


class _Connection:
    """One client connection: read request heads, write bytes, wait for the hang-up."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self.sock, self.stop = sock, stop
        self._buffer = b""

    def read_request(self) -> str | None:
        """The request target of the next request, or None when the client is gone."""
        while b"\r\n\r\n" not in self._buffer:
            if len(self._buffer) > _MAX_HEAD or not (data := self.sock.recv(_CHUNK)):
                return None
            self._buffer += data
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        return parts[1].decode("latin-1") if len(parts) == 3 else None

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def respond(
        self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8", **headers
    ) -> None:
        fields = {"Content-Type": content_type, "Content-Length": str(len(body)), **headers}
        self.send(head(status, fields) + body)

    def drip(self, data: Iterator[bytes], interval: float) -> None:
        """Send `data` piece by piece, one every `interval`, until it ends or the client leaves."""
        for piece in data:
            if self.closed_within(interval):
                return
            self.send(piece)

    def closed_within(self, seconds: float) -> bool:
        """Wait `seconds`; True as soon as the client hangs up (or the server stops)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.stop.is_set():
                return True
            readable, _, _ = select.select([self.sock], [], [], min(left, 0.1))
            if readable and not self.sock.recv(_CHUNK):  # what it says goes unanswered
                return True
        return False

    def hold(self) -> None:
        """Say nothing until the client hangs up or the server stops."""
        while not self.closed_within(60):
            pass


def head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} Hostile\r\n"] + [f"{k}: {v}\r\n" for k, v in headers.items()]
    return "".join(lines).encode("latin-1") + b"\r\n"


def page(title: str, text: str, links: Sequence[str] = ()) -> bytes:
    anchors = "".join(f'<li><a href="{escape(link)}">{escape(link)}</a></li>' for link in links)
    return (
        f"<!DOCTYPE html><html><head><title>{escape(title)}</title></head><body>"
        f"<h1>{escape(title)}</h1><p>{escape(text)}</p><ul>{anchors}</ul></body></html>"
    ).encode()


# --- routes ------------------------------------------------------------------------------------


def _home(site: HostileSite, connection: _Connection, path: str) -> bool:
    connection.respond(200, page("Hostile Widgets", f"Write to {HOME_EMAIL}", site.links))
    return False


def _page(site: HostileSite, connection: _Connection, path: str) -> bool:
    connection.respond(200, page(path, f"Sales: {PAGE_EMAIL}"))
    return False


def _not_found(site: HostileSite, connection: _Connection, path: str) -> bool:
    connection.respond(404, page("Not found", path))
    return False


def _drip(site: HostileSite, connection: _Connection, path: str) -> bool:
    started = time.monotonic()
    try:
        if path == "/drip/head":
            trickle = head(200, {"Content-Type": "text/html", "Content-Length": "100"})
            pieces = (trickle[i : i + 1] for i in range(len(trickle)))
            # Then never the blank line that ends the head: the client must give up on its own.
            connection.drip(_then_forever(pieces, b"X-Slow: yes\r\n"), site.drip_interval)
        else:
            fields = {"Content-Type": "text/html", "Content-Length": "1000000"}
            connection.send(head(200, fields))
            connection.drip(_then_forever(iter([b"<html><body>"]), b" "), site.drip_interval)
    finally:
        site.record(path, started)
    return False


def _then_forever(first: Iterator[bytes], then: bytes) -> Iterator[bytes]:
    yield from first
    while True:
        yield then


def _silent(site: HostileSite, connection: _Connection, path: str) -> bool:
    started = time.monotonic()
    try:
        connection.hold()
    finally:
        site.record(path, started)
    return False


def _bomb(site: HostileSite, connection: _Connection, path: str) -> bool:
    encoding = path.rsplit("/", 1)[1]
    connection.respond(200, bombs()[encoding], **{"Content-Encoding": encoding})
    return False


@functools.cache
def bombs() -> dict[str, bytes]:
    """:data:`BOMB_SIZE` zeros in each encoding, compressed chunk by chunk (never all at once).

    A full flush makes the deflate blocks of one MiB of zeros independent of what came before,
    so gzip and deflate repeat them; only their checksums see the whole gibibyte (about 1 s).
    """
    zeros = bytes(1 << 20)
    count = BOMB_SIZE // len(zeros)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    deflated = block * count + compressor.flush()  # and the final, empty block
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    adler = (BOMB_SIZE % 65521) << 16 | 1  # Adler-32 of n zero bytes
    gzip_head = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    brotli_compressor, zstd_compressor = brotli.Compressor(quality=1), zstd.ZstdCompressor()
    brotli_pieces = [brotli_compressor.process(zeros) for _ in range(count)]
    zstd_pieces = [zstd_compressor.compress(zeros) for _ in range(count)]
    return {
        "gzip": gzip_head + deflated + struct.pack("<II", crc, BOMB_SIZE % 2**32),
        "deflate": b"\x78\x9c" + deflated + struct.pack(">I", adler),
        "br": b"".join(brotli_pieces) + brotli_compressor.finish(),
        "zstd": b"".join(zstd_pieces) + zstd_compressor.flush(),
    }


def _length(site: HostileSite, connection: _Connection, path: str) -> bool:
    body = page("Lying length", f"Sales: {PAGE_EMAIL}")
    kind = path.rsplit("/", 1)[1]
    if kind == "long":
        fields = {"Content-Type": "text/html", "Content-Length": str(len(body) * 100)}
        connection.send(head(200, fields) + body)
        return False
    if kind == "short":
        # The tail of the page arrives where the client expects its next response.
        fields = {"Content-Type": "text/html", "Content-Length": "20"}
        connection.send(head(200, fields) + body)
        return True
    started = time.monotonic()
    try:
        fields = {"Content-Type": "text/html", "Content-Length": str(10**12)}
        connection.send(head(200, fields) + body)
        connection.drip(_then_forever(iter(()), b" " * 1024), 0.05)
    finally:
        site.record(path, started, len(body))
    return False


def _big(site: HostileSite, connection: _Connection, path: str) -> bool:
    started, sent = time.monotonic(), 0
    block = (b"<p>" + b"Widgets for every purpose. " * 40 + b"</p>\n") * 50
    count = BIG_SIZE // len(block) + 1
    kind = path.removeprefix("/big").lstrip("/")
    fields = {"Content-Type": "text/html"}
    if kind == "chunked":
        fields["Transfer-Encoding"] = "chunked"
        block = b"%x\r\n%s\r\n" % (len(block), block)
    elif kind != "close":
        fields["Content-Length"] = str(count * len(block))
    try:
        connection.send(head(200, fields))
        for _ in range(count):
            if site.stopping:
                break
            connection.send(block)
            sent += len(block)
        if kind == "chunked":
            connection.send(b"0\r\n\r\n")
    finally:
        site.record(path, started, sent)
    return False


def _redirect(site: HostileSite, connection: _Connection, path: str) -> bool:
    if path.startswith("/redirect/chain/"):
        number = int(path.rsplit("/", 1)[1] or 0)
        location = f"/redirect/chain/{number + 1}"
    else:
        location = "/redirect/loop/b" if path.endswith("/a") else "/redirect/loop/a"
    connection.respond(302, b"", Location=location)
    return False


def _maze(site: HostileSite, connection: _Connection, path: str) -> bool:
    rng = random.Random(path)
    if path.startswith("/maze/words/"):
        letters = "abcdefghijklmnopqrstuvwxyz"
        links = ["/maze/words/" + "".join(rng.choices(letters, k=12)) for _ in range(MAZE_LINKS)]
    else:
        links = [f"/maze/{rng.getrandbits(128):032x}" for _ in range(MAZE_LINKS)]
    connection.respond(200, page("Maze", f"Sales: {PAGE_EMAIL}", links))
    return False


def _status(site: HostileSite, connection: _Connection, path: str) -> bool:
    code = int(path.split("/")[2])
    headers = {"Retry-After": site.retry_after} if site.retry_after is not None else {}
    connection.respond(code, page(f"Error {code}", "Please try again later."), **headers)
    return False


def _robots(site: HostileSite, connection: _Connection, path: str) -> bool:
    if site.robots is None:
        return _not_found(site, connection, path)
    if site.robots == "garbage":
        body = random.Random(11).randbytes(64 * 1024)
        connection.respond(200, body, "text/plain")
    elif site.robots == "huge":
        connection.respond(200, huge_robots(), "text/plain")
    else:  # giant: streamed, never held in memory
        _stream_rules(site, connection, path, GIANT_ROBOTS_SIZE)
    return False


@functools.cache
def huge_robots() -> bytes:
    """:data:`HUGE_ROBOTS_SIZE` of rules: the first forbids :data:`FORBIDDEN_PATH`, the last
    :data:`BEYOND_PATH` (past the 500 KiB a crawler must read, RFC 9309)."""
    rules = [f"User-agent: *\nDisallow: {FORBIDDEN_PATH}\n".encode()]
    size, number = len(rules[0]), 0
    while size < HUGE_ROBOTS_SIZE:
        rule = b"Disallow: /archive/%d/*.pdf$\n" % number
        rules.append(rule)
        size, number = size + len(rule), number + 1
    rules.append(f"Disallow: {BEYOND_PATH}\n".encode())
    return b"".join(rules)


def _stream_rules(site: HostileSite, connection: _Connection, path: str, size: int) -> None:
    started, sent = time.monotonic(), 0
    block = b"".join(b"Disallow: /archive/%06d/\n" % n for n in range(2000))
    fields = {"Content-Type": "text/plain", "Content-Length": str(size)}
    try:
        connection.send(head(200, fields) + b"User-agent: *\n")
        while sent < size and not site.stopping:
            connection.send(block)
            sent += len(block)
    finally:
        site.record(path, started, sent)


def _junk(site: HostileSite, connection: _Connection, path: str) -> bool:
    connection.respond(200, junk(path.rsplit("/", 1)[1]), "text/html")
    return False


@functools.cache
def junk(kind: str) -> bytes:
    rng = random.Random(kind)
    if kind == "random":
        return rng.randbytes(512 * 1024)
    if kind == "png":
        return (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x04\x00\x00\x00\x04\x00\x08\x02"
            + rng.randbytes(256 * 1024)
        )
    if kind == "longline":
        word = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789.-_", k=4096))
        return (f"<html><body><p>{word * 512}</p></body></html>").encode()  # 2 MiB, no space
    return (b"<div>" * NESTING) + NESTED_EMAIL.encode() + (b"</div>" * NESTING)


_ROUTES: tuple[tuple[str, Handler], ...] = (
    ("/page", _page),
    ("/drip", _drip),
    ("/silent", _silent),
    ("/bomb", _bomb),
    ("/length", _length),
    ("/big", _big),
    ("/redirect", _redirect),
    ("/maze", _maze),
    ("/status", _status),
    ("/robots.txt", _robots),
    ("/junk", _junk),
    ("/", _home),
)
