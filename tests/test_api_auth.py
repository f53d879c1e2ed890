"""API keys: 401 without a valid one, each caller sees only its own jobs; CORS for frontends."""

from __future__ import annotations

import uuid

import pytest

from emailscan import store
from emailscan.models import TaskStatus

pytest_plugins = ["tests.fake_scrapyd"]

ALICE = uuid.UUID("aaaaaaaa-0000-4000-8000-000000000001")
BOB = uuid.UUID("bbbbbbbb-0000-4000-8000-000000000002")


@pytest.fixture
def keys(engine):
    return {"alice": store.create_api_key(engine, ALICE), "bob": store.create_api_key(engine, BOB)}


@pytest.fixture
def api(make_app, keys):
    return make_app(AUTH_CACHE_SECONDS=0).test_client()


def as_(keys, who):
    return {"Authorization": f"Bearer {keys[who]}"}


def scan(api, keys, who, domain="acme.com", **extra):
    return api.post(
        "/api/v3/scan/website", json={"domain": domain, **extra}, headers=as_(keys, who)
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v3/scan/website"),
        ("get", f"/api/v3/scan/status/{uuid.uuid4()}"),
        ("post", f"/api/v3/scan/{uuid.uuid4()}/cancel"),
        ("get", "/api/v3/scan/jobs"),
        ("get", f"/api/v3/domains/{uuid.uuid4()}/contacts"),
    ],
)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer esk_not-a-key", "Basic YWxpY2U6c2VjcmV0"]
)
def test_protected_endpoints_need_a_valid_key(api, method, path, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = getattr(api, method)(path, json={"domain": "acme.com"}, headers=headers)

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/api/v3/health", "/api/v3/openapi.json"])
def test_health_and_openapi_need_no_key(api, path):
    assert api.get(path).status_code == 200


def test_jobs_belong_to_the_keys_owner(api, engine, keys):
    body = scan(api, keys, "alice").get_json()

    assert store.get_job(engine, uuid.UUID(body["job_id"])).user_id == ALICE


def test_a_user_id_in_the_body_must_be_the_keys_owner(api, engine, keys):
    assert scan(api, keys, "alice", user_id=str(ALICE)).status_code == 202

    response = scan(api, keys, "alice", "globex.com", user_id=str(BOB))

    assert response.status_code == 422
    assert "user_id" in response.get_json()["error"]["message"]


def test_others_jobs_and_domains_are_not_found(api, keys):
    job = scan(api, keys, "alice").get_json()
    job_id, domain_id = job["job_id"], job["domain_id"]

    assert api.get(f"/api/v3/scan/status/{job_id}", headers=as_(keys, "alice")).status_code == 200
    for method, path in (
        ("get", f"/api/v3/scan/status/{job_id}"),
        ("post", f"/api/v3/scan/{job_id}/cancel"),
        ("get", f"/api/v3/domains/{domain_id}/contacts"),
    ):
        response = getattr(api, method)(path, headers=as_(keys, "bob"))
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] in ("job_not_found", "domain_not_found")
    listed = api.get("/api/v3/scan/jobs", headers=as_(keys, "bob")).get_json()
    assert listed["total"] == 0
    by_id = api.post(
        "/api/v3/scan/website", json={"domain_id": domain_id}, headers=as_(keys, "bob")
    )
    assert by_id.status_code == 404


def test_own_job_can_be_cancelled_and_listed(api, keys):
    job_id = scan(api, keys, "alice").get_json()["job_id"]

    cancel = api.post(f"/api/v3/scan/{job_id}/cancel", headers=as_(keys, "alice"))
    listed = api.get("/api/v3/scan/jobs", headers=as_(keys, "alice")).get_json()

    assert cancel.status_code == 202
    assert cancel.get_json()["status"] == TaskStatus.CANCELLED
    assert [job["job_id"] for job in listed["jobs"]] == [job_id]


def test_another_users_active_scan_of_the_domain_is_409(api, keys):
    scan(api, keys, "alice")

    response = scan(api, keys, "bob")

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "scan_in_progress"
    assert "Retry-After" in response.headers
    assert scan(api, keys, "alice").status_code == 200  # the owner gets its job back


def test_revoked_key_is_refused(api, engine, keys):
    assert api.get("/api/v3/scan/jobs", headers=as_(keys, "bob")).status_code == 200

    store.revoke_api_key(engine, keys["bob"])

    assert api.get("/api/v3/scan/jobs", headers=as_(keys, "bob")).status_code == 401


def test_key_checks_are_cached(make_app, engine, keys, monkeypatch):
    api = make_app(AUTH_CACHE_SECONDS=60).test_client()
    calls = []
    for name in ("api_keys_exist", "user_for_api_key"):
        real = getattr(store, name)
        monkeypatch.setattr(
            store, name, lambda *args, real=real, name=name: calls.append(name) or real(*args)
        )

    for _ in range(5):
        assert api.get("/api/v3/scan/jobs", headers=as_(keys, "alice")).status_code == 200

    assert calls == ["api_keys_exist", "user_for_api_key"]


def test_without_keys_the_api_is_open(make_app):
    api = make_app().test_client()

    assert api.post("/api/v3/scan/website", json={"domain": "acme.com"}).status_code == 202
    assert api.get("/api/v3/scan/jobs").status_code == 200


def test_cors_for_configured_origins_only(make_app, keys):
    api = make_app(CORS_ORIGINS="https://app.example, https://admin.example").test_client()
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type",
    }

    allowed = api.options("/api/v3/scan/website", headers=preflight)
    other = api.options(
        "/api/v3/scan/website", headers={**preflight, "Origin": "https://evil.example"}
    )
    actual = api.get("/api/v3/scan/jobs", headers={"Origin": "https://admin.example"})

    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "authorization" in allowed.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Origin" not in other.headers
    assert actual.status_code == 401  # CORS does not bypass the key...
    assert actual.headers["Access-Control-Allow-Origin"] == "https://admin.example"  # ...but reads
    assert "Location" in actual.headers["Access-Control-Expose-Headers"]


def test_no_cors_headers_without_configured_origins(api):
    response = api.get("/api/v3/health", headers={"Origin": "https://app.example"})

    assert "Access-Control-Allow-Origin" not in response.headers
