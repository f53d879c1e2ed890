"""GET /api/v3/health and /api/v3/openapi.json: open to all, for load balancers and tooling."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify

from emailscan import store
from statusapi import openapi
from statusapi.schemas import Health, NodeHealth
from statusapi.web import respond, services

logger = logging.getLogger(__name__)

bp = Blueprint("meta", __name__, url_prefix="/api/v3")


@bp.get("/health")
def health():
    """503 when the database or every scrapyd node is down; "degraded" when only some are."""
    database = _database_status()
    nodes = [_node_health(node, answer) for node, answer in services().scrapyd.daemonstatus()]
    up = sum(node.status == "ok" for node in nodes)
    if database != "ok" or not up:
        status = "unavailable"
    else:
        status = "ok" if up == len(nodes) else "degraded"
    body = Health(status=status, database=database, scrapyd=nodes)
    return respond(body, 503 if status == "unavailable" else 200)


def _database_status() -> str:
    try:
        store.ping(services().engine)
    except Exception as exc:  # noqa: BLE001 - any failure means "down" here
        logger.error("Health check: database unavailable: %s", exc)
        return "unavailable"
    return "ok"


def _node_health(node: str, answer) -> NodeHealth:
    if isinstance(answer, Exception):
        logger.error("Health check: scrapyd %s unavailable: %s", node, answer)
        return NodeHealth(node=node, status="unavailable")
    return NodeHealth(
        node=node, status="ok", running=answer.get("running"), pending=answer.get("pending")
    )


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(openapi.document())
