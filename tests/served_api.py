"""`python -m statusapi.serve` as `make run` starts it (two workers sharing one socket), on a
random loopback port, logging to a file; it can be killed and started again on the same port."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import requests

from tests.scrapyd_server import free_port

STARTUP_SECONDS = 30
LOG_ALARMS = ("Traceback", "Unhandled", "database is locked", "deadlock")


class ServedApi:
    def __init__(self, directory: Path, environ: Mapping[str, str]):
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "api.log"
        self.environ = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "API_WORKERS": "2",
            "PYTHONUNBUFFERED": "1",
            **environ,
        }
        self.process: subprocess.Popen | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alarms(self) -> list[str]:
        return alarms(self.log())

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "statusapi.serve"],
                cwd=self.directory,
                env=self.environ,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # kill() takes its workers with it, as a crash would
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited during start-up:\n{self.log()}")
            with contextlib.suppress(requests.RequestException):
                requests.get(f"{self.url}/api/v3/health", timeout=1)  # 503 without scrapyd
                return
            time.sleep(0.1)
        raise RuntimeError(f"the API did not answer within {STARTUP_SECONDS} s:\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM, as an operator stops it."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the API and its workers: no chance to clean up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def alarms(log: str) -> list[str]:
    """The lines of a log that tell of a bug: a traceback, a locked or deadlocked database."""
    return [line for line in log.splitlines() if any(alarm in line for alarm in LOG_ALARMS)]


@contextlib.contextmanager
def served_api(directory: Path, environ: Mapping[str, str]) -> Iterator[ServedApi]:
    api = ServedApi(directory, environ)
    api.start()
    try:
        yield api
    finally:
        api.stop()
