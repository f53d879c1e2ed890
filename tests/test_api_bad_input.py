"""Hostile and malformed requests: each a 4xx with the JSON error shape, never a 5xx or a trace.

Bodies, paths, query strings and methods go through Flask's test client; what only a real
server shows (chunked bodies, bodies without Content-Length, broken framing) goes over a socket
to waitress on 127.0.0.1. Inputs refused before storage is used share one app on SQLite; the
job-list queries, which reach the database, run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import tempfile
import threading
import uuid
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
import waitress

from emailscan import db, store
from emailscan.models import jobs
from statusapi import create_app
from statusapi.config import DEFAULTS

pytest_plugins = ["tests.fake_scrapyd"]

SCAN = "/api/v3/scan/website"
JOBS = "/api/v3/scan/jobs"
LIMIT = DEFAULTS["MAX_CONTENT_LENGTH"]
JSON = {"Content-Type": "application/json"}
VALID = b'{"domain": "acme.com"}'
A_UUID = "3f2b8a9e-6c1d-4e57-9b0a-2d4c6e8f1a3b"
PUBLIC_ADDRESS = "93.184.215.14"


def assert_error(response, status: int, code: str) -> None:
    """The documented error: JSON `{"error": {"code", "message"}}`, readable, no trace."""
    text = response.get_data(as_text=True)
    assert response.status_code == status, text
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert message and not any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in message)
    assert "Traceback" not in text
    assert response.headers["Cache-Control"] == "no-store"


@pytest.fixture(scope="module")
def shared():
    """One app over one migrated SQLite file for inputs refused before storage is used (most of
    this module): each case checks that it left no job and no scrapyd call behind."""
    from tests.fake_scrapyd import TEST_SITES, FakeResolver, FakeScrapyd

    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/emailscan.db"
        engine = db.make_engine(url)
        db.upgrade(engine)
        scrapyd = FakeScrapyd()
        resolver = FakeResolver({site: [PUBLIC_ADDRESS] for site in TEST_SITES})
        config = {"TESTING": True, "DATABASE_URL": url, "SCRAPYD": scrapyd, "RESOLVE": resolver}
        app = create_app(config)
        yield SimpleNamespace(
            client=app.test_client(), engine=engine, scrapyd=scrapyd, resolver=resolver
        )
        app.extensions["emailscan"].close()
        engine.dispose()


@pytest.fixture
def untouched(shared):
    """The shared app; the test must leave no job, schedule or cancel nothing, look up no name."""

    def footprint():
        calls = [name for name, _ in shared.scrapyd.calls if name in ("schedule", "cancel")]
        return job_count(shared.engine), len(calls), len(shared.resolver.asked)

    before = footprint()
    yield shared.client
    assert footprint() == before


def job_count(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(sa.select(sa.func.count()).select_from(jobs))


def padded(size: int) -> bytes:
    """A valid scan request of exactly `size` bytes (JSON whitespace before the brace)."""
    return VALID[:-1] + b" " * (size - len(VALID)) + b"}"


def text(body: str) -> bytes:
    return body.encode()


MULTIPART = (
    b'--x\r\nContent-Disposition: form-data; name="domain"\r\n\r\nacme.com\r\n--x--\r\n',
    {"Content-Type": "multipart/form-data; boundary=x"},
)

# (body, headers, status, code)
BAD_BODIES = {
    # Too large: refused before anything else is looked at.
    "over-limit-json": (padded(LIMIT + 1), JSON, 413, "payload_too_large"),
    "over-limit-no-content-type": (b"x" * (LIMIT + 1), {}, 413, "payload_too_large"),
    "over-limit-text-plain": (
        b"x" * 100_000,
        {"Content-Type": "text/plain"},
        413,
        "payload_too_large",
    ),
    # Declared as something other than JSON.
    "text-plain": (VALID, {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
    "form-urlencoded": (
        b"domain=acme.com",
        {"Content-Type": "application/x-www-form-urlencoded"},
        415,
        "unsupported_media_type",
    ),
    "multipart": (*MULTIPART, 415, "unsupported_media_type"),
    "xml": (
        b"<domain>acme.com</domain>",
        {"Content-Type": "application/xml"},
        415,
        "unsupported_media_type",
    ),
    "text-json": (VALID, {"Content-Type": "text/json"}, 415, "unsupported_media_type"),
    "json-seq": (VALID, {"Content-Type": "application/json-seq"}, 415, "unsupported_media_type"),
    "text-html": (VALID, {"Content-Type": "text/html"}, 415, "unsupported_media_type"),
    "garbage-content-type": (VALID, {"Content-Type": ";;;"}, 415, "unsupported_media_type"),
    "gzip": (
        gzip.compress(VALID),
        {**JSON, "Content-Encoding": "gzip"},
        415,
        "unsupported_media_type",
    ),
    "brotli-declared": (VALID, {**JSON, "Content-Encoding": "br"}, 415, "unsupported_media_type"),
    # Not UTF-8.
    "invalid-utf8": (b'{"domain": "acme\xff.com"}', JSON, 400, "invalid_json"),
    "overlong-utf8": (b'{"domain": "\xc0\xaf"}', JSON, 400, "invalid_json"),
    "encoded-surrogate": (b'{"domain": "acme.com\xed\xa0\x80"}', JSON, 400, "invalid_json"),
    "latin1-declared-utf8": (
        '{"domain": "bücher.de"}'.encode("latin-1"),
        {"Content-Type": "application/json; charset=latin-1"},
        400,
        "invalid_json",
    ),
    # Not JSON, though Python's parser would take it.
    "nan": (text('{"domain": "acme.com", "max_pages": NaN}'), JSON, 400, "invalid_json"),
    "infinity": (text('{"domain": "acme.com", "max_pages": Infinity}'), JSON, 400, "invalid_json"),
    "minus-infinity": (
        text('{"domain": "acme.com", "max_pages": -Infinity}'),
        JSON,
        400,
        "invalid_json",
    ),
    "duplicate-key": (
        text('{"domain": "acme.com", "domain": "10.0.0.1"}'),
        JSON,
        400,
        "invalid_json",
    ),
    "duplicate-user-id": (
        text(f'{{"domain_id": "{A_UUID}", "user_id": "{A_UUID}", "user_id": "{A_UUID}"}}'),
        JSON,
        400,
        "invalid_json",
    ),
    # Nesting: the parser's recursion limit is a 400, not a crash.
    "nested-arrays-10k": (text("[" * 10_000 + "]" * 10_000), JSON, 400, "invalid_json"),
    "nested-objects-10k": (text('{"a":' * 10_000 + "1" + "}" * 10_000), JSON, 400, "invalid_json"),
    "nested-in-domain-10k": (
        text('{"domain": ' + "[" * 10_000 + "]" * 10_000 + "}"),
        JSON,
        400,
        "invalid_json",
    ),
    "nested-in-domain-500": (
        text('{"domain": ' + "[" * 500 + "]" * 500 + "}"),
        JSON,
        422,
        "validation_error",
    ),
    # Numbers.
    "integer-of-5000-digits": (
        text('{"domain": "acme.com", "max_pages": ' + "9" * 5000 + "}"),
        JSON,
        400,
        "invalid_json",
    ),
    "integer-of-4000-digits": (
        text('{"domain": "acme.com", "max_pages": ' + "9" * 4000 + "}"),
        JSON,
        422,
        "validation_error",
    ),
    "float-overflow": (
        text('{"domain": "acme.com", "max_pages": 1e400}'),
        JSON,
        422,
        "validation_error",
    ),
    "negative-overflow": (
        text('{"domain": "acme.com", "max_pages": -1e400}'),
        JSON,
        422,
        "validation_error",
    ),
    "fraction": (text('{"domain": "acme.com", "max_pages": 1.5}'), JSON, 422, "validation_error"),
    "boolean-pages": (
        text('{"domain": "acme.com", "max_pages": true}'),
        JSON,
        422,
        "validation_error",
    ),
    "string-pages": (
        text('{"domain": "acme.com", "max_pages": "5"}'),
        JSON,
        422,
        "validation_error",
    ),
    "negative-pages": (
        text('{"domain": "acme.com", "max_pages": -1}'),
        JSON,
        422,
        "validation_error",
    ),
    # Nulls and wrong types where strings go.
    "null-domain": (text('{"domain": null}'), JSON, 422, "validation_error"),
    "both-null": (text('{"domain": null, "domain_id": null}'), JSON, 422, "validation_error"),
    "domain-number": (text('{"domain": 1e3}'), JSON, 422, "validation_error"),
    "domain-object": (text('{"domain": {"host": "acme.com"}}'), JSON, 422, "validation_error"),
    "domain-id-number": (text('{"domain_id": 42}'), JSON, 422, "validation_error"),
    "user-id-null-domain-null": (
        text('{"domain": null, "user_id": null}'),
        JSON,
        422,
        "validation_error",
    ),
    # Unknown fields: the schema forbids them (additionalProperties: false).
    "unknown-field": (text('{"domain": "acme.com", "extra": 1}'), JSON, 422, "validation_error"),
    "field-in-other-case": (
        text('{"domain": "acme.com", "Domain": "x"}'),
        JSON,
        422,
        "validation_error",
    ),
    "proto-field": (
        text('{"domain": "acme.com", "__proto__": {"admin": true}}'),
        JSON,
        422,
        "validation_error",
    ),
    "empty-key": (text('{"domain": "acme.com", "": 1}'), JSON, 422, "validation_error"),
    # Not an object.
    "array": (text('[{"domain": "acme.com"}]'), JSON, 400, "invalid_json"),
    "string": (text('"acme.com"'), JSON, 400, "invalid_json"),
    "number": (text("42"), JSON, 400, "invalid_json"),
    "null": (text("null"), JSON, 400, "invalid_json"),
    "true": (text("true"), JSON, 400, "invalid_json"),
    "empty": (b"", JSON, 400, "invalid_json"),
    "whitespace": (b" \r\n\t ", JSON, 400, "invalid_json"),
    "two-documents": (VALID + VALID, JSON, 400, "invalid_json"),
    # Domains: too long, control characters, NUL, lone surrogates, not a host.
    "domain-10k": (text(f'{{"domain": "{"a" * 10_000}.com"}}'), JSON, 422, "validation_error"),
    "domain-2044": (text(f'{{"domain": "{"a" * 2040}.com"}}'), JSON, 400, "invalid_domain"),
    "domain-nul-end": (text('{"domain": "acme.com\\u0000"}'), JSON, 422, "validation_error"),
    "domain-nul-inside": (text('{"domain": "ac\\u0000me.com"}'), JSON, 422, "validation_error"),
    "domain-newline": (text('{"domain": "ac\\nme.com"}'), JSON, 422, "validation_error"),
    "domain-tab": (text('{"domain": "acme.com\\t"}'), JSON, 422, "validation_error"),
    "domain-crlf-header": (
        text('{"domain": "acme.com\\r\\nX-Injected: 1"}'),
        JSON,
        422,
        "validation_error",
    ),
    "domain-del": (text('{"domain": "\\u007facme.com"}'), JSON, 422, "validation_error"),
    "domain-c1": (text('{"domain": "acme.com\\u0085"}'), JSON, 422, "validation_error"),
    "domain-nul-in-path": (
        text('{"domain": "https://acme.com/\\u0000"}'),
        JSON,
        422,
        "validation_error",
    ),
    "domain-lone-surrogate": (
        text('{"domain": "https://acme.com/\\ud800"}'),
        JSON,
        422,
        "validation_error",
    ),
    "domain-percent-nul": (text('{"domain": "acme.com%00"}'), JSON, 400, "invalid_domain"),
    "domain-rtl-override": (text('{"domain": "\\u202eacme.com"}'), JSON, 400, "invalid_domain"),
    "domain-empty": (text('{"domain": ""}'), JSON, 400, "invalid_domain"),
    "domain-spaces": (text('{"domain": "   "}'), JSON, 400, "invalid_domain"),
    "domain-javascript": (text('{"domain": "javascript:alert(1)"}'), JSON, 400, "invalid_domain"),
}


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [pytest.param(*case, id=name) for name, case in BAD_BODIES.items()],
)
def test_hostile_scan_bodies(untouched, body, headers, status, code):
    assert_error(untouched.post(SCAN, data=body, headers=headers), status, code)


def test_compressed_body_is_refused_naming_what_is_accepted(untouched):
    """RFC 7694: a 415 for a content coding says which codings the server takes."""
    headers = {**JSON, "Content-Encoding": "gzip"}

    response = untouched.post(SCAN, data=gzip.compress(VALID), headers=headers)

    assert_error(response, 415, "unsupported_media_type")
    assert response.headers["Accept-Encoding"] == "identity"
    assert "gzip" in response.get_json()["error"]["message"]


@pytest.mark.databases("sqlite")
@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param(VALID, {}, id="no-content-type"),
        pytest.param(VALID, JSON, id="application/json"),
        pytest.param(VALID, {"Content-Type": "application/json; charset=utf-8"}, id="charset"),
        pytest.param(VALID, {"Content-Type": "APPLICATION/JSON;CHARSET=UTF-8"}, id="upper-case"),
        pytest.param(VALID, {"Content-Type": "application/merge-patch+json"}, id="+json"),
        pytest.param(
            VALID, {"Content-Type": "application/vnd.api+json; charset=latin-1"}, id="vendor+json"
        ),
        pytest.param(VALID, {**JSON, "Content-Encoding": "identity"}, id="identity-encoding"),
        pytest.param(b"\xef\xbb\xbf" + VALID, JSON, id="utf8-bom"),
        pytest.param(padded(LIMIT), JSON, id="exactly-the-limit"),
        pytest.param(
            text('{"domain": "acme.com", "domain_id": null, "max_pages": null, "user_id": null}'),
            JSON,
            id="explicit-nulls",
        ),
        pytest.param(
            text('{"domain": "https://acme.com/' + "a" * 2000 + '"}'), JSON, id="long-url"
        ),
    ],
)
def test_acceptable_scan_bodies(api, fake_scrapyd, body, headers):
    response = api.post(SCAN, data=body, headers=headers)

    assert response.status_code == 202, response.get_json()
    assert response.get_json()["domain"] == "acme.com"
    assert len(fake_scrapyd.called("schedule")) == 1


@pytest.mark.databases("sqlite")
@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        pytest.param(*BAD_BODIES[name], id=name)
        for name in ("over-limit-json", "text-plain", "nested-arrays-10k", "unknown-field")
    ],
)
def test_hostile_bodies_with_api_keys(make_app, engine, body, headers, status, code):
    key = store.create_api_key(engine, uuid.uuid4())
    api = make_app(AUTH_CACHE_SECONDS=0).test_client()

    # Without a key nothing of the body is looked at; with one it gets the same answer as open.
    assert_error(api.post(SCAN, data=body, headers=headers), 401, "unauthorized")
    signed = {**headers, "Authorization": f"Bearer {key}"}
    assert_error(api.post(SCAN, data=body, headers=signed), status, code)
    assert job_count(engine) == 0


# (method, path, status, code)
BAD_PATHS = {
    "status-nul": ("GET", "/api/v3/scan/status/%00", 400, "invalid_job_id"),
    "status-controls": ("GET", "/api/v3/scan/status/%01%1f%7f", 400, "invalid_job_id"),
    "status-newline": ("GET", "/api/v3/scan/status/%0d%0aX-Injected:%201", 400, "invalid_job_id"),
    "status-uuid-then-nul": ("GET", f"/api/v3/scan/status/{A_UUID}%00", 400, "invalid_job_id"),
    "status-invalid-utf8": ("GET", "/api/v3/scan/status/%ff%fe", 400, "invalid_job_id"),
    "status-encoded-surrogate": ("GET", "/api/v3/scan/status/%ed%a0%80", 400, "invalid_job_id"),
    "status-double-encoded": ("GET", "/api/v3/scan/status/%2500", 400, "invalid_job_id"),
    "status-urn": ("GET", f"/api/v3/scan/status/urn:uuid:{A_UUID}", 400, "invalid_job_id"),
    "status-braces": ("GET", f"/api/v3/scan/status/%7B{A_UUID}%7D", 400, "invalid_job_id"),
    "status-no-hyphens": (
        "GET",
        f"/api/v3/scan/status/{uuid.UUID(A_UUID).hex}",
        400,
        "invalid_job_id",
    ),
    "status-signed-hex": (
        "GET",
        f"/api/v3/scan/status/%2B{uuid.UUID(A_UUID).hex[1:]}",
        400,
        "invalid_job_id",
    ),
    "status-10k": ("GET", "/api/v3/scan/status/" + "a" * 10_000, 400, "invalid_job_id"),
    "status-sql": ("GET", "/api/v3/scan/status/1'%20OR%20'1'='1", 400, "invalid_job_id"),
    "status-traversal": ("GET", "/api/v3/scan/status/..%2F..%2Fhealth", 404, "not_found"),
    "status-empty": ("GET", "/api/v3/scan/status/", 404, "not_found"),
    "status-unknown": ("GET", f"/api/v3/scan/status/{A_UUID}", 404, "job_not_found"),
    "status-unknown-upper-case": (
        "GET",
        f"/api/v3/scan/status/{A_UUID.upper()}",
        404,
        "job_not_found",
    ),
    "cancel-nul": ("POST", "/api/v3/scan/%00/cancel", 400, "invalid_job_id"),
    "cancel-newline": ("POST", "/api/v3/scan/%0a/cancel", 400, "invalid_job_id"),
    "cancel-invalid-utf8": ("POST", "/api/v3/scan/%c3%28/cancel", 400, "invalid_job_id"),
    "contacts-nul": ("GET", "/api/v3/domains/%00/contacts", 400, "invalid_domain_id"),
    "contacts-invalid-utf8": ("GET", "/api/v3/domains/%ff/contacts", 400, "invalid_domain_id"),
    "contacts-bad-format": (
        "GET",
        f"/api/v3/domains/{A_UUID}/contacts?format=%00",
        400,
        "invalid_parameter",
    ),
    "unknown-path-nul": ("GET", "/api/v3/%00", 404, "not_found"),
    "unknown-path-garbage": ("GET", "/api/v3/%ff%fe%fd/%c0%af", 404, "not_found"),
}


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [pytest.param(*case, id=name) for name, case in BAD_PATHS.items()],
)
def test_hostile_paths(untouched, method, path, status, code):
    assert_error(untouched.open(path, method=method), status, code)


BAD_QUERIES = {
    "limit-zero": ("limit=0", "invalid_parameter"),
    "limit-over": ("limit=201", "invalid_parameter"),
    "limit-negative": ("limit=-1", "invalid_parameter"),
    "limit-text": ("limit=abc", "invalid_parameter"),
    "limit-exponent": ("limit=1e9", "invalid_parameter"),
    "limit-fraction": ("limit=1.5", "invalid_parameter"),
    "limit-huge": ("limit=" + "9" * 30, "invalid_parameter"),
    "limit-nul": ("limit=%00", "invalid_parameter"),
    "offset-negative": ("offset=-1", "invalid_parameter"),
    "offset-past-int32": (f"offset={2**31}", "invalid_parameter"),
    "offset-past-int64": (f"offset={2**63}", "invalid_parameter"),
    "offset-huge": ("offset=" + "9" * 30, "invalid_parameter"),
    "status-unknown": ("status=done", "invalid_parameter"),
    "status-nul": ("status=%00", "invalid_parameter"),
    "domain-nul": ("domain=%00", "invalid_parameter"),
    "domain-newline": ("domain=acme%0a.com", "invalid_parameter"),
    "domain-10k": ("domain=" + "a" * 10_000, "invalid_parameter"),
    "domain-not-a-host": ("domain=not%20a%20domain", "invalid_domain"),
    "user-id-not-uuid": ("user_id=me", "invalid_parameter"),
}
REPEATED_QUERIES = {
    "limit-repeated": "limit=5&limit=500",
    "offset-repeated": "offset=0&offset=5",
    "status-repeated": "status=PENDING&status=FAILED",
}


@pytest.mark.parametrize(
    ("query", "code"), [pytest.param(*case, id=name) for name, case in BAD_QUERIES.items()]
)
def test_hostile_job_list_queries(api, query, code):
    assert_error(api.get(f"{JOBS}?{query}"), 400, code)


@pytest.mark.parametrize("query", list(REPEATED_QUERIES.values()), ids=list(REPEATED_QUERIES))
def test_repeated_job_list_parameters_are_refused(api, query):
    assert_error(api.get(f"{JOBS}?{query}"), 400, "invalid_parameter")


@pytest.mark.parametrize("query", ["limit=200", f"offset={2**31 - 1}", "limit=&status=&domain="])
def test_job_list_edges_are_accepted(api, query):
    api.post(SCAN, json={"domain": "acme.com"})

    response = api.get(f"{JOBS}?{query}")

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["total"] == 1


ROUTES = {
    SCAN: {"POST"},
    f"/api/v3/scan/status/{A_UUID}": {"GET", "HEAD"},
    f"/api/v3/scan/{A_UUID}/cancel": {"POST"},
    JOBS: {"GET", "HEAD"},
    f"/api/v3/domains/{A_UUID}/contacts": {"GET", "HEAD"},
    "/api/v3/health": {"GET", "HEAD"},
    "/api/v3/openapi.json": {"GET", "HEAD"},
}
OTHER_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT", "PROPFIND")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        (method, path)
        for path, allowed in ROUTES.items()
        for method in (*OTHER_METHODS, "HEAD")
        if method not in allowed
    ],
)
def test_methods_not_allowed_are_405_with_allow(untouched, method, path):
    response = untouched.open(path, method=method)

    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == ROUTES[path] | {"OPTIONS"}
    if method == "HEAD":
        assert (response.mimetype, response.get_data()) == ("application/json", b"")
    else:
        assert_error(response, 405, "method_not_allowed")


@pytest.mark.parametrize(
    "path", [path for path, allowed in ROUTES.items() if "HEAD" in allowed], ids=str
)
def test_head_answers_like_get_without_a_body(untouched, path):
    get, head = untouched.get(path), untouched.head(path)

    assert head.status_code == get.status_code
    assert head.get_data() == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert int(head.headers["Content-Length"]) == len(get.get_data())


@pytest.mark.databases("sqlite")
@pytest.mark.parametrize("keys", [False, True], ids=["open", "with-keys"])
@pytest.mark.parametrize("path", list(ROUTES), ids=str)
def test_options_lists_the_methods_without_credentials(make_app, engine, keys, path):
    if keys:
        store.create_api_key(engine, uuid.uuid4())
    api = make_app(AUTH_CACHE_SECONDS=0).test_client()

    response = api.options(path)

    assert response.status_code == 200
    assert set(response.headers["Allow"].split(", ")) == ROUTES[path] | {"OPTIONS"}
    assert response.get_data() == b""


# Over a socket, to waitress: what the test client can't send.


@pytest.fixture
def served(make_app):
    """The app under waitress on a random loopback port; the port."""
    app = make_app()
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server.effective_port
    server.trigger.pull_trigger(server.close)  # closed in the loop's own thread, which then ends
    thread.join(timeout=10)
    server.task_dispatcher.shutdown()
    assert not thread.is_alive()


def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()


def chunked(body: bytes, size: int = 8192) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def post(headers: dict[str, str], payload: bytes) -> bytes:
    lines = [f"POST {SCAN} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


CHUNKED = {"Transfer-Encoding": "chunked"}
BIG = padded(LIMIT + 1)


@pytest.mark.databases("sqlite")
@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        pytest.param(
            post({**JSON, "Content-Length": str(len(BIG))}, BIG),
            413,
            "payload_too_large",
            id="content-length-over-limit",
        ),
        pytest.param(
            post({**JSON, **CHUNKED}, chunked(BIG)),
            413,
            "payload_too_large",
            id="chunked-over-limit",
        ),
        pytest.param(
            post({"Content-Type": "text/plain", **CHUNKED}, chunked(b"x" * 200_000)),
            413,
            "payload_too_large",
            id="chunked-text-over-limit",
        ),
        pytest.param(
            post({"Content-Type": "text/plain", **CHUNKED}, chunked(VALID)),
            415,
            "unsupported_media_type",
            id="chunked-text-plain",
        ),
        pytest.param(
            post({**JSON, **CHUNKED}, chunked(b"")), 400, "invalid_json", id="chunked-empty"
        ),
        pytest.param(
            post({**JSON, **CHUNKED}, chunked(b"[" * 10_000 + b"]" * 10_000, size=7)),
            400,
            "invalid_json",
            id="chunked-deep-nesting",
        ),
        pytest.param(
            post({**JSON, "Content-Length": str(len(VALID) - 5)}, VALID[:-5]),
            400,
            "invalid_json",
            id="content-length-short",
        ),
    ],
)
def test_hostile_bodies_over_http(served, engine, request_bytes, status, code):
    got, headers, body = exchange(served, request_bytes)

    assert got == status, body
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert (set(error), error["code"]) == ({"code", "message"}, code)
    assert job_count(engine) == 0


@pytest.mark.databases("sqlite")
def test_chunked_body_without_content_length_is_read(served, fake_scrapyd):
    status, _, body = exchange(served, post({**JSON, **CHUNKED}, chunked(VALID, size=3)))

    assert status == 202, body
    assert len(fake_scrapyd.called("schedule")) == 1


@pytest.mark.databases("sqlite")
@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(post({**JSON, "Content-Length": "abc"}, VALID), id="content-length-text"),
        pytest.param(post({**JSON, **CHUNKED}, b"zz\r\nabc\r\n0\r\n\r\n"), id="bad-chunk-size"),
    ],
)
def test_broken_framing_is_refused_by_the_server(served, engine, request_bytes):
    """waitress answers these itself, in text/plain: the app never sees the request."""
    status, headers, body = exchange(served, request_bytes)

    assert status == 400
    assert headers["content-type"].startswith("text/plain")
    assert b"Traceback" not in body
    assert job_count(engine) == 0
