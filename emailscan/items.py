"""The item a crawl yields: one address seen on one page."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(slots=True)
class EmailItem:
    email: str
    source_url: str
    domain: str  # the scanned site, as stored in `domains`
    on_domain: bool = False  # the address belongs to the site's registrable domain
    kind: str = "personal"  # "role" for info@, sales@, support@ and the like
    job_id: str | None = None
