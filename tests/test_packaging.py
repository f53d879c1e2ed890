"""The egg that scrapyd-deploy builds runs under scrapyd: settings entry point and migrations."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import requests

from emailscan import store
from emailscan.models import TaskStatus
from tests.fixture_site import EXPECTED_EMAILS, FixtureSite
from tests.scrapyd_server import scrapyd_server

ROOT = Path(__file__).resolve().parent.parent
_NOT_SOURCE = (".venv", ".git", "var", "build", "*.egg-info", "__pycache__")


@pytest.fixture(scope="module")
def egg(tmp_path_factory) -> zipfile.ZipFile:
    # Build from a copy so the build/ and egg-info/ leftovers stay out of the work tree.
    source = tmp_path_factory.mktemp("src") / "emailscan"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    path = source / "emailscan.egg"
    deploy = Path(sys.executable).with_name("scrapyd-deploy")
    subprocess.run(
        [str(deploy), "--build-egg", str(path)],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=120,
    )
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_egg_has_the_scrapy_settings_entry_point(egg):
    entry_points = egg.read("EGG-INFO/entry_points.txt").decode()
    assert "[scrapy]\nsettings = emailscan.settings" in entry_points


def test_egg_carries_the_migrations(egg):
    names = set(egg.namelist())
    for required in (
        "emailscan/migrations/env.py",
        "emailscan/migrations/script.py.mako",
        "emailscan/migrations/versions/0001_initial.py",
        "emailscan/settings.py",
        "statusapi/__init__.py",
    ):
        assert required in names


@pytest.mark.databases("sqlite")
def test_scrapyd_deploy_egg_runs_under_scrapyd(tmp_path, engine, database_url):
    """The production path: scrapyd-deploy uploads the egg, and scrapyd crawls with it."""
    source = tmp_path / "checkout"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    environ = {"DATABASE_URL": database_url, "ALLOW_PRIVATE_NETWORKS": "1"}
    with scrapyd_server(env=environ) as server, FixtureSite() as site:
        (source / "scrapy.cfg").write_text(
            f"[settings]\ndefault = emailscan.settings\n\n"
            f"[deploy:test]\nurl = {server.url}/\nproject = deployed\n"
        )
        deploy = Path(sys.executable).with_name("scrapyd-deploy")
        subprocess.run([str(deploy), "test"], cwd=source, check=True, timeout=120)
        spiders = requests.get(f"{server.url}/listspiders.json?project=deployed", timeout=10)
        assert spiders.json()["spiders"] == ["emails"]

        job, _ = store.start_scan(engine, store.get_or_create_domain(engine, "fixture"))
        scheduled = requests.post(
            f"{server.url}/schedule.json",
            data={
                "project": "deployed",
                "spider": "emails",
                "domain": site.url,
                "job_id": str(job.id),
                "jobid": str(job.id),
            },
            timeout=10,
        ).json()
        assert scheduled["status"] == "ok", scheduled
        deadline = time.monotonic() + 60
        while not store.get_job(engine, job.id).status.finished and time.monotonic() < deadline:
            time.sleep(0.2)
    done = store.get_job(engine, job.id)
    assert done.status is TaskStatus.COMPLETE, server.log()
    assert {entry["email"] for entry in done.result_data["emails"]} == EXPECTED_EMAILS
