"""Request and response helpers shared by the blueprints."""

from __future__ import annotations

import json
import uuid

from flask import current_app, request
from flask.wrappers import Response
from pydantic import BaseModel

from statusapi.errors import ApiError
from statusapi.services import Services


def services() -> Services:
    return current_app.extensions["emailscan"]


def json_body() -> object:
    """The request's JSON, whatever its Content-Type says; 400 `invalid_json` otherwise."""
    data = request.get_data(cache=True)
    if not data.strip():
        raise ApiError(400, "invalid_json", "The request body is empty: send a JSON object.")
    try:
        body = json.loads(data)
    except ValueError as exc:  # UnicodeDecodeError included
        raise ApiError(400, "invalid_json", f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    return body


def respond(model: BaseModel, status: int = 200, headers: dict | None = None) -> Response:
    """Serialise with pydantic (datetimes as ISO 8601 UTC, UUIDs as strings)."""
    response = current_app.response_class(
        model.model_dump_json(), status=status, mimetype="application/json"
    )
    response.headers.update(headers or {})
    return response


def parse_uuid(text: str, code: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ApiError(400, code, f"{name} must be a UUID, not {text[:64]!r}.") from None
