"""The API's configuration keys, their defaults, and how they are read from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,  # None: emailscan.db's default (SQLite under ./var)
    "SCRAPYD_URL": "http://127.0.0.1:6800",  # one URL or several, comma-separated
    "SCRAPYD_USERNAME": None,
    "SCRAPYD_PASSWORD": None,
    "SCRAPYD_PROJECT": "emailscan",
    "SCRAPYD_TIMEOUT": 5.0,  # seconds, every scrapyd call
    "SCRAPYD": None,  # a ready ScrapydNodes or client (tests pass a fake)
    "RESOLVE": None,  # getaddrinfo-like callable for the SSRF pre-check; None: the system's
    "ALLOW_PRIVATE_NETWORKS": False,
    "CORS_ORIGINS": "",  # comma-separated frontend origins
    "PENDING_GRACE": 30.0,  # seconds a job may stay PENDING before scrapyd is asked about it
    # Crawls write a heartbeat every 2 s (EMAILSCAN_PROGRESS_INTERVAL). Three missed: ask scrapyd
    # whether the crawl still runs (closed FAILED if not); silent for HUNG_TIMEOUT: failed anyway.
    "HEARTBEAT_TIMEOUT": 6.0,
    "HUNG_TIMEOUT": 180.0,  # above a crawl's EMAILSCAN_DB_RETRY_SECONDS (60)
    "RECONCILE_INTERVAL": 3.0,  # at most one scrapyd check per job per this many seconds
    "AUTH_CACHE_SECONDS": 5.0,  # how long "are there API keys" and key lookups are cached
    "REAPER_INTERVAL": 5.0,  # closes dead crawls' jobs that nobody polls
    "HOST": "127.0.0.1",
    "PORT": 8000,
    "API_THREADS": 8,  # waitress threads per worker process
    "API_WORKERS": 2,  # processes sharing the listening socket
    "MAX_CONTENT_LENGTH": 64 * 1024,  # request bodies are tiny
}

_STRINGS = (
    "DATABASE_URL",
    "SCRAPYD_URL",
    "SCRAPYD_USERNAME",
    "SCRAPYD_PASSWORD",
    "SCRAPYD_PROJECT",
    "CORS_ORIGINS",
    "HOST",
)
_FLOATS = (
    "SCRAPYD_TIMEOUT",
    "PENDING_GRACE",
    "HEARTBEAT_TIMEOUT",
    "HUNG_TIMEOUT",
    "RECONCILE_INTERVAL",
    "AUTH_CACHE_SECONDS",
    "REAPER_INTERVAL",
)
_INTEGERS = ("PORT", "API_THREADS", "API_WORKERS")
_BOOLEANS = ("ALLOW_PRIVATE_NETWORKS",)
_TRUE = ("1", "true", "yes", "on")


def config_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """The configuration from environment variables named like the keys; unset ones default."""
    config = dict(DEFAULTS)
    for name in _STRINGS:
        if environ.get(name):
            config[name] = environ[name]
    for names, parse in ((_FLOATS, float), (_INTEGERS, int), (_BOOLEANS, _boolean)):
        for name in names:
            if environ.get(name):
                config[name] = _parsed(name, environ[name], parse)
    return config


def _parsed(name: str, text: str, parse) -> Any:
    try:
        return parse(text.strip())
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a valid {parse.__name__.lstrip('_')}") from None


def _boolean(text: str) -> bool:
    if text.lower() not in (*_TRUE, "0", "false", "no", "off"):
        raise ValueError(text)
    return text.lower() in _TRUE


def is_true(value: Any) -> bool:
    """Config values may be booleans or the strings an environment gives."""
    return value is True or str(value).strip().lower() in _TRUE
