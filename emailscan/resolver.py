"""Connection-time SSRF guard: a Twisted name resolver that only hands out
globally routable addresses.

How Scrapy 2.19 / Twisted 26 reach a host (asyncio reactor or not, the code
path is the same -- ``AsyncioSelectorReactor`` only swaps the event loop):

* Scrapy's ``HTTP11DownloadHandler`` uses ``twisted.web.client.Agent``, whose
  ``_StandardEndpointFactory.endpointForURI()`` builds a ``HostnameEndpoint``
  for every URL (``twisted/web/client.py``, ``endpointForURI``).
* ``HostnameEndpoint.connect()`` ALWAYS asks ``reactor.nameResolver`` -- even
  for IP literals, there is no short cut -- and then opens one
  ``TCP4ClientEndpoint``/``TCP6ClientEndpoint`` per address it was told about
  (``twisted/internet/endpoints.py``, ``HostnameEndpoint.connect``).
* Those endpoints receive numeric addresses, which ``tcp.Client`` does not
  resolve again (``isIPAddress``/``isIPv6Address`` in ``tcp.Client.__init__``).

So the addresses this resolver reports are exactly the addresses connected
to: checking them here defeats DNS rebinding, and the cache below only ever
holds checked answers (``test_resolver_alone_refuses_literals_and_names`` in
``tests/test_ssrf_crawl.py`` shows literals being refused here).  But
``reactor.resolve()`` and ``tcp.Client`` (``connectTCP`` with a host, as used
for proxies) DO short-cut IPv4 literals, which is one reason the downloader
middleware refuses literals (and proxies) up front.

This is an ``IHostnameResolver`` (IPv4 and IPv6, like Scrapy's
``CachingHostnameResolver``): Scrapy's default ``CachingThreadedResolver`` is
an IPv4-only ``IResolverSimple`` that Twisted wraps in
``SimpleResolverComplexifier``, which swallows ``DNSLookupError`` and reports
"no addresses" (``twisted/internet/_resolver.py``).  Either way a refusal
reaches Scrapy as "no results for hostname lookup", so the reason is kept for
:meth:`GuardedResolver.refusal_for`.

Scrapy installs the resolver named by ``TWISTED_DNS_RESOLVER`` (``DNS_RESOLVER``
is deprecated in 2.19) in ``CrawlerProcessBase._setup_reactor()``, from the
*process* settings; ``CrawlerRunner`` never installs one, which is why
:class:`~emailscan.middlewares.PrivateNetworkGuardMiddleware` checks for it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import attr
from scrapy.resolver import HostResolution
from scrapy.utils.datatypes import LocalCache
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import (
    IAddress,
    IHostnameResolver,
    IHostResolution,
    IResolutionReceiver,
)
from zope.interface import implementer

from emailscan.netguard import (
    WEB_PORTS,
    address_refusal,
    allowed_ports,
    port_refusal,
    refusal_message,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings
    from twisted.internet.interfaces import IReactorPluggableNameResolver

__all__ = ["PORTS_SETTING", "GuardedResolver", "configured_ports"]

#: The setting listing the ports a guarded crawl may connect to (``*``: any).
PORTS_SETTING = "EMAILSCAN_ALLOWED_PORTS"

logger = logging.getLogger(__name__)

_CacheKey = tuple[str, frozenset[type[IAddress]] | None, str]


def configured_ports(settings: BaseSettings) -> frozenset[int] | None:
    """The ports ``EMAILSCAN_ALLOWED_PORTS`` allows (default :data:`WEB_PORTS`); ``None``: any."""
    return allowed_ports(settings.getlist(PORTS_SETTING, sorted(WEB_PORTS)))


def _address_with_port(address: IAddress, port: int) -> IAddress:
    if getattr(address, "port", port) == port:
        return address
    return attr.evolve(address, port=port)


def _refusal(address: IAddress) -> str | None:
    if not isinstance(address, (IPv4Address, IPv6Address)):
        return "not an IP address"  # fail closed on anything unexpected
    try:
        return address_refusal(address.host)
    except ValueError:
        return "unparsable address"


@implementer(IHostnameResolver)
class GuardedResolver:
    """Filter every name resolution through :func:`~emailscan.netguard.address_refusal`.

    If any address of a name is refused the whole name is refused (no
    addresses are reported, so ``HostnameEndpoint`` fails with a
    ``DNSLookupError`` and nothing is connected to); the user-facing reason is
    kept for :meth:`refusal_for`, because that error cannot carry it.

    ``HostnameEndpoint`` asks with the port it will connect to, so a port
    outside *ports* (``EMAILSCAN_ALLOWED_PORTS``) is refused here too, without
    a lookup; port 0 is a bare name lookup (``reactor.resolve()``), not judged.

    Resolves IPv4 and IPv6 through the reactor's previous name resolver
    (``getaddrinfo`` in a thread).  Like Scrapy's ``CachingHostnameResolver``
    it does not honour ``DNS_TIMEOUT``; ``DOWNLOAD_TIMEOUT`` still applies.
    With ``ALLOW_PRIVATE_NETWORKS`` every address and every port is accepted.
    """

    def __init__(
        self,
        reactor: IReactorPluggableNameResolver,
        cache_size: int,
        allow_private: bool = False,
        ports: frozenset[int] | None = WEB_PORTS,
    ):
        self.reactor = reactor
        original = reactor.nameResolver
        if isinstance(original, GuardedResolver):  # never stack two caches
            original = original.original_resolver
        self.original_resolver: IHostnameResolver = original
        self.allow_private = allow_private
        self.ports = ports
        # Only accepted (i.e. checked) answers are stored; never shared with
        # scrapy.resolver.dnscache, which other resolvers fill unchecked.
        self._cache: LocalCache[_CacheKey, list[IAddress]] = LocalCache(cache_size)
        self._refusals: LocalCache[str, str] = LocalCache(10_000)

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: IReactorPluggableNameResolver) -> Self:
        settings = crawler.settings
        cache_size = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0
        allow = settings.getbool("ALLOW_PRIVATE_NETWORKS")
        return cls(reactor, cache_size, allow, configured_ports(settings))

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)

    def refusal_for(self, host: str) -> str | None:
        """The message for the last refused resolution of *host*, if it was refused."""
        return self._refusals.get(host.lower())

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[IAddress]] | None = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution:
        if portNumber and not self.allow_private:
            reason = port_refusal(portNumber, self.ports)
            if reason:
                self._refuse(hostName, f"refused to connect to {hostName}: {reason}")
                return _answer(resolutionReceiver, hostName, [])
        # addressTypes is part of the key: ComplexResolverSimplifier asks for
        # IPv4 only and asserts it gets no IPv6Address.
        types = None if addressTypes is None else frozenset(addressTypes)
        key: _CacheKey = (hostName.lower(), types, transportSemantics)
        cached = self._cache.get(key)
        if cached is None:
            return self.original_resolver.resolveHostName(
                _CheckingReceiver(self, resolutionReceiver, hostName, key),
                hostName,
                portNumber,
                addressTypes,
                transportSemantics,
            )
        addresses = [_address_with_port(address, portNumber) for address in cached]
        return _answer(resolutionReceiver, hostName, addresses)

    def _refuse(self, host: str, message: str) -> None:
        self._refusals[host.lower()] = message
        logger.info("Name resolution refused: %s", message)

    def _accept(self, host: str, addresses: list[IAddress], key: _CacheKey) -> list[IAddress]:
        if not self.allow_private:
            for address in addresses:
                reason = _refusal(address)
                if reason:
                    self._refuse(
                        host, refusal_message(getattr(address, "host", address), reason, host)
                    )
                    return []
        if addresses:
            self._refusals.pop(host.lower(), None)
            # Name resolution does not depend on the port: cache port-agnostic.
            self._cache[key] = [_address_with_port(address, 0) for address in addresses]
        return addresses


def _answer(receiver: IResolutionReceiver, host: str, addresses: list[IAddress]) -> IHostResolution:
    resolution = HostResolution(host)
    receiver.resolutionBegan(resolution)
    for address in addresses:
        receiver.addressResolved(address)
    receiver.resolutionComplete()
    return resolution


@implementer(IResolutionReceiver)
class _CheckingReceiver:
    """Hold the addresses back until the answer is complete, then pass on
    the accepted ones: ``HostnameEndpoint`` only connects after
    ``resolutionComplete()``, so buffering costs nothing."""

    def __init__(
        self,
        resolver: GuardedResolver,
        receiver: IResolutionReceiver,
        host: str,
        key: _CacheKey,
    ):
        self._resolver = resolver
        self._receiver = receiver
        self._host = host
        self._key = key
        self._addresses: list[IAddress] = []

    def resolutionBegan(self, resolution: IHostResolution) -> None:
        self._receiver.resolutionBegan(resolution)

    def addressResolved(self, address: IAddress) -> None:
        self._addresses.append(address)

    def resolutionComplete(self) -> None:
        for address in self._resolver._accept(self._host, self._addresses, self._key):
            self._receiver.addressResolved(address)
        self._receiver.resolutionComplete()
