"""GET /api/v3/domains/{id}/contacts: every address ever found on a domain, as JSON or CSV."""

from __future__ import annotations

import csv
import io
import uuid

from flask import Blueprint, Response, request

from emailscan import store
from statusapi.auth import load_caller, visible_domain
from statusapi.errors import ApiError
from statusapi.schemas import Contact, ContactList
from statusapi.web import parse_uuid, respond, services

CSV_HEADER = (
    "email",
    "kind",
    "on_domain",
    "first_seen_at",
    "last_seen_at",
    "sightings",
    "source_urls",
)
# A cell starting with one of these is a formula to a spreadsheet, and sites choose what we find.
# https://owasp.org/www-community/attacks/CSV_Injection
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

bp = Blueprint("contacts", __name__, url_prefix="/api/v3/domains")
bp.before_request(load_caller)


@bp.get("/<domain_id>/contacts")
def domain_contacts(domain_id: str):
    output = request.args.get("format", "json").lower()
    if output not in ("json", "csv"):
        raise ApiError(400, "invalid_parameter", "format must be json or csv.")
    domain_id = parse_uuid(domain_id, "invalid_domain_id", "The domain id")
    host = visible_domain(domain_id)
    contacts = store.domain_contacts(services().engine, domain_id)
    if output == "csv":
        return _csv_response(domain_id, contacts)
    listed = [Contact.model_validate(contact) for contact in contacts]
    return respond(ContactList(domain_id=domain_id, domain=host, contacts=listed))


def _csv_response(domain_id: uuid.UUID, contacts: list[dict]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for contact in contacts:
        writer.writerow(_csv_row(contact))
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="contacts-{domain_id}.csv"'},
    )


def _csv_row(contact: dict) -> list[str]:
    row = [
        contact["email"],
        contact["kind"],
        "true" if contact["on_domain"] else "false",
        contact["first_seen_at"].isoformat(),
        contact["last_seen_at"].isoformat(),
        str(contact["sightings"]),
        " ".join(contact["source_urls"]),
    ]
    return [f"'{cell}" if cell.startswith(_FORMULA_STARTS) else cell for cell in row]
