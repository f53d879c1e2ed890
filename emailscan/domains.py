"""What a user typed as a site (host or URL) -> the site to crawl and the key it is stored under."""

from __future__ import annotations

import dataclasses
import functools
import re
from urllib.parse import urlsplit

import tldextract

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
# `name://` starts a URL; so does `name:` (no dots: not a host) unless a port (`localhost:8080`)
# or a password (`user:pw@acme.com`) follows: `data:text/html,...`, `javascript:...`.
_SCHEME = re.compile(
    r"([a-z][a-z0-9+.-]*)://|([a-z][a-z0-9+-]*):(?!\d*(?:[/?#]|$))(?![^/?#]*@)", re.IGNORECASE
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


class InvalidDomain(ValueError):
    """The text is not a host name or an http(s) URL of one."""


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    host: str  # lowercase, IDNA (ASCII) form, no trailing dot
    port: int | None = None
    scheme: str | None = None  # None: try https, then http
    path: str = "/"

    @property
    def key(self) -> str:
        """How the site is stored in `domains`: host without `www.`, plus a non-default port."""
        host = self.host.removeprefix("www.")
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{self.port}" if self.port else host

    @property
    def registrable_domain(self) -> str:
        return registrable_domain(self.host)

    def url(self, scheme: str, path: str | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        netloc = f"{host}:{self.port}" if self.port else host
        return f"{scheme}://{netloc}{self.path if path is None else path}"

    @property
    def start_urls(self) -> list[str]:
        """The URLs to try in order: the given scheme, or https then http."""
        schemes = [self.scheme] if self.scheme else ["https", "http"]
        return [self.url(scheme) for scheme in schemes]


def parse_target(text: str) -> Target:
    """Accept `acme.com`, `www.acme.com`, `https://acme.com/contact`, `http://127.0.0.1:8080`."""
    text = (text or "").strip()
    if not text:
        raise InvalidDomain("the domain is empty")
    match = _SCHEME.match(text)
    scheme = (match[1] or match[2]).lower() if match else None
    if scheme not in (None, "http", "https"):
        raise InvalidDomain(f"only http and https sites can be scanned, not {scheme}:")
    try:
        parts = urlsplit(text if scheme else f"//{text}")
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise InvalidDomain(f"{text!r} is not a valid site address ({exc})") from exc
    if parts.username or parts.password:
        raise InvalidDomain("a site address must not carry a user name or password")
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidDomain(f"invalid port in {text!r}") from exc
    host = normalise_host(parts.hostname or "")
    if port == _DEFAULT_PORTS.get(scheme or "https") or (scheme is None and port == 80):
        port = None
    return Target(host=host, port=port, scheme=scheme, path=_path(parts))


def _path(parts) -> str:
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def normalise_host(host: str) -> str:
    """Lowercase IDNA form of a host name or IP literal; InvalidDomain when it is neither."""
    host = host.strip().rstrip(".").lower()
    if not host:
        raise InvalidDomain("the domain has no host name")
    if ":" in host:
        return host  # IPv6 literal: judged by the network guard, not here
    try:
        # IDNA maps full-width digits and dots to ASCII, as browsers do: `１２７．０．０．１`.
        ascii_host = host.encode("idna").decode("ascii").rstrip(".")
    except UnicodeError as exc:
        raise InvalidDomain(f"{host!r} is not a valid host name") from exc
    if _looks_numeric(ascii_host):
        return ascii_host  # IPv4 literal in some notation: judged by the network guard
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise InvalidDomain(f"{host!r} is not a valid host name")
    if len(labels) < 2 and ascii_host != "localhost":
        raise InvalidDomain(f"{host!r} is not a full domain name (like acme.com)")
    return ascii_host


def _looks_numeric(host: str) -> bool:
    return all(part.isdigit() or part.startswith("0x") for part in host.split(".") if part)


@functools.cache
def _extractor() -> tldextract.TLDExtract:
    # The bundled public suffix list only: a crawl never fetches it at run time.
    # Private suffixes too: acme.github.io and evil.github.io are different sites.
    return tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
    )


@functools.lru_cache(maxsize=4096)  # every item asks about the same site
def registrable_domain(host: str) -> str:
    """`shop.acme.co.uk` -> `acme.co.uk`; hosts without one (IPs, localhost) stay as they are."""
    extracted = _extractor()(host)
    return extracted.top_domain_under_public_suffix or host


def is_same_site(email_domain: str, site_host: str) -> bool:
    """Does an address's domain belong to the site's registrable domain?"""
    try:
        domain = normalise_host(email_domain)
    except InvalidDomain:
        return False
    site = registrable_domain(site_host)
    return domain == site or domain.endswith("." + site)
