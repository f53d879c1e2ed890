"""An asyncio HTTP/1.1 load client: keep-alive connections, closed loop or a fixed offered rate.

At a fixed rate, request k is due at start + k/rate and its latency is counted from then (as
wrk2 does), so a server that falls behind shows it in the percentiles instead of hiding it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import resource
import time
from collections.abc import Sequence


@dataclasses.dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]  # seconds, successful requests only
    bytes: int
    client_cpu: float  # CPU seconds this process spent, as a share of the wall time

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


class _Run:
    def __init__(self, paths: Sequence[str], duration: float, rate: float | None, timeout: float):
        self.paths = itertools.cycle(paths)
        self.rate = rate
        self.timeout = timeout
        self.slots = itertools.count()
        self.start = time.perf_counter()
        self.deadline = self.start + duration
        self.latencies: list[float] = []
        self.requests = self.errors = self.bytes = 0

    def next_due(self) -> float:
        if self.rate is None:
            return time.perf_counter()
        return self.start + next(self.slots) / self.rate


async def _exchange(reader, writer, request: bytes) -> tuple[int, int]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status, len(head) + length


async def _connection(run: _Run, host: str, port: int, extra_headers: bytes) -> None:
    reader = writer = None
    while True:
        due = run.next_due()
        if due >= run.deadline:
            break
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        request = f"GET {next(run.paths)} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
            status, size = await asyncio.wait_for(
                _exchange(reader, writer, request + extra_headers + b"\r\n"), run.timeout
            )
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            run.requests += 1
            run.errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        run.requests += 1
        run.bytes += size
        if status == 200:
            run.latencies.append(time.perf_counter() - due)
        else:
            run.errors += 1
    if writer is not None:
        writer.close()


async def _load(host, port, paths, connections, duration, rate, timeout, headers) -> LoadResult:
    run = _Run(paths, duration, rate, timeout)
    cpu = _cpu_seconds()
    await asyncio.gather(*(_connection(run, host, port, headers) for _ in range(connections)))
    seconds = time.perf_counter() - run.start
    return LoadResult(
        run.requests,
        run.errors,
        seconds,
        run.latencies,
        run.bytes,
        (_cpu_seconds() - cpu) / seconds,
    )


def run_load(
    host: str,
    port: int,
    paths: Sequence[str],
    connections: int = 32,
    duration: float = 10.0,
    rate: float | None = None,
    timeout: float = 5.0,
    headers: bytes = b"",
) -> LoadResult:
    """GET `paths` round-robin over keep-alive connections for `duration` seconds."""
    return asyncio.run(_load(host, port, paths, connections, duration, rate, timeout, headers))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
