"""The OpenAPI 3.1 document of the API, generated from the pydantic models in statusapi.schemas."""

from __future__ import annotations

import functools

from pydantic import BaseModel

from statusapi import schemas

REF = "#/components/schemas/{model}"
_MODELS: tuple[tuple[type[BaseModel], str], ...] = (
    (schemas.EmailScanRequest, "validation"),
    (schemas.ScanAccepted, "serialization"),
    (schemas.JobStatusResponse, "serialization"),
    (schemas.JobList, "serialization"),
    (schemas.ContactList, "serialization"),
    (schemas.Health, "serialization"),
    (schemas.ErrorResponse, "serialization"),
)
_ERRORS = {
    400: "Bad input: invalid JSON, domain, id or parameter",
    401: "An API key is required (when any exist) or the one sent is not valid",
    404: "No such job or domain, or not the caller's",
    409: "The job is finished, or another user's scan of the domain is running",
    413: "The body is larger than the API accepts (payload_too_large)",
    415: "The body is declared as something other than JSON, or is compressed "
    "(unsupported_media_type); a body without Content-Type is read as JSON",
    422: "The body does not match the schema",
    500: "Unexpected error (internal_error)",
    503: "The database or the crawler service (scrapyd) is unavailable",
}


@functools.cache
def document() -> dict:
    """Built once per process: the models do not change while it runs."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "emailscan status API",
            "version": "3",
            "description": "Start scans of company websites for contact email addresses, "
            "follow their progress and read the addresses found.",
        },
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
    }


def _schemas() -> dict:
    found = {}
    for model, mode in _MODELS:
        schema = model.model_json_schema(ref_template=REF, mode=mode)
        found.update(schema.pop("$defs", {}))
        found[model.__name__] = schema
    return found


_UUID = {"type": "string", "format": "uuid"}


def _paths() -> dict:
    return {
        "/api/v3/scan/website": {"post": _scan_operation()},
        **_job_paths(_parameter("job_id", "path", _UUID)),
        "/api/v3/scan/jobs": {"get": _jobs_operation()},
        "/api/v3/domains/{domain_id}/contacts": {
            "get": _contacts_operation(_parameter("domain_id", "path", _UUID))
        },
        "/api/v3/health": {
            "get": _operation(
                "Database and scrapyd health",
                {200: ("Up (ok or degraded)", "Health"), 503: ("Down", "Health")},
                (),
                secured=False,
            )
        },
        "/api/v3/openapi.json": {
            "get": _operation("This document", {200: ("OpenAPI 3.1", None)}, (), secured=False)
        },
    }


def _job_paths(job_id: dict) -> dict:
    status = _operation(
        "Status, progress and results of a job (poll it; see Retry-After)",
        {200: ("The job", "JobStatusResponse")},
        (400, 401, 404, 503),
        parameters=[job_id],
    )
    cancel = _operation(
        "Cancel a job; the addresses found so far are kept",
        {202: ("Cancelled; the crawl, if running, is being stopped", "JobStatusResponse")},
        (400, 401, 404, 409, 503),
        parameters=[job_id],
    )
    return {
        "/api/v3/scan/status/{job_id}": {"get": status},
        "/api/v3/scan/{job_id}/cancel": {"post": cancel},
    }


def _scan_operation() -> dict:
    operation = _operation(
        "Start a scan of a website (or get the one already running for it)",
        {
            202: ("Scan scheduled; Location is its status URL", "ScanAccepted"),
            200: ("A scan of this domain is already active: that job", "ScanAccepted"),
        },
        (400, 401, 404, 409, 413, 415, 422, 503),
    )
    operation["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": REF.format(model="EmailScanRequest")}}},
    }
    operation["responses"]["202"]["headers"] = {
        "Location": {"schema": {"type": "string"}, "description": "The status URL"}
    }
    return operation


def _jobs_operation() -> dict:
    owner = _parameter("user_id", "query", _UUID)
    owner["description"] = "Whose jobs, when the API runs without API keys (ignored with keys)"
    return _operation(
        "The caller's jobs, newest first",
        {200: ("A page of jobs", "JobList")},
        (400, 401, 503),
        parameters=[*_query_parameters(schemas.JobListQuery), owner],
    )


def _query_parameters(model: type[BaseModel]) -> list[dict]:
    """One optional parameter per field, from the model that validates them: no second copy."""
    schema = model.model_json_schema(ref_template=REF, mode="validation")
    parameters = []
    for name, field in schema["properties"].items():
        field.pop("title", None)
        if field.get("default", 0) is None:
            del field["default"]  # "not given", which a query parameter says by its absence
        branches = [branch for branch in field.pop("anyOf", ()) if branch != {"type": "null"}]
        field.update(branches[0] if len(branches) == 1 else {"anyOf": branches} if branches else {})
        parameters.append(_parameter(name, "query", field))
    return parameters


def _contacts_operation(domain_id: dict) -> dict:
    operation = _operation(
        "Every address ever found on a domain the caller has scanned",
        {200: ("The contacts", "ContactList")},
        (400, 401, 404, 503),
        parameters=[domain_id, _parameter("format", "query", {"enum": ["json", "csv"]})],
    )
    operation["responses"]["200"]["content"]["text/csv"] = {"schema": {"type": "string"}}
    return operation


def _operation(summary, responses, errors, parameters=(), secured=True) -> dict:
    operation = {"summary": summary, "responses": {}}
    for status, (description, model) in responses.items():
        schema = {"$ref": REF.format(model=model)} if model else {"type": "object"}
        operation["responses"][str(status)] = {
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    # No `default`: every status the API answers is listed, so a new one fails the fuzz tests.
    for status in (*errors, 500):
        operation["responses"][str(status)] = _error(_ERRORS[status])
    if parameters:
        operation["parameters"] = list(parameters)
    if not secured:
        operation["security"] = []
    return operation


def _error(description: str) -> dict:
    schema = {"$ref": REF.format(model="ErrorResponse")}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _parameter(name: str, where: str, schema: dict) -> dict:
    return {"name": name, "in": where, "required": where == "path", "schema": schema}
