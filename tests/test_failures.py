"""Download failures and close reasons in a user's words."""

import pytest
from OpenSSL import SSL
from scrapy import exceptions as scrapy_errors
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils._compression import _DecompressionMaxSizeExceeded
from twisted.internet import defer
from twisted.internet import error as net
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed

from emailscan.extensions import outcome
from emailscan.failures import describe_failure
from emailscan.middlewares import BlockedAddressError
from emailscan.models import TaskStatus

URL = "https://acme.com/contact"


def caused_by(exception: BaseException, cause: BaseException) -> BaseException:
    exception.__cause__ = cause
    return exception


def tls_failure() -> ResponseFailed:
    """What Twisted reports when the server answers a ClientHello with something else."""
    try:
        raise SSL.Error([("SSL routines", "", "wrong version number")])
    except SSL.Error:
        return ResponseFailed([Failure()])


@pytest.mark.parametrize(
    ("exception", "words"),
    [
        (scrapy_errors.CannotResolveHostError("x"), "could not find acme.com"),
        (net.DNSLookupError("x"), "could not find acme.com"),
        (scrapy_errors.DownloadConnectionRefusedError("x"), "acme.com refused the connection"),
        (net.ConnectionRefusedError(), "acme.com refused the connection"),
        (scrapy_errors.DownloadTimeoutError("x"), "acme.com did not answer in time"),
        (
            scrapy_errors.DownloadTimeoutError("Getting https://acme.com/TLS-setup took longer"),
            "acme.com did not answer in time",
        ),
        (net.TimeoutError(), "acme.com did not answer in time"),
        (scrapy_errors.ResponseDataLossError("x"), "without a complete answer"),
        (HttpError(Response(URL, status=403), "x"), "acme.com answered HTTP 403 (Forbidden)"),
        (HttpError(Response(URL, status=429), "x"), "HTTP 429 (Too Many Requests) for https:"),
        (HttpError(Response(URL, status=599), "x"), "acme.com answered HTTP 599 for https:"),
        # DOWNLOAD_MAXSIZE: the declared length (message) or the bytes received (no message).
        (scrapy_errors.DownloadCancelledError("Expected to receive 10 bytes"), "larger than the"),
        (scrapy_errors.DownloadCancelledError(), "contact is larger than the download size limit"),
        (defer.CancelledError(), "contact is larger than the download size limit"),
        (
            caused_by(IgnoreRequest("Ignored <200>"), _DecompressionMaxSizeExceeded(6, 5)),
            "contact is larger than the download size limit once decompressed",
        ),
        (IgnoreRequest("max redirections reached"), "acme.com/contact redirects too many times"),
        (IgnoreRequest("Forbidden by robots.txt"), "robots.txt of acme.com does not allow https:"),
        (IgnoreRequest("braces {0} are not a template"), "braces {0} are not a template"),
        (
            caused_by(scrapy_errors.DownloadFailedError("x"), tls_failure()),
            "acme.com has no working HTTPS (TLS handshake failed)",
        ),
        (
            BlockedAddressError("refused to connect to 10.0.0.5 (private network address)"),
            "refused to connect to 10.0.0.5 (private network address)",
        ),
        (ValueError("odd"), "could not fetch https://acme.com/contact: odd"),
        (ValueError(), "could not fetch https://acme.com/contact: ValueError"),
    ],
)
def test_describe_failure(exception, words):
    assert words in describe_failure(exception, URL)


@pytest.mark.parametrize(
    "exception",
    [ValueError("Trailing stop."), scrapy_errors.DownloadCancelledError("In request <GET x>.")],
)
def test_described_failures_end_without_a_stop_the_job_error_adds_one(exception):
    assert not describe_failure(exception, URL).endswith(".")


@pytest.mark.parametrize(
    ("reason", "pages", "status", "words"),
    [
        ("finished", 12, TaskStatus.COMPLETE, None),
        ("page_limit", 500, TaskStatus.COMPLETE, None),
        ("closespider_timeout", 40, TaskStatus.COMPLETE, None),
        ("finished", 0, TaskStatus.FAILED, "could not be crawled: acme.com refused"),
        ("shutdown", 3, TaskStatus.CANCELLED, "cancelled"),
        ("shutdown", 0, TaskStatus.CANCELLED, "cancelled"),
        ("memusage_exceeded", 80, TaskStatus.FAILED, "ran out of memory after 80 pages"),
        ("odd_reason", 5, TaskStatus.FAILED, "stopped unexpectedly (odd_reason)"),
    ],
)
def test_outcome(reason, pages, status, words):
    got_status, error = outcome(reason, pages, ["acme.com refused the connection"])
    assert got_status is status
    if words is None:
        assert error is None
    else:
        assert words in error


def test_outcome_without_recorded_errors_still_explains():
    assert "no page of the site could be fetched" in outcome("finished", 0, [])[1]
