"""Request and response helpers shared by the blueprints."""

from __future__ import annotations

import json
import re
import uuid

from flask import current_app, request
from flask.wrappers import Response
from pydantic import BaseModel

from statusapi.errors import ApiError
from statusapi.services import Services

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def services() -> Services:
    return current_app.extensions["emailscan"]


def json_body() -> dict:
    """The request's JSON object, or an ApiError: 413 (too large), 415 (not JSON), 400 otherwise.

    A body without Content-Type is read as JSON; one declared as anything else (curl -d's default
    application/x-www-form-urlencoded too) is refused rather than guessed at.
    """
    data = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: werkzeug raises 413 here
    _require_json_media_type()
    if not data.strip():
        raise ApiError(400, "invalid_json", "The request body is empty: send a JSON object.")
    try:
        # Decoded strictly: json.loads(bytes) would let UTF-8-encoded surrogates through.
        text = data.decode(json.detect_encoding(data))
        body = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:
        raise ApiError(400, "invalid_json", "The request body is nested too deeply.") from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise ApiError(400, "invalid_json", f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    return body


def _require_json_media_type() -> None:
    """415 for a body declared as anything but JSON, or compressed (RFC 9110 section 15.5.16)."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        message = f"Content-Encoding {encoding[:64]!r} is not supported: send the JSON as it is."
        raise ApiError(415, "unsupported_media_type", message, {"Accept-Encoding": "identity"})
    if not request.headers.get("Content-Type", "").strip() or request.is_json:
        return  # is_json: application/json or application/*+json, whatever the parameters
    raise ApiError(
        415,
        "unsupported_media_type",
        f"The request body must be JSON (Content-Type: application/json), "
        f"not {request.mimetype[:64] or request.content_type[:64]!r}.",
    )


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    # Parsers disagree on which of two equal keys wins: refuse rather than pick one.
    body = {}
    for key, value in pairs:
        if key in body:
            raise ValueError(f"the key {key[:64]!r} appears more than once")
        body[key] = value
    return body


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def respond(model: BaseModel, status: int = 200, headers: dict | None = None) -> Response:
    """Serialise with pydantic (datetimes as ISO 8601 UTC, UUIDs as strings)."""
    response = current_app.response_class(
        model.model_dump_json(), status=status, mimetype="application/json"
    )
    response.headers.update(headers or {})
    return response


def parse_uuid(text: str, code: str, name: str) -> uuid.UUID:
    """Only the canonical form: uuid.UUID also takes braces, `urn:uuid:`, signs and underscores."""
    if not _UUID.fullmatch(text):
        raise ApiError(400, code, f"{name} must be a UUID, not {text[:64]!r}.")
    return uuid.UUID(text)
