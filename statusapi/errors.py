"""Every error as JSON `{"error": {"code", "message"}}`, never a stack trace."""

from __future__ import annotations

import logging

import pydantic
import sqlalchemy as sa
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from statusapi.scrapyd import ScrapydError

logger = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    """An answer for the caller: HTTP status, a stable code and a message in a user's words."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def validation_message(exc: pydantic.ValidationError) -> str:
    """`domain: Field required; max_pages: Input should be less than or equal to 10000`."""
    parts = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "body"
        parts.append(f"{field}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def init_app(app: Flask) -> None:
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(sa.exc.OperationalError, _database_unavailable)
    app.register_error_handler(sa.exc.InterfaceError, _database_unavailable)
    app.register_error_handler(sa.exc.TimeoutError, _database_unavailable)
    app.register_error_handler(sa.exc.DBAPIError, _database_error)
    app.register_error_handler(ScrapydError, _scheduler_unavailable)
    app.register_error_handler(Exception, _internal_error)


def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.headers)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status < 400:  # routing redirects are answers, not errors
        return exc.get_response()
    code = _HTTP_CODES.get(status) or (exc.name or "error").lower().replace(" ", "_")
    headers = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)
    return error_response(status, code, exc.description or exc.name, headers)


def _database_unavailable(exc: Exception) -> Response:
    logger.error("Database unavailable: %s", exc)
    return error_response(
        503, "database_unavailable", "The database is unavailable. Please try again shortly."
    )


def _database_error(exc: sa.exc.DBAPIError) -> Response:
    # A dropped connection surfaces as a plain DBAPIError with connection_invalidated set.
    if exc.connection_invalidated:
        return _database_unavailable(exc)
    return _internal_error(exc)


def _scheduler_unavailable(exc: ScrapydError) -> Response:
    logger.error("scrapyd unavailable: %s", exc)
    return error_response(
        503, "scheduler_unavailable", "The crawler service is unavailable. Please try again."
    )


def _internal_error(exc: Exception) -> Response:
    logger.exception("Unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "Something went wrong on our side.")
