"""Link priorities, canonical URLs and trap patterns."""

import lxml.html
import pytest

from emailscan.links import (
    HIGH,
    LOW,
    MEDIUM,
    NORMAL,
    NewLinks,
    canonical_url,
    link_priority,
    url_pattern,
)


@pytest.mark.parametrize(
    ("url", "text", "priority"),
    [
        ("https://acme.com/contact", "", HIGH),
        ("https://acme.com/contact-us/", "", HIGH),
        ("https://acme.com/de/kontakt.html", "", HIGH),
        ("https://acme.com/impressum", "", HIGH),
        ("https://acme.com/fr/mentions-legales", "", HIGH),
        ("https://acme.com/es/aviso-legal", "", HIGH),
        ("https://acme.com/page?id=7", "Get in touch", HIGH),
        ("https://acme.com/x", "Kontakt", HIGH),
        ("https://acme.com/about", "", MEDIUM),
        ("https://acme.com/de/ueber-uns", "", MEDIUM),
        ("https://acme.com/p/9", "Über uns", MEDIUM),
        ("https://acme.com/it/chi-siamo", "", MEDIUM),
        ("https://acme.com/team", "", MEDIUM),
        ("https://acme.com/privacy-policy", "", MEDIUM),
        ("https://acme.com/datenschutz", "", MEDIUM),
        ("https://acme.com/help/", "", MEDIUM),
        ("https://acme.com/careers", "", LOW),
        ("https://acme.com/presse", "", LOW),
        ("https://acme.com/blog/how-we-build-widgets", "Read more", NORMAL),
        ("https://acme.com/products/contactless-payments", "", NORMAL),
        ("https://acme.com/teamwork-tips", "", NORMAL),
    ],
)
def test_link_priority(url, text, priority):
    assert link_priority(url, text) == priority


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("https://Acme.com/a#top", "https://acme.com/a"),
        ("https://acme.com/item?id=3&sessionid=abc", "https://acme.com/item?id=3"),
        ("https://acme.com/item?PHPSESSID=x&id=3", "https://acme.com/item?id=3"),
        ("https://acme.com/item;jsessionid=A1B2?id=3", "https://acme.com/item?id=3"),
        ("https://acme.com/?utm_source=x&utm_medium=y&q=1", "https://acme.com/?q=1"),
        ("https://acme.com/?fbclid=abc", "https://acme.com/"),
        ("https://acme.com/search?q=a+b&page=2", "https://acme.com/search?q=a+b&page=2"),
    ],
)
def test_canonical_url(url, canonical):
    assert canonical_url(url) == canonical


def test_url_pattern_groups_calendar_and_session_traps():
    assert url_pattern("http://h/calendar?month=2031-07") == url_pattern(
        "http://h/calendar?month=1999-01"
    )
    assert url_pattern("http://h/cal/2024/05/01") == url_pattern("http://h/cal/1990/12/31")
    assert url_pattern("http://h/blog/first-post") != url_pattern("http://h/blog/second-post")
    assert url_pattern("http://h/a?x=1&y=2") == url_pattern("http://h/a?y=5&x=9")
    assert url_pattern("http://h/s/9f86d081884c7d659a2feaa0c55ad015") == "h/s/T"
    assert url_pattern("http://h/s/a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7") == "h/s/T"
    # Long slugs are pages, not ids: a blog with hundreds of posts is not a trap.
    long_slug = "how-to-choose-the-right-drill-for-your-workshop"
    assert url_pattern(f"http://h/blog/{long_slug}/") == f"h/blog/{long_slug}/"


def page(body: str):
    return lxml.html.fromstring(f"<html><body>{body}</body></html>")


def test_new_links_are_absolute_http_and_met_once():
    links = NewLinks()
    first = page(
        '<a href="/contact">Contact <b>us</b></a> <a href="team.html">Team</a>'
        '<a href="mailto:x@acme.com">mail</a> <a href="#top">top</a> <a href="tel:+49">call</a>'
        '<a href="https://other.org/x">x</a> <a href="/brochure.PDF">pdf</a>'
        '<a href=" /a b ">ab</a>'
        '<area href="/map" alt="map">'
    )
    assert list(links(first, "https://acme.com/about/")) == [
        ("https://acme.com/contact", "Contact us"),
        ("https://acme.com/about/team.html", "Team"),
        ("https://other.org/x", "x"),
        ("https://acme.com/a%20b", "ab"),
        ("https://acme.com/map", ""),
    ]
    again = page('<a href="/contact">Contact</a> <a href="team.html">Team</a>')
    # Root-relative links are repeats anywhere on the site; relative ones depend on the page.
    assert list(links(again, "https://acme.com/blog/")) == [
        ("https://acme.com/blog/team.html", "Team")
    ]
