"""The status API under many pollers: `python -m statusapi.serve` on SQLite and PostgreSQL.

Jobs are seeded with emailscan.store: a RUNNING job with a fresh heartbeat and 20 contacts,
and a COMPLETE one. SCRAPYD_URL names a port where nothing listens: a status poll of a job with
a fresh heartbeat must not ask scrapyd. 64 keep-alive connections poll both jobs, first at a
fixed offered rate (latency counted from when each request was due), then as fast as they can.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from bench import procs
from bench.loadclient import LoadResult, run_load
from bench.report import Figure, target
from emailscan import db, store
from emailscan.models import SYSTEM_USER_ID, TaskStatus
from emailscan.store import Sighting

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RATE = 600  # requests/s offered in the fixed-rate run (the target is p99 < 10 ms at >= 500)
CONNECTIONS = 64


def seed(url: str) -> tuple[uuid.UUID, uuid.UUID]:
    """(running job, complete job), each with 20 contacts seen on a few pages."""
    engine = db.make_engine(url)
    try:
        db.upgrade(engine)
        ids = [
            _seed_job(engine, f"bench-{name}.example", finish)
            for name, finish in (("a", False), ("b", True))
        ]
    finally:
        engine.dispose()
    return ids[0], ids[1]


def _seed_job(engine: sa.Engine, host: str, finish: bool) -> uuid.UUID:
    domain_id = store.get_or_create_domain(engine, host)
    job, _ = store.start_scan(engine, domain_id, SYSTEM_USER_ID, 500)
    assert store.claim_job(engine, job.id)
    sightings = [
        Sighting(f"person{i}@{host}", f"https://{host}/page-{i}-{k}/", "personal", True)
        for i in range(20)
        for k in range(3)
    ]
    store.upsert_contacts(engine, domain_id, job.id, sightings)
    store.record_progress(engine, job.id, 0.4, 120, 20)
    if finish:
        store.finish_job(
            engine, job.id, TaskStatus.COMPLETE, pages_crawled=300, stats={"pages": 300}
        )
    return job.id


@contextlib.contextmanager
def api_server(
    database_url: str, scrapyd_url: str, **env: str
) -> Iterator[tuple[subprocess.Popen, int]]:
    """`python -m statusapi.serve` on a free loopback port: (process, port)."""
    port = procs.free_port()
    environ = procs.base_env(
        DATABASE_URL=database_url, SCRAPYD_URL=scrapyd_url, HOST="127.0.0.1", PORT=str(port), **env
    )
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [procs.PYTHON, "-m", "statusapi.serve"],
            cwd=procs.ROOT,
            env=environ,
            stdout=log,
            stderr=log,
        )
        try:
            procs.wait_http(f"http://127.0.0.1:{port}/api/v3/health", process)
            yield process, port
        finally:
            procs.stop(process)


@contextlib.contextmanager
def postgres_schema() -> Iterator[str | None]:
    """A fresh schema in the `test` database (dropped afterwards); None when unreachable."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        print(f"  PostgreSQL unreachable at {POSTGRES_URL}: {exc.orig}", flush=True)
        admin.dispose()
        yield None
        return
    try:
        url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def load(port: int, paths: list[str], seconds: float, rate: float | None, server_pid: int) -> dict:
    cpu = procs.cpu_seconds(server_pid)
    result: LoadResult = run_load("127.0.0.1", port, paths, CONNECTIONS, seconds, rate=rate)
    return {
        "rate_offered": rate,
        "requests": result.requests,
        "rps": result.rps,
        "errors": result.errors,
        "p50_ms": result.percentile_ms(50),
        "p99_ms": result.percentile_ms(99),
        "max_ms": result.percentile_ms(100),
        "server_cpu_share": (procs.cpu_seconds(server_pid) - cpu) / result.seconds,
        "client_cpu_share": result.client_cpu,
    }


def bench_database(kind: str, url: str, seconds: float) -> dict:
    running, complete = seed(url)
    paths = [f"/api/v3/scan/status/{running}", f"/api/v3/scan/status/{complete}"]
    nowhere = f"http://127.0.0.1:{procs.free_port()}"
    with api_server(url, nowhere) as (server, port):
        run_load("127.0.0.1", port, paths, 8, 1.0)  # warm up: connections, caches
        results = {
            "fixed": load(port, paths, seconds, RATE, server.pid),
            "max": load(port, paths, seconds, None, server.pid),
        }
    for name, r in results.items():
        print(
            f"  api {kind:<8} {name:<5} {r['rps']:7.0f} req/s  p50 {r['p50_ms']:6.1f} ms  "
            f"p99 {r['p99_ms']:6.1f} ms  errors {r['errors']}  "
            f"server cpu {r['server_cpu_share']:.0%}  client cpu {r['client_cpu_share']:.0%}",
            flush=True,
        )
    return results


def figures_for(kind: str, results: dict | None) -> list[Figure]:
    fixed = results["fixed"] if results else {}
    best = results["max"] if results else {}
    return [
        Figure(f"status_rps_{kind}", fixed.get("rps"), "req/s", target(">=", 500)),
        Figure(f"status_p99_ms_{kind}", fixed.get("p99_ms"), "ms", target("<", 10)),
        Figure(f"status_errors_{kind}", fixed.get("errors"), "errors", target("==", 0)),
        Figure(f"status_p50_ms_{kind}", fixed.get("p50_ms"), "ms"),
        Figure(f"status_max_rps_{kind}", best.get("rps"), "req/s"),
        Figure(f"status_max_p99_ms_{kind}", best.get("p99_ms"), "ms"),
        Figure(f"status_max_errors_{kind}", best.get("errors"), "errors", target("==", 0)),
    ]


def client_capacity(seconds: float) -> Figure:
    """The load client against the bench's static server: far above the API, or it's the limit."""
    with procs.site_server(100) as (_, ports):
        result = run_load("127.0.0.1", ports[0], ["/robots.txt"], CONNECTIONS, seconds)
    return Figure("load_client_max_rps", result.rps, "req/s", target(">=", 5 * RATE))


def run(seconds: float = 8.0) -> tuple[list[Figure], dict]:
    details: dict[str, dict | None] = {}
    with tempfile.TemporaryDirectory(prefix="bench-api-") as directory:
        details["sqlite"] = bench_database(
            "sqlite", f"sqlite:///{Path(directory) / 'api.db'}", seconds
        )
    with postgres_schema() as url:
        details["postgres"] = bench_database("postgres", url, seconds) if url else None
    figures = [client_capacity(min(seconds, 3.0))]
    for kind in ("sqlite", "postgres"):
        figures += figures_for(kind, details[kind])
    return figures, details
