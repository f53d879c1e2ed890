"""Downloader middlewares: the SSRF guard (settings.py wires it; see the comments there)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest, NotConfigured
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import load_object
from twisted.internet.error import DNSLookupError

from emailscan.netguard import (
    WEB_PORTS,
    address_refusal,
    is_localhost_name,
    parse_ip_literal,
    port_refusal,
    refusal_message,
)
from emailscan.resolver import GuardedResolver, configured_ports

if TYPE_CHECKING:
    from typing import Self
    from urllib.parse import ParseResult

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

__all__ = ["STATS_KEY", "BlockedAddressError", "PrivateNetworkGuardMiddleware"]

logger = logging.getLogger(__name__)

_ALLOWED_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Stats counter of refused requests (up front and at name resolution).
STATS_KEY = "emailscan/ssrf_blocked"


class BlockedAddressError(IgnoreRequest):
    """A request was refused because its target is not a globally routable
    address; ``str(error)`` is meant to be shown to users as is."""

    def __init__(self, message: str, url: str = ""):
        super().__init__(message)
        self.message = message
        self.url = url


class PrivateNetworkGuardMiddleware:
    """Refuse requests to non-public targets with a :exc:`BlockedAddressError`.

    Up front: non-http(s) schemes, proxied requests, IP literals in any
    notation, ``localhost`` names and ports other than ``EMAILSCAN_ALLOWED_PORTS``
    (default :data:`~emailscan.netguard.WEB_PORTS`).  Host names are checked when
    they are resolved, by :class:`~emailscan.resolver.GuardedResolver`; its refusal
    reaches us as a ``CannotResolveHostError`` that :meth:`process_exception`
    turns into the same error.  Redirects are new requests, so they come
    through here (and through the resolver) again.

    ``ALLOW_PRIVATE_NETWORKS`` switches all of it off, ports included: it is meant
    for local development and tests, whose sites listen on random loopback ports.
    """

    def __init__(self, crawler: Crawler, ports: frozenset[int] | None = WEB_PORTS):
        self.crawler = crawler
        self.ports = ports

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if crawler.settings.getbool("ALLOW_PRIVATE_NETWORKS"):
            raise NotConfigured("ALLOW_PRIVATE_NETWORKS is enabled")
        _check_download_handlers(crawler.settings)
        return cls(crawler, configured_ports(crawler.settings))

    def process_request(self, request: Request) -> None:
        message = _request_refusal(request, urlparse_cached(request), self.ports)
        if message:
            self._block(request, message)
        self._guarded_resolver()

    def process_exception(self, request: Request, exception: Exception) -> None:
        # HTTP11DownloadHandler wraps Twisted's DNSLookupError since Scrapy 2.19.
        if not isinstance(exception, (CannotResolveHostError, DNSLookupError)):
            return
        host = urlparse_cached(request).hostname
        message = self._guarded_resolver().refusal_for(host) if host else None
        if message:
            self._block(request, message)

    def _block(self, request: Request, message: str) -> None:
        assert self.crawler.stats
        self.crawler.stats.inc_value(STATS_KEY)
        logger.warning("Blocked %s: %s", request, message, extra={"crawler": self.crawler})
        raise BlockedAddressError(message, url=request.url)

    def _guarded_resolver(self) -> GuardedResolver:
        """Return the installed resolver, installing one if it does not guard.

        ``CrawlerRunner`` never installs ``TWISTED_DNS_RESOLVER``, and the
        settings may be wrong: fail closed rather than connect unchecked.
        """
        from twisted.internet import reactor

        resolver = reactor.nameResolver
        if isinstance(resolver, GuardedResolver) and not resolver.allow_private:
            return resolver
        logger.warning(
            "The installed name resolver (%r) does not refuse private networks; "
            "installing emailscan.resolver.GuardedResolver. Set TWISTED_DNS_RESOLVER "
            "and ALLOW_PRIVATE_NETWORKS in the project settings.",
            resolver,
            extra={"crawler": self.crawler},
        )
        resolver = GuardedResolver.from_crawler(self.crawler, reactor)
        resolver.allow_private = False
        resolver.install_on_reactor()
        return resolver


def _request_refusal(
    request: Request, parsed: ParseResult, ports: frozenset[int] | None
) -> str | None:
    if parsed.scheme not in _ALLOWED_SCHEMES:
        return f"refused to fetch {request.url} (URL scheme {parsed.scheme!r} is not allowed)"
    if request.meta.get("proxy"):
        return f"refused to fetch {request.url} through a proxy (proxies bypass the guard)"
    host = parsed.hostname
    if not host:
        return f"refused to fetch {request.url} (no host)"
    return _literal_refusal(host) or _port_refusal(request, parsed, ports)


def _literal_refusal(host: str) -> str | None:
    """IP literals (any notation) and localhost names: judged without a lookup."""
    ip = parse_ip_literal(host)
    if ip is not None:
        reason = address_refusal(ip)
        return refusal_message(ip, reason, host) if reason else None
    if is_localhost_name(host):
        return refusal_message(host, "loopback host name")
    return None


def _port_refusal(
    request: Request, parsed: ParseResult, ports: frozenset[int] | None
) -> str | None:
    try:
        port = parsed.port
    except ValueError:
        return f"refused to fetch {request.url} (invalid port)"
    if port is None:  # not `or`: an explicit port 0 is judged, not taken for the default
        port = _DEFAULT_PORTS[parsed.scheme]
    reason = port_refusal(port, ports)
    return f"refused to fetch {request.url}: {reason}" if reason else None


def _check_download_handlers(settings: BaseSettings) -> None:
    """Only HTTP11DownloadHandler connects through the reactor's name
    resolver; the aiohttp/httpx handlers resolve on their own, unchecked."""
    if not settings.getbool("TWISTED_REACTOR_ENABLED"):
        raise RuntimeError("The private network guard requires TWISTED_REACTOR_ENABLED = True")
    handlers = settings.getwithbase("DOWNLOAD_HANDLERS")
    for scheme in sorted(_ALLOWED_SCHEMES):
        path = handlers.get(scheme)
        handler = load_object(path) if path else None
        if not (isinstance(handler, type) and issubclass(handler, HTTP11DownloadHandler)):
            raise RuntimeError(
                f"The private network guard only covers HTTP11DownloadHandler, "
                f"but DOWNLOAD_HANDLERS[{scheme!r}] is {path!r}"
            )
