"""The app as a whole: factory and config, errors as JSON, health, OpenAPI, serving."""

from __future__ import annotations

import threading
import uuid

import pytest

from emailscan import store
from statusapi import create_app, openapi, schemas, serve
from statusapi.config import DEFAULTS, config_from_env
from statusapi.scrapyd import ScrapydNodes

pytest_plugins = ["tests.fake_scrapyd"]

DOWN_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2"


def test_config_from_env_parses_and_defaults():
    config = config_from_env(
        {
            "DATABASE_URL": "sqlite:///x.db",
            "SCRAPYD_URL": "http://a:6800,http://b:6800",
            "ALLOW_PRIVATE_NETWORKS": "true",
            "HEARTBEAT_TIMEOUT": "90",
            "PORT": "8080",
            "API_THREADS": "16",
            "CORS_ORIGINS": "https://app.example",
        }
    )

    assert config["DATABASE_URL"] == "sqlite:///x.db"
    assert config["ALLOW_PRIVATE_NETWORKS"] is True
    assert (config["HEARTBEAT_TIMEOUT"], config["PORT"], config["API_THREADS"]) == (90.0, 8080, 16)
    assert config["PENDING_GRACE"] == DEFAULTS["PENDING_GRACE"]
    assert config["SCRAPYD_PROJECT"] == "emailscan"
    assert config_from_env({})["ALLOW_PRIVATE_NETWORKS"] is False


@pytest.mark.parametrize(("name", "value"), [("PORT", "http"), ("ALLOW_PRIVATE_NETWORKS", "maybe")])
def test_config_from_env_rejects_bad_values(name, value):
    with pytest.raises(ValueError, match=name):
        config_from_env({name: value})


def test_create_app_without_config_reads_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.setenv("SCRAPYD_URL", "http://10.9.8.7:6800, http://10.9.8.6:6800")

    app = create_app()

    services = app.extensions["emailscan"]
    assert services.engine.url.database == str(tmp_path / "env.db")
    assert services.scrapyd.urls == ["http://10.9.8.7:6800", "http://10.9.8.6:6800"]
    services.close()


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/nowhere", 404, "not_found"),
        ("get", "/api/v3/scan/nowhere/else", 404, "not_found"),
        ("get", "/api/v3/scan/website", 405, "method_not_allowed"),
        ("delete", "/api/v3/health", 405, "method_not_allowed"),
    ],
)
def test_routing_errors_are_json(api, method, path, status, code):
    response = getattr(api, method)(path)

    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert "Traceback" not in response.get_data(as_text=True)
    if status == 405:
        assert "Allow" in response.headers


def test_oversized_body_is_413(api):
    response = api.post("/api/v3/scan/website", data="x" * 100_000)

    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_unexpected_error_is_500_without_details(make_app, caplog):
    app = make_app()

    @app.get("/boom")
    def boom():
        raise KeyError("secret internals")

    response = app.test_client().get("/boom")

    assert response.status_code == 500
    assert response.get_json() == {
        "error": {"code": "internal_error", "message": "Something went wrong on our side."}
    }
    assert "Traceback" not in response.get_data(as_text=True)
    assert "secret internals" in caplog.text  # logged with its stack trace, for us


def test_database_down_is_503(fake_scrapyd, fake_resolver):
    app = create_app({"DATABASE_URL": DOWN_DATABASE, "SCRAPYD": fake_scrapyd})
    api = app.test_client()

    for response in (
        api.get(f"/api/v3/scan/status/{uuid.uuid4()}"),
        api.get("/api/v3/scan/jobs"),
        api.post("/api/v3/scan/website", json={"domain": "10.0.0.1"}),
    ):
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "database_unavailable"
        assert "Traceback" not in response.get_data(as_text=True)
    app.extensions["emailscan"].close()


def test_unmigrated_database_is_503(tmp_path, fake_scrapyd):
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "SCRAPYD": fake_scrapyd}
    )

    response = app.test_client().get("/api/v3/scan/jobs")

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"
    app.extensions["emailscan"].close()


def test_health_ok(api):
    response = api.get("/api/v3/health")

    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "database": "ok",
        "scrapyd": [
            {"node": "http://scrapyd.test:6800", "status": "ok", "running": 0, "pending": 0}
        ],
    }


def test_health_with_scrapyd_down(api, fake_scrapyd):
    fake_scrapyd.down = True

    response = api.get("/api/v3/health")

    assert response.status_code == 503
    body = response.get_json()
    assert (body["status"], body["database"]) == ("unavailable", "ok")
    assert body["scrapyd"][0]["status"] == "unavailable"


def test_health_with_one_of_two_nodes_down_is_degraded(make_app, new_fake_scrapyd):
    up, down = new_fake_scrapyd("http://a:6800"), new_fake_scrapyd("http://b:6800")
    down.down = True
    api = make_app(SCRAPYD=ScrapydNodes([up, down])).test_client()

    response = api.get("/api/v3/health")

    assert response.status_code == 200
    assert response.get_json()["status"] == "degraded"
    assert [node["status"] for node in response.get_json()["scrapyd"]] == ["ok", "unavailable"]


