"""Download failures in words a user understands, for a job's `error`."""

from __future__ import annotations

from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as net
from twisted.web._newclient import ResponseNeverReceived

_CONNECTION_WORDS = (
    ((net.DNSLookupError,), "could not find {host}: the domain name does not resolve"),
    ((net.ConnectionRefusedError,), "{host} refused the connection"),
    (
        (net.TimeoutError, net.TCPTimedOutError),
        "{host} did not answer in time",
    ),
    ((net.ConnectionLost, ResponseNeverReceived), "{host} closed the connection without answering"),
    ((net.NoRouteError, net.ConnectError), "could not connect to {host}"),
)


def describe_failure(exception: BaseException, url: str) -> str:
    """One sentence for why `url` could not be fetched."""
    host = urlsplit(url).hostname or url
    if isinstance(exception, HttpError):
        status = exception.response.status
        return f"{host} answered HTTP {status} for {url}"
    for types, words in _CONNECTION_WORDS:
        if isinstance(exception, types):
            return words.format(host=host)
    if "SSL" in type(exception).__name__ or "TLS" in str(exception):
        return f"{host} has no working HTTPS (TLS handshake failed)"
    if isinstance(exception, IgnoreRequest) and str(exception):
        return str(exception)
    return f"could not fetch {url}: {exception or type(exception).__name__}"
