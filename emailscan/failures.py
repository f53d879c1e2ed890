"""Download failures in words a user understands, for a job's `error`."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import urlsplit

from OpenSSL import SSL
from scrapy import exceptions as scrapy_errors
from scrapy.exceptions import IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import defer
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


# Scrapy cancels a download for one reason: a body larger than DOWNLOAD_MAXSIZE.
_CANCELLED = (scrapy_errors.DownloadCancelledError, defer.CancelledError)
# IgnoreRequest messages of Scrapy's own middlewares, which have no exception class of their own.
_IGNORED_WORDS = {
    "max redirections reached": "{url} redirects too many times",
    "Forbidden by robots.txt": "the robots.txt of {host} does not allow {url}",
}


def describe_failure(exception: BaseException, url: str) -> str:
    """One sentence for why `url` could not be fetched."""
    host = urlsplit(url).hostname or url
    if isinstance(exception, HttpError):
        return f"{host} answered HTTP {_status_words(exception.response.status)} for {url}"
    if isinstance(exception, _CANCELLED):
        return f"{url} is larger than the download size limit"
    if hasattr(exception.__cause__, "decompressed_size"):  # HttpCompressionMiddleware's limit
        return f"{url} is larger than the download size limit once decompressed"
    if _is_tls_failure(exception):
        return f"{host} has no working HTTPS (TLS handshake failed)"
    for types, words in _CONNECTION_WORDS:
        if isinstance(exception, types):
            return words.format(host=host)
    message = str(exception).strip().rstrip(".")
    if isinstance(exception, IgnoreRequest) and message in _IGNORED_WORDS:
        return _IGNORED_WORDS[message].format(host=host, url=url)
    if isinstance(exception, IgnoreRequest) and message:
        return message
    return f"could not fetch {url}: {message or type(exception).__name__}"


def _is_tls_failure(exception: BaseException) -> bool:
    """A TLS error, also inside Twisted's ResponseFailed (its `reasons`) and Scrapy's wrappers.

    By type only: a timeout's message names its URL, which may well contain "TLS".
    """
    causes = [exception, exception.__cause__]
    for cause in causes[:]:
        causes += [reason.value for reason in getattr(cause, "reasons", None) or ()]
    names = (type(cause).__name__ for cause in causes)
    return any(isinstance(cause, SSL.Error) for cause in causes) or any(
        "SSL" in name or "TLS" in name for name in names
    )


def _status_words(status: int) -> str:
    try:
        return f"{status} ({HTTPStatus(status).phrase})"
    except ValueError:
        return str(status)