def test_health_with_database_down(fake_scrapyd):
    app = create_app({"DATABASE_URL": DOWN_DATABASE, "SCRAPYD": fake_scrapyd})

    response = app.test_client().get("/api/v3/health")

    assert response.status_code == 503
    assert response.get_json()["database"] == "unavailable"
    assert response.get_json()["scrapyd"][0]["status"] == "ok"
    app.extensions["emailscan"].close()


def test_openapi_document_lists_every_path_and_resolves_every_ref(api):
    document = api.get("/api/v3/openapi.json").get_json()

    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/api/v3/scan/website",
        "/api/v3/scan/status/{job_id}",
        "/api/v3/scan/{job_id}/cancel",
        "/api/v3/scan/jobs",
        "/api/v3/domains/{domain_id}/contacts",
        "/api/v3/health",
        "/api/v3/openapi.json",
    }
    schemas = document["components"]["schemas"]
    for name in ("EmailScanRequest", "ScanAccepted", "JobStatusResponse", "ErrorResponse"):
        assert name in schemas
    assert schemas["EmailScanRequest"]["additionalProperties"] is False
    assert set(schemas["TaskStatus"]["enum"]) == {
        "PENDING",
        "RUNNING",
        "COMPLETE",
        "FAILED",
        "CANCELLED",
    }
    refs = set(_refs(document))
    assert refs and all(ref.removeprefix("#/components/schemas/") in schemas for ref in refs)
    scan = document["paths"]["/api/v3/scan/website"]["post"]
    assert {"200", "202", "400", "413", "415", "422", "503"} <= set(scan["responses"])
    assert document["paths"]["/api/v3/health"]["get"]["security"] == []


def test_openapi_lists_every_status_and_no_default(api):
    """No `default` response: an answer the document doesn't list fails the fuzz tests."""
    document = api.get("/api/v3/openapi.json").get_json()

    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert "default" not in operation["responses"], (method, path)
            assert "500" in operation["responses"], (method, path)
    error = document["paths"]["/api/v3/scan/website"]["post"]["responses"]["415"]
    assert error["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")


def test_openapi_job_list_parameters_come_from_the_query_model(api):
    operation = api.get("/api/v3/openapi.json").get_json()["paths"]["/api/v3/scan/jobs"]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}

    assert set(parameters) == {"status", "domain", "limit", "offset", "user_id"}
    assert not any(parameter["required"] for parameter in parameters.values())
    assert parameters["offset"]["schema"]["maximum"] == schemas.MAX_OFFSET
    assert parameters["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 200,
        "default": 50,
    }
    assert parameters["domain"]["schema"]["pattern"] == schemas.NO_CONTROL_CHARACTERS
    assert parameters["status"]["schema"] == {"$ref": "#/components/schemas/TaskStatus"}


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_openapi_routes_match_the_app(api):
    rules = {
        rule.rule.replace("<", "{").replace(">", "}")
        for rule in api.application.url_map.iter_rules()
    }
    assert set(openapi.document()["paths"]) == rules


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("127.0.0.1", False),
        ("::1", False),
        ("localhost", False),
        ("0.0.0.0", True),
        ("api.acme.com", True),
    ],
)
def test_open_api_stays_on_loopback(engine, host, refused):
    assert bool(serve.open_to_network_refusal(engine, host)) is refused

    store.create_api_key(engine, uuid.uuid4())

    assert serve.open_to_network_refusal(engine, host) is None


def test_serve_refuses_to_start_open_on_the_network(database_url, engine):
    environ = {"DATABASE_URL": database_url, "HOST": "0.0.0.0", "PORT": "1"}

    with pytest.raises(SystemExit, match="no API keys exist"):
        serve.main(environ)


def test_reaper_thread_runs_until_stopped(monkeypatch):
    rounds = threading.Event()
    calls = []

    def reap(*arguments):
        calls.append(arguments)
        rounds.set()

    monkeypatch.setattr(serve.reaper, "reap", reap)
    config = {**DEFAULTS, "REAPER_INTERVAL": 0.01}

    stop = serve.start_reaper("engine", "scrapyd", config)
    assert rounds.wait(5)
    stop.set()

    assert calls[0] == ("engine", "scrapyd", 6.0, 30.0, 180.0)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v3/scan/website", "{"),
        ("post", "/api/v3/scan/website", '{"domain": null}'),
        ("post", "/api/v3/scan/website", '{"domain": "a..b"}'),
        ("post", "/api/v3/scan/website", '{"domain": "http://[::1"}'),
        ("post", "/api/v3/scan/website", '{"domain": "http://acme.com:99999"}'),
        ("get", "/api/v3/scan/status/%00", None),
        ("get", "/api/v3/scan/jobs?limit=1e9", None),
        ("post", "/api/v3/scan/x/cancel", None),
        ("get", "/api/v3/domains/x/contacts?format=csv", None),
    ],
)
def test_no_error_carries_a_stack_trace(api, method, path, body):
    response = getattr(api, method)(path, data=body, content_type="application/json")

    assert 400 <= response.status_code < 500
    assert set(response.get_json()["error"]) == {"code", "message"}
    assert "Traceback" not in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
