"""Download failures in words a user understands, for a job's `error`."""

from __future__ import annotations

from urllib.parse import urlsplit

from scrapy import exceptions as scrapy_errors
from scrapy.exceptions import IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as net
from twisted.web._newclient import ResponseNeverReceived

# Scrapy >= 2.19 wraps Twisted's errors in its own; both are listed, the wrappers first.
_CONNECTION_WORDS = (
    (
        (scrapy_errors.CannotResolveHostError, net.DNSLookupError),
        "could not find {host}: the domain name does not resolve",
    ),
    (
        (scrapy_errors.DownloadConnectionRefusedError, net.ConnectionRefusedError),
        "{host} refused the connection",
    ),
    (
        (scrapy_errors.DownloadTimeoutError, net.TimeoutError, net.TCPTimedOutError),
        "{host} did not answer in time",
    ),
    (
        (scrapy_errors.ResponseDataLossError, net.ConnectionLost, ResponseNeverReceived),
        "{host} closed the connection without a complete answer",
    ),
    (
        (scrapy_errors.DownloadFailedError, net.NoRouteError, net.ConnectError),
        "could not connect to {host}",
    ),
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
        return str(exception).rstrip(".")
    return f"could not fetch {url}: {exception or type(exception).__name__}"
