"""A test-only network for crawl processes: a fixed DNS table and a gate on every connect().

``python -m tests.ssrf_netstub CONFIG.json ARGS...`` installs both and then runs Scrapy's own
command line with ARGS (``crawl emails -a domain=... -s NAME=VALUE``): a real ``scrapy crawl``
of the project, whose every name lookup and TCP connection goes through here.
``tests/test_ssrf_crawl.py`` calls :func:`install` itself before its probe crawls.

* DNS: ``socket.getaddrinfo`` (and ``gethostbyname``) answer the names of ``dns`` from the
  table, successive answers one after the other (DNS rebinding), then the last one again;
  IP literals are parsed with ``AI_NUMERICHOST``; any other name fails. No DNS query is
  ever sent. Every host asked about is appended to ``lookups_file``.
* connect: every ``AF_INET``/``AF_INET6`` ``connect()``/``connect_ex()`` is appended to
  ``attempts_file`` as ``[host, port]`` BEFORE anything else happens, then it goes to the
  ``routes`` entry for that address (the test's "public" site on 127.0.0.1), else to the
  ``sink`` (a loopback server that counts what reaches it: the stand-in for every private
  target), else it is refused with ``ECONNREFUSED``. So nothing but loopback is ever
  connected to, however broken the guard under test is, and a broken guard shows up as
  attempts and as connections counted by the sink.

Installed before Scrapy and Twisted are imported: Twisted's ``GAIResolver`` binds
``getaddrinfo`` when it is imported.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import socket
import sys
from pathlib import Path
from typing import Any

__all__ = ["install", "main"]

Address = tuple[str, int]


def _canonical(host: str) -> str:
    """``::FFFF:127.0.0.1`` and ``::ffff:7f00:1`` are one address; names stay as they are."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).compressed
    except ValueError:
        return host


def _for_family(family: int, address: Address) -> tuple[Any, ...]:
    """The sockaddr of *address* for a socket of *family* (IPv4 via IPv4-mapped IPv6)."""
    host, port = address
    if family == socket.AF_INET6:
        if ":" not in host:
            host = f"::ffff:{host}"
        return (host, port, 0, 0)
    return (host, port)


class _Gate:
    def __init__(self, config: dict[str, Any]):
        self.routes: dict[Address, Address] = {
            (_canonical(host), port): (to_host, to_port)
            for host, port, to_host, to_port in config.get("routes", [])
        }
        sink = config.get("sink")
        self.sink: Address | None = (sink[0], sink[1]) if sink else None
        # Line-buffered: the crawl may end in sys.exit() or a crash, the lines are there.
        self.attempts = open(config["attempts_file"], "a", buffering=1)  # noqa: SIM115

    def destination(self, sock: socket.socket, address: Any) -> Any:
        """Where a connect() of *sock* to *address* really goes; ``None``: refuse it."""
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return address  # AF_UNIX: the reactor's waker, never the network
        host, port = address[0], address[1]
        self.attempts.write(json.dumps([host, port]) + "\n")
        target = self.routes.get((_canonical(host), port)) or self.sink
        return _for_family(sock.family, target) if target else None


class _Resolver:
    def __init__(self, config: dict[str, Any]):
        self.table: dict[str, list[list[str]]] = config.get("dns", {})
        self.answered: dict[str, int] = {}
        self.lookups = open(config["lookups_file"], "a", buffering=1)  # noqa: SIM115

    def answer(self, host: str) -> list[str] | None:
        name = host.lower().rstrip(".")
        if name not in self.table:
            return None
        answers = self.table[name]
        count = self.answered[name] = self.answered.get(name, 0) + 1
        return answers[min(count, len(answers)) - 1]


def install(config: dict[str, Any]) -> None:
    """Replace name resolution and connect() in this process, as the module docstring says."""
    if "twisted.internet._resolver" in sys.modules:
        raise RuntimeError("install the network stubs before Twisted is imported")
    gate = _Gate(config)
    resolver = _Resolver(config)
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def fake_getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002
        if isinstance(host, bytes):
            host = host.decode()
        if host:
            resolver.lookups.write(json.dumps(host) + "\n")
        addresses = resolver.answer(host) if host else None
        if addresses is None:
            # IP literals only: with AI_NUMERICHOST a name fails, unlooked-up.
            flags |= socket.AI_NUMERICHOST
            return real_getaddrinfo(host, port, family, type, proto, flags)
        infos = []
        for address in addresses:
            af = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family in (0, af):
                infos.append((af, socket.SOCK_STREAM, 6, "", _for_family(af, (address, port or 0))))
        if not infos:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return infos

    def fake_gethostbyname(host):
        return fake_getaddrinfo(host, 0, socket.AF_INET)[0][4][0]

    def connect(self, address):
        target = gate.destination(self, address)
        if target is None:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "refused by the test's connect gate")
        return real_connect(self, target)

    def connect_ex(self, address):
        target = gate.destination(self, address)
        if target is None:
            return errno.ECONNREFUSED
        return real_connect_ex(self, target)

    socket.getaddrinfo = fake_getaddrinfo
    socket.gethostbyname = fake_gethostbyname
    socket.gethostbyname_ex = lambda host: (host, [], [fake_gethostbyname(host)])
    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex


def main(argv: list[str]) -> None:
    install(json.loads(Path(argv[1]).read_text()))
    from scrapy.cmdline import execute  # only now: see the module docstring

    execute(["scrapy", *argv[2:]])


if __name__ == "__main__":
    main(sys.argv)
