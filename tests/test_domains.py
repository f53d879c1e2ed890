"""Parsing what users type as a site."""

import pytest

from emailscan.domains import InvalidDomain, is_same_site, parse_target, registrable_domain


@pytest.mark.parametrize(
    ("text", "key", "start_urls"),
    [
        ("example.com", "example.com", ["https://example.com/", "http://example.com/"]),
        (
            "  WWW.Example.COM. ",
            "example.com",
            ["https://www.example.com/", "http://www.example.com/"],
        ),
        ("https://example.com/contact", "example.com", ["https://example.com/contact"]),
        ("http://127.0.0.1:8080", "127.0.0.1:8080", ["http://127.0.0.1:8080/"]),
        ("http://[::1]:8080/x?a=1", "[::1]:8080", ["http://[::1]:8080/x?a=1"]),
        ("https://example.com:443/", "example.com", ["https://example.com/"]),
        (
            "münchen.de",
            "xn--mnchen-3ya.de",
            ["https://xn--mnchen-3ya.de/", "http://xn--mnchen-3ya.de/"],
        ),
        (
            "shop.example.co.uk",
            "shop.example.co.uk",
            ["https://shop.example.co.uk/", "http://shop.example.co.uk/"],
        ),
    ],
)
def test_parse_target(text, key, start_urls):
    target = parse_target(text)
    assert (target.key, target.start_urls) == (key, start_urls)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "ftp://example.com",
        "javascript:alert(1)",
        "foo",
        "exa mple.com",
        "-a.com",
        "http://user:pw@example.com",
        "http://[::1",
        "example..com",
        "http://example.com:99999",
        "a" * 300 + ".com",
    ],
)
def test_parse_target_rejects(text):
    with pytest.raises(InvalidDomain):
        parse_target(text)


@pytest.mark.parametrize(
    ("host", "registrable"),
    [
        ("shop.acme.co.uk", "acme.co.uk"),
        ("www.acme.com", "acme.com"),
        ("acme.github.io", "acme.github.io"),
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "localhost"),
    ],
)
def test_registrable_domain(host, registrable):
    assert registrable_domain(host) == registrable


@pytest.mark.parametrize(
    ("email_domain", "site", "same"),
    [
        ("acme.com", "www.acme.com", True),
        ("mail.acme.com", "acme.com", True),
        ("acme.com.evil.org", "acme.com", False),
        ("notacme.com", "acme.com", False),
        ("gmail.com", "acme.com", False),
        ("bücher.de", "www.xn--bcher-kva.de", True),
        ("", "acme.com", False),
    ],
)
def test_is_same_site(email_domain, site, same):
    assert is_same_site(email_domain, site) is same
