"""The egg that scrapyd-deploy builds runs under scrapyd: settings entry point and migrations."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def egg(tmp_path_factory) -> zipfile.ZipFile:
    # Build from a copy so the build/ and egg-info/ leftovers stay out of the work tree.
    source = tmp_path_factory.mktemp("src") / "emailscan"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".venv", ".git", "var", "build", "*.egg-info", "__pycache__"),
    )
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
