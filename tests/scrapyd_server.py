"""A real scrapyd for tests (its own temp dir, loopback, a free port, stopped on exit), and a
site that never answers, for crawls that must keep running until cancelled."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent

STARTUP_SECONDS = 30

CONFIG = """\
[scrapyd]
bind_address = 127.0.0.1
http_port = {port}
username = {username}
password = {password}
max_proc = {max_proc}
poll_interval = 0.2
eggs_dir = {home}/eggs
logs_dir = {home}/logs
items_dir =
dbs_dir = {home}/dbs
jobs_to_keep = 5
finished_to_keep = 100

[settings]
# The installed project runs without an egg.
emailscan = {settings_module}
"""


@dataclasses.dataclass
class ScrapydServer:
    url: str
    home: Path
    env: Mapping[str, str]
    process: subprocess.Popen | None = None

    def log(self) -> str:
        """scrapyd's own output, to show when a test fails."""
        return (self.home / "scrapyd.out").read_text(errors="replace")

    def start(self, auth: tuple[str, str] | None = None) -> None:
        """Start scrapyd (again): same port, same directories, so its queue survives."""
        self.process = _start(self.home, self.env)
        _wait_until_up(self, auth)

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (an operator's stop) and wait, or SIGKILL (a crash). Its crawls are left."""
        if kill and self.process.poll() is None:
            self.process.kill()
        _stop(self.process)


@contextlib.contextmanager
def scrapyd_server(
    env: Mapping[str, str] | None = None,
    max_proc: int = 2,
    username: str = "",
    password: str = "",
    settings_module: str = "emailscan.settings",
) -> Iterator[ScrapydServer]:
    """Start `scrapyd` (next to sys.executable); `env` goes to it and to its crawl processes.

    `settings_module` is the crawls' settings: `tests.scrapyd_settings` makes them fast.
    """
    with tempfile.TemporaryDirectory(prefix="scrapyd-") as directory:
        home, port = Path(directory), free_port()
        config = CONFIG.format(
            port=port,
            username=username,
            password=password,
            max_proc=max_proc,
            home=home,
            settings_module=settings_module,
        )
        (home / "scrapyd.conf").write_text(config)
        # scrapyd runs `scrapy list` to check spider names, and Scrapy reads [settings] only
        # from scrapy.cfg files, not from scrapyd.conf: give it the same file under that name.
        (home / "scrapy.cfg").write_text(config)
        environ = {**(env or {}), "PYTHONPATH": str(ROOT)}  # crawls can import tests.*
        server = ScrapydServer(f"http://127.0.0.1:{port}", home, environ)
        try:
            server.start((username, password) if username else None)
            yield server
        finally:
            if server.process is not None:
                _stop(server.process)


def _start(home: Path, env: Mapping[str, str]) -> subprocess.Popen:
    environ = {**os.environ, **env}
    environ.pop("SCRAPY_SETTINGS_MODULE", None)  # the [settings] section decides
    with open(home / "scrapyd.out", "ab") as output:
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("scrapyd")), "--pidfile="],
            cwd=home,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def free_port() -> int:
    """A loopback port nothing listens on (until someone takes it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(server: ScrapydServer, auth: tuple[str, str] | None) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"scrapyd exited during start-up:\n{server.log()}")
        try:
            requests.get(f"{server.url}/daemonstatus.json", auth=auth, timeout=1).json()
            return
        except (requests.RequestException, ValueError):
            time.sleep(0.1)
    raise RuntimeError(f"scrapyd did not answer within {STARTUP_SECONDS} s:\n{server.log()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def silent_site():
    """A web server that accepts connections and never answers: a crawl that keeps running."""
    listener = socket.create_server(("127.0.0.1", 0))
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()
