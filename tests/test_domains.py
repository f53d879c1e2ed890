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
        # A port is kept (the network guard judges it); a "scheme" that is a host is a host.
        ("example.com:22", "example.com:22", ["https://example.com:22/", "http://example.com:22/"]),
        ("acme.com:8080/x", "acme.com:8080", ["https://acme.com:8080/x", "http://acme.com:8080/x"]),
        ("HTTPS://acme.com", "acme.com", ["https://acme.com/"]),
        (
            "acme.com/?next=http://x",
            "acme.com",
            ["https://acme.com/?next=http://x", "http://acme.com/?next=http://x"],
        ),
        # IP literals in any notation stay as typed (the guard judges them), but full-width
        # digits and dots are mapped to ASCII, as IDNA and browsers do.
        ("0x7f.0.0.1", "0x7f.0.0.1", ["https://0x7f.0.0.1/", "http://0x7f.0.0.1/"]),
        ("http://2130706433/", "2130706433", ["http://2130706433/"]),
        ("127.0.0.1.", "127.0.0.1", ["https://127.0.0.1/", "http://127.0.0.1/"]),
        (
            "\uff11\uff12\uff17.\uff10.\uff10.\uff11",
            "127.0.0.1",
            ["https://127.0.0.1/", "http://127.0.0.1/"],
        ),
        (
            "\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11",
            "127.0.0.1",
            ["https://127.0.0.1/", "http://127.0.0.1/"],
        ),
        ("\u00b9\u00b2\u2077.0.0.1", "127.0.0.1", ["https://127.0.0.1/", "http://127.0.0.1/"]),
        ("http://127.0.0.1#@example.com", "127.0.0.1", ["http://127.0.0.1/"]),
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
    ("text", "message"),
    [
        ("file:///etc/passwd", "only http and https sites can be scanned, not file:"),
        ("gopher://127.0.0.1:70/_x", "only http and https sites can be scanned, not gopher:"),
        ("dict://127.0.0.1:11211/", "only http and https sites can be scanned, not dict:"),
        ("ldap://127.0.0.1/", "only http and https sites can be scanned, not ldap:"),
        ("data:text/html,<h1>hi</h1>", "only http and https sites can be scanned, not data:"),
        ("javascript:alert(1)", "only http and https sites can be scanned, not javascript:"),
        ("a@127.0.0.1", "must not carry a user name or password"),
        ("user:pw@acme.com", "must not carry a user name or password"),
        ("http://example.com@127.0.0.1/", "must not carry a user name or password"),
        ("http://example.com\\@127.0.0.1/", "must not carry a user name or password"),
        ("mailto:info@acme.com", "must not carry a user name or password"),
        ("//127.0.0.1/", "the domain has no host name"),
        ("%31%32%37.0.0.1", "'%31%32%37.0.0.1' is not a valid host name"),
        ("127..1", "is not a valid host name"),
    ],
)
def test_parse_target_says_why(text, message):
    with pytest.raises(InvalidDomain) as info:
        parse_target(text)
    assert message in str(info.value)


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
