"""Serve generated sites from 127.0.0.1: pre-rendered responses, HTTP/1.1 keep-alive, asyncio.

`python -m bench.site --pages N [--sites K] [--seed S]` generates K sites of N pages, listens on
K free ports and prints one JSON line `{"ports": [...], "pages": N}` once it accepts requests.
`/robots.txt` allows everything; `/__stats` (linked from nowhere) answers the request counters.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from bench.sitegen import build_site

ROBOTS = b"User-agent: *\nAllow: /\n"


def response(status: str, body: bytes, content_type: str = "text/html; charset=utf-8") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nServer: bench\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


NOT_FOUND = response("404 Not Found", b"<html><body>Not found</body></html>")


class Counters:
    def __init__(self) -> None:
        self.requests = 0
        self.not_found = 0
        self.bytes = 0


class HttpProtocol(asyncio.Protocol):
    """Just enough HTTP/1.1 for GET and HEAD without bodies: look the path up, write bytes."""

    def __init__(self, responses: dict[bytes, bytes], counters: Counters):
        self.responses = responses
        self.counters = counters
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) != -1:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            self.answer(head)

    def answer(self, head: bytes) -> None:
        line = head.split(b"\r\n", 1)[0].split(b" ")
        target = line[1].split(b"?", 1)[0] if len(line) > 1 else b"/"
        counters = self.counters
        counters.requests += 1
        if target == b"/__stats":
            payload = response("200 OK", json.dumps(vars(counters)).encode(), "application/json")
        else:
            payload = self.responses.get(target)
            if payload is None:
                counters.not_found += 1
                payload = NOT_FOUND
        counters.bytes += len(payload)
        if line[0] == b"HEAD":
            payload = payload[: payload.find(b"\r\n\r\n") + 4]
        self.transport.write(payload)
        if b"connection: close" in head.lower():
            self.transport.close()


def prerender(pages: dict[str, bytes]) -> dict[bytes, bytes]:
    responses = {path.encode(): response("200 OK", body) for path, body in pages.items()}
    responses[b"/robots.txt"] = response("200 OK", ROBOTS, "text/plain")
    return responses


async def serve(sites: list[dict[bytes, bytes]]) -> None:
    loop = asyncio.get_running_loop()
    counters = Counters()
    servers = []
    for responses in sites:
        servers.append(
            await loop.create_server(
                lambda r=responses: HttpProtocol(r, counters), "127.0.0.1", 0, backlog=1024
            )
        )
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    print(json.dumps({"ports": ports, "pages": len(sites[0]) - 1}), flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, required=True)
    parser.add_argument("--sites", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    sites = [prerender(build_site(args.pages, args.seed + i)) for i in range(args.sites)]
    asyncio.run(serve(sites))


if __name__ == "__main__":
    sys.exit(main())
