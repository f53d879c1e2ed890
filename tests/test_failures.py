"""Download failures and close reasons in a user's words."""

import pytest
from scrapy import exceptions as scrapy_errors
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as net

from emailscan.extensions import outcome
from emailscan.failures import describe_failure
from emailscan.middlewares import BlockedAddressError
from emailscan.models import TaskStatus

URL = "https://acme.com/contact"


@pytest.mark.parametrize(
    ("exception", "words"),
    [
        (scrapy_errors.CannotResolveHostError("x"), "could not find acme.com"),
        (net.DNSLookupError("x"), "could not find acme.com"),
        (scrapy_errors.DownloadConnectionRefusedError("x"), "acme.com refused the connection"),
        (net.ConnectionRefusedError(), "acme.com refused the connection"),
        (scrapy_errors.DownloadTimeoutError("x"), "acme.com did not answer in time"),
        (net.TimeoutError(), "acme.com did not answer in time"),
        (scrapy_errors.ResponseDataLossError("x"), "without a complete answer"),
        (HttpError(Response(URL, status=403), "x"), "acme.com answered HTTP 403"),
        (
            BlockedAddressError("refused to connect to 10.0.0.5 (private network address)"),
            "refused to connect to 10.0.0.5 (private network address)",
        ),
        (ValueError("odd"), "could not fetch https://acme.com/contact: odd"),
    ],
)
def test_describe_failure(exception, words):
    assert words in describe_failure(exception, URL)


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
