"""Many small company websites at once, for load tests: site N answers on loopback address
127.0.0.(N+2), all on one port, so each is a distinct host and a distinct domain key.

Linux routes all of 127.0.0.0/8 to the loopback interface, so nothing leaves the machine. One
asyncio event loop in a daemon thread serves every site from pre-rendered bytes (HTTP/1.1
keep-alive, GET and HEAD): 200 listening sockets cost no more than one.

Each site has a home page linking to /about/ and /contact/; the contact page carries the site's
one planted address, :attr:`Site.email`. /robots.txt allows everything; anything else is 404.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import ipaddress
import socket
import threading
from types import TracebackType

FIRST_ADDRESS = ipaddress.IPv4Address("127.0.0.2")
MAX_SITES = 250  # 127.0.0.2 .. 127.0.0.251
BIND_ATTEMPTS = 20


@dataclasses.dataclass(frozen=True)
class Site:
    number: int
    address: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    @property
    def email(self) -> str:
        return f"office@company-{self.number:03d}.com"


def _response(status: str, body: bytes, content_type: str = "text/html; charset=utf-8") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nServer: many-sites\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


NOT_FOUND = _response("404 Not Found", b"<html><body><h1>Not found</h1></body></html>")


def _pages(site: Site) -> dict[bytes, bytes]:
    name = f"Company {site.number:03d}"
    home = (
        f"<html><head><title>{name}</title></head><body><h1>{name}</h1>"
        "<p>Widgets, made with care since 1999.</p>"
        '<nav><a href="/about/">About us</a> <a href="/contact/">Contact</a></nav></body></html>'
    )
    about = (
        f"<html><head><title>About {name}</title></head><body><h1>About us</h1>"
        '<p>A small team that makes widgets.</p><a href="/">Home</a></body></html>'
    )
    contact = (
        f"<html><head><title>Contact {name}</title></head><body><h1>Contact</h1>"
        f'<p>Write to us: <a href="mailto:{site.email}">{site.email}</a></p>'
        '<a href="/">Home</a></body></html>'
    )
    pages = {"/": home, "/about/": about, "/contact/": contact}
    responses = {path.encode(): _response("200 OK", body.encode()) for path, body in pages.items()}
    robots = b"User-agent: *\nAllow: /\n"
    responses[b"/robots.txt"] = _response("200 OK", robots, "text/plain; charset=utf-8")
    return responses


class _Http(asyncio.Protocol):
    """Just enough HTTP/1.1 for requests without bodies: look the path up, write the bytes."""

    def __init__(self, sites: ManySites, address: str):
        self.sites = sites
        self.address = address
        self.responses = sites.responses[address]
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) != -1:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            self._answer(head)

    def _answer(self, head: bytes) -> None:
        method, _, rest = head.split(b"\r\n", 1)[0].partition(b" ")
        path = rest.split(b" ", 1)[0].split(b"?", 1)[0] or b"/"
        self.sites.requests[self.address].append(path.decode("latin-1"))
        payload = self.responses.get(path, NOT_FOUND)
        if method == b"HEAD":
            payload = payload[: payload.find(b"\r\n\r\n") + 4]
        self.transport.write(payload)
        if b"connection: close" in head.lower():
            self.transport.close()


class ManySites:
    """`count` sites on 127.0.0.2, 127.0.0.3, ... and one shared free port, while in `with`.

    ``requests[address]`` lists the paths each site was asked for, in order.
    """

    def __init__(self, count: int):
        if not 0 < count <= MAX_SITES:
            raise ValueError(f"between 1 and {MAX_SITES} sites, not {count}")
        self.count = count
        self.sites: list[Site] = []
        self.responses: dict[str, dict[bytes, bytes]] = {}
        self.requests: dict[str, list[str]] = collections.defaultdict(list)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="many-sites")
        self._servers: list[asyncio.Server] = []

    def __enter__(self) -> ManySites:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=30)
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop()

    async def _listen(self) -> None:
        """Bind every address on one port; another port when one is taken on some address."""
        addresses = [str(FIRST_ADDRESS + number) for number in range(self.count)]
        for _ in range(BIND_ATTEMPTS):
            port = _free_port(addresses[0])
            sites = [Site(number, address, port) for number, address in enumerate(addresses)]
            try:
                for site in sites:
                    self._servers.append(await self._serve(site))
            except OSError:
                await self._close_servers()
                continue
            self.sites = sites
            return
        raise RuntimeError(f"no port was free on all of {addresses[0]}..{addresses[-1]}")

    async def _serve(self, site: Site) -> asyncio.Server:
        self.responses[site.address] = _pages(site)
        return await self._loop.create_server(
            lambda: _Http(self, site.address), site.address, site.port, backlog=128
        )

    async def _close_servers(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
            # Keep-alive connections would hold wait_closed() open; the loop stops anyway.
            with contextlib.suppress(AttributeError):
                server.close_clients()
        for server in servers:
            await server.wait_closed()

    def _stop(self) -> None:
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._close_servers(), self._loop).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread.is_alive():
            self._thread.join()
        self._loop.close()


def _free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]
