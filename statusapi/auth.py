"""Who is calling: API keys when any exist, else an open API where the request names the user."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
import uuid

import sqlalchemy as sa
from flask import current_app, g, request

from emailscan import store
from emailscan.models import SYSTEM_USER_ID
from statusapi.errors import ApiError

_MAX_CACHED_KEYS = 10_000


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    user_id: uuid.UUID
    authenticated: bool  # False: the API is open (no keys) and ownership is not enforced

    def owner_filter(self) -> uuid.UUID | None:
        """The user whose jobs this caller may see by id; None: any (open API)."""
        return self.user_id if self.authenticated else None


class ApiKeys:
    """Key checks cached for a few seconds: the status poll is the hot path.

    A revoked key keeps working for at most `ttl` seconds.
    """

    def __init__(self, engine: sa.Engine, ttl: float):
        self.engine = engine
        self.ttl = ttl
        self._lock = threading.Lock()
        self._exist: tuple[float, bool] | None = None
        self._owners: dict[bytes, tuple[float, uuid.UUID | None]] = {}

    def required(self) -> bool:
        now = time.monotonic()
        cached = self._exist
        if cached is None or cached[0] <= now:
            cached = (now + self.ttl, bool(store.api_keys_exist(self.engine)))
            self._exist = cached
        return cached[1]

    def owner(self, secret: str) -> uuid.UUID | None:
        now = time.monotonic()
        digest = hashlib.sha256(secret.encode()).digest()  # no secrets kept in memory
        cached = self._owners.get(digest)
        if cached is None or cached[0] <= now:
            cached = (now + self.ttl, store.user_for_api_key(self.engine, secret))
            with self._lock:
                if len(self._owners) >= _MAX_CACHED_KEYS:
                    self._owners.clear()  # many bad keys: start over rather than grow
                self._owners[digest] = cached
        return cached[1]


def load_caller() -> None:
    """before_request of the protected blueprints: sets `g.caller` or answers 401."""
    if request.method == "OPTIONS":
        return  # CORS preflights carry no credentials
    keys: ApiKeys = current_app.extensions["emailscan"].keys
    if not keys.required():
        g.caller = Caller(_requested_user(), authenticated=False)
        return
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    owner = keys.owner(secret.strip()) if scheme.lower() == "bearer" and secret.strip() else None
    if owner is None:
        raise ApiError(
            401,
            "unauthorized",
            "A valid API key is required: send `Authorization: Bearer <key>`.",
            {"WWW-Authenticate": 'Bearer realm="emailscan"'},
        )
    g.caller = Caller(owner, authenticated=True)


def _requested_user() -> uuid.UUID:
    """The open API's user: `?user_id=` on reads (the body's on a scan), else the system user."""
    text = request.args.get("user_id")
    if not text:
        return SYSTEM_USER_ID
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ApiError(400, "invalid_parameter", "user_id must be a UUID.") from None


def caller() -> Caller:
    return g.caller


def visible_domain(domain_id: uuid.UUID) -> str:
    """The host of a domain the caller may use: with API keys, one it has scanned before."""
    engine = current_app.extensions["emailscan"].engine
    host = store.get_domain(engine, domain_id)
    who = caller()
    if host is None or (
        who.authenticated and not store.user_has_domain(engine, who.user_id, domain_id)
    ):
        raise ApiError(404, "domain_not_found", f"No known domain has the id {domain_id}.")
    return host
