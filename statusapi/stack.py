"""`make run`: migrate the database, start scrapyd and the status API, stop both on Ctrl-C."""

from __future__ import annotations

import configparser
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from emailscan import db

ROOT = Path.cwd()  # the checkout: etc/scrapyd.conf, and var/ for the database and scrapyd
STARTUP_SECONDS = 30


def main() -> int:
    environ = _stack_environment(os.environ)
    engine = db.make_engine(environ["DATABASE_URL"])
    db.upgrade(engine)
    engine.dispose()
    scrapyd_url = environ["SCRAPYD_URL"].split(",")[0].rstrip("/")
    start_scrapyd = environ.get("SCRAPYD_START", "1") != "0"
    _check_free(environ["HOST"], int(environ["PORT"]), "PORT")
    if start_scrapyd:
        parts = urlsplit(scrapyd_url)
        _check_free(parts.hostname or "127.0.0.1", parts.port or 6800, "SCRAPYD_URL")
    # Started in the background by a script, SIGINT may arrive ignored: Ctrl-C must still work.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    processes = []
    try:
        if start_scrapyd:
            processes.append(_start_scrapyd(scrapyd_url, environ))
            _wait_for(f"{scrapyd_url}/daemonstatus.json", "scrapyd", processes[-1])
        api_url = f"http://{environ['HOST']}:{environ['PORT']}"
        api = subprocess.Popen([sys.executable, "-m", "statusapi.serve"], env=environ)
        processes.append(api)
        _wait_for(f"{api_url}/api/v3/health", "the status API", api)
        _print_banner(api_url, scrapyd_url, environ["DATABASE_URL"])
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        print("A service stopped; shutting down.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(processes)


def _stack_environment(environ) -> dict[str, str]:
    """The environment both services get: one database, absolute, so crawls find it too."""
    environ = dict(environ)
    url = db.database_url(environ.get("DATABASE_URL"))
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = f"sqlite:///{ROOT / url.removeprefix('sqlite:///')}"
    environ["DATABASE_URL"] = url
    environ.setdefault("SCRAPYD_URL", "http://127.0.0.1:6800")
    environ.setdefault("HOST", "127.0.0.1")
    environ.setdefault("PORT", "8000")
    environ["PYTHONUNBUFFERED"] = "1"
    return environ


def _check_free(host: str, port: int, setting: str) -> None:
    with socket.socket() as probe:
        if probe.connect_ex((host, port)) == 0:
            raise SystemExit(
                f"{host}:{port} is already in use: stop what runs there or set {setting}"
            )


def _start_scrapyd(url: str, environ: dict[str, str]) -> subprocess.Popen:
    """scrapyd with etc/scrapyd.conf, its port from SCRAPYD_URL, its files under var/scrapyd."""
    home = ROOT / "var" / "scrapyd"
    home.mkdir(parents=True, exist_ok=True)
    config = configparser.ConfigParser()
    config.read(ROOT / "etc" / "scrapyd.conf")
    parts = urlsplit(url)
    config["scrapyd"]["bind_address"] = parts.hostname or "127.0.0.1"
    config["scrapyd"]["http_port"] = str(parts.port or 6800)
    config["scrapyd"]["max_proc"] = environ.get("SCRAPYD_MAX_PROC", config["scrapyd"]["max_proc"])
    for option in ("logs_dir", "eggs_dir", "dbs_dir"):
        config["scrapyd"][option] = str(home / config["scrapyd"][option])
    for name in ("scrapyd.conf", "scrapy.cfg"):
        # scrapyd checks spider names with `scrapy list`, and Scrapy reads the [settings]
        # section only from a scrapy.cfg: the same file under both names.
        with open(home / name, "w") as file:
            config.write(file)
    scrapyd = Path(sys.executable).with_name("scrapyd")
    environ = {k: v for k, v in environ.items() if k != "SCRAPY_SETTINGS_MODULE"}
    with open(home / "scrapyd.log", "ab") as log:
        return subprocess.Popen(
            [str(scrapyd), "--pidfile="], cwd=home, env=environ, stdout=log, stderr=log
        )


def _wait_for(url: str, name: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited during start-up (code {process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{name} did not answer at {url} within {STARTUP_SECONDS} s")


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in reversed(processes):
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _print_banner(api_url: str, scrapyd_url: str, database_url: str) -> None:
    print(
        f"""
emailscan is running
  status API  {api_url}/api/v3  (OpenAPI: {api_url}/api/v3/openapi.json)
  scrapyd     {scrapyd_url}
  database    {database_url}

Try it:
  curl -s -X POST {api_url}/api/v3/scan/website \\
       -H 'Content-Type: application/json' -d '{{"domain": "example.com"}}'
  curl -s {api_url}/api/v3/scan/status/<job_id>

Ctrl-C stops both.
""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
