"""`make run`'s stack for real: scrapyd and the API on random ports, driven over HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest
import requests

from emailscan import db, store
from tests.crawl import ROOT
from tests.fixture_site import EXPECTED_EMAILS, FixtureSite
from tests.scrapyd_server import free_port

SCAN = "/api/v3/scan/website"


@pytest.fixture
def owners(database_url):
    """Two API keys: with keys the API requires them and keeps owners apart."""
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    keys = {name: store.create_api_key(engine, uuid.uuid4(), name) for name in ("ann", "bob")}
    engine.dispose()
    return keys


@pytest.fixture
def stack(tmp_path, database_url, owners):
    """`python -m statusapi.stack` in a checkout-like directory; stopped with Ctrl-C."""
    shutil.copytree(ROOT / "etc", tmp_path / "etc")
    api_port, scrapyd_port = free_port(), free_port()
    environ = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PORT": str(api_port),
        "SCRAPYD_URL": f"http://127.0.0.1:{scrapyd_port}",
        "ALLOW_PRIVATE_NETWORKS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "statusapi.stack"],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    banner = _read_banner(process)
    url = f"http://127.0.0.1:{api_port}"
    yield url, banner
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    for gone in (f"http://127.0.0.1:{scrapyd_port}/daemonstatus.json", f"{url}/api/v3/health"):
        with pytest.raises(requests.ConnectionError):  # every process went with it
            requests.get(gone, timeout=2)


def _read_banner(process) -> str:
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Ctrl-C stops both"):
            return "".join(lines)
    process.wait()
    raise AssertionError("the stack did not start:\n" + "".join(lines))


def test_scan_through_the_running_stack(stack, owners):
    url, banner = stack
    assert f"curl -s -X POST {url}{SCAN}" in banner
    ann = {"Authorization": f"Bearer {owners['ann']}"}
    bob = {"Authorization": f"Bearer {owners['bob']}"}
    with FixtureSite(delay=0.01) as site:
        assert requests.post(url + SCAN, json={"domain": site.url}, timeout=5).status_code == 401
        accepted = requests.post(url + SCAN, json={"domain": site.url}, headers=ann, timeout=5)
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        assert accepted.headers["Location"].endswith(f"/api/v3/scan/status/{job_id}")

        again = requests.post(url + SCAN, json={"domain": site.url}, headers=ann, timeout=5)
        assert (again.status_code, again.json()["job_id"]) == (200, job_id)
        assert again.json()["deduplicated"] is True

        status_url = f"{url}/api/v3/scan/status/{job_id}"
        assert requests.get(status_url, headers=bob, timeout=5).status_code == 404
        assert requests.post(f"{url}/api/v3/scan/{job_id}/cancel", headers=bob).status_code == 404
        seen = _poll(status_url, ann)

    final = seen[-1]
    assert final["status"] == "COMPLETE"
    assert {entry["email"] for entry in final["result_data"]["emails"]} == EXPECTED_EMAILS
    progress = [body["progress"] for body in seen]
    assert progress == sorted(progress)
    assert all(p < 1.0 for body, p in zip(seen, progress, strict=True) if not body["finished_at"])
    assert any(0 < p < 1 for p in progress)


def _poll(status_url: str, headers: dict, seconds: float = 90) -> list[dict]:
    seen, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = requests.get(status_url, headers=headers, timeout=5)
        assert response.headers["Cache-Control"] == "no-store"
        seen.append(response.json())
        if seen[-1]["finished_at"]:
            return seen
        assert response.headers["Retry-After"]
        time.sleep(0.05)
    raise AssertionError(f"not finished in {seconds} s: {seen[-1]}")
