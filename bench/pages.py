"""HTML of the generated site's pages: shared chrome (nav, footer, styles, scripts) and content."""

from __future__ import annotations

import json
import random
from html import escape

from bench import vocab

MIN_BYTES, MAX_BYTES = 18_000, 55_000  # plus the closing chrome: 20-60 KB pages
SOCIAL = (
    "https://www.linkedin.com/company/brightline-tools",
    "https://twitter.com/brightlinetools",
    "https://www.youtube.com/@brightlinetools",
)


class Renderer:
    """Renders pages of one site; the random choices make every page a little different."""

    def __init__(self, site: dict, rng: random.Random):
        self.site = site
        self.rng = rng
        self.leaves = [path for path, page in site.items() if page.kind == "leaf"]
        self.paragraphs = [vocab.paragraph(rng) for _ in range(400)]
        self.styles = [vocab.css_block(rng) for _ in range(8)]
        self.scripts = [vocab.script_block(rng) for _ in range(8)]
        self.staff = [
            (rng.choice(vocab.FIRST_NAMES), rng.choice(vocab.LAST_NAMES)) for _ in range(300)
        ]
        self.nav = self._nav()
        self.footer = self._footer()

    def render(self, page) -> str:
        rng = self.rng
        target = rng.randint(MIN_BYTES, MAX_BYTES)
        head = self._head(page)
        main = [f"<h1>{escape(page.title)}</h1>", self._breadcrumbs(page.path)]
        main += self._content(page)
        size = len(head) + len(self.nav) + len(self.footer) + sum(map(len, main))
        while size < target:
            text = rng.choice(self.paragraphs)
            main.append(text)
            size += len(text)
        main.append(self._contact_box())
        return "".join(
            [
                head,
                '<body class="page"><div id="cookie-banner" hidden></div>',
                self.nav,
                '<main id="content" class="container">',
                *main,
                "</main>",
                self._aside(page),
                self.footer,
                rng.choice(self.scripts),
                "</body></html>",
            ]
        )

    def _head(self, page) -> str:
        org = {
            "@context": "https://schema.org",
            "@type": "Organization",
            "name": vocab.COMPANY,
            "email": f"info@{vocab.MAIL_DOMAIN}",
            "telephone": "+49 30 5550 1200",
            "address": {"@type": "PostalAddress", "addressLocality": "Berlin"},
        }
        title = escape(page.title)
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title} | {vocab.COMPANY}</title>"
            f'<meta name="description" content="{title}: tools and parts for professionals.">'
            f'<link rel="canonical" href="{page.path}"><link rel="stylesheet" href="/css/app.css">'
            f"{self.rng.choice(self.styles)}"
            f'<script type="application/ld+json">{json.dumps(org)}</script>{vocab.ANALYTICS}'
            "</head>"
        )

    def _nav(self) -> str:
        links = ['<a class="logo" href="/"><img src="/img/logo.svg" alt="Brightline"></a>']
        for path, page in self.site.items():
            if page.kind in ("section", "static") or (
                page.kind == "listing" and "/page/" not in path and len(links) < 60
            ):
                links.append(f'<li><a href="{path}">{escape(page.title)}</a></li>')
        menu = "".join(links)
        return f'<header class="site-header"><nav><ul class="mega">{menu}</ul></nav></header>'

    def _footer(self) -> str:
        static = "".join(
            f'<li><a href="/{name}/">{name.capitalize()}</a></li>'
            for name in ("about", "contact", "impressum", "privacy", "terms", "careers", "press")
        )
        social = "".join(
            f'<a rel="noopener" href="{url}">{url.split("/")[2]}</a> ' for url in SOCIAL
        )
        return (
            f'<footer class="site-footer"><ul>{static}</ul><div class="social">{social}</div>'
            f"<address>{vocab.COMPANY}, Werkstrasse 12, 10115 Berlin<br>Phone +49 30 5550 1200"
            f'<br>E-Mail: <a href="mailto:info@{vocab.MAIL_DOMAIN}">info@{vocab.MAIL_DOMAIN}</a>'
            '</address><form class="newsletter" action="/newsletter/subscribe" method="post">'
            '<input type="email" name="email" placeholder="you@example.com">'
            "<button>Subscribe</button></form>"
            f"<p>&copy; 2025 {vocab.COMPANY}. All rights reserved.</p></footer>"
        )

    def _breadcrumbs(self, path: str) -> str:
        parts = [part for part in path.split("/") if part][:-1]
        crumbs = ['<a href="/">Home</a>']
        for depth in range(len(parts)):
            crumb = "/" + "/".join(parts[: depth + 1]) + "/"
            if crumb in self.site:
                crumbs.append(f'<a href="{crumb}">{escape(parts[depth])}</a>')
        return f'<nav class="breadcrumbs">{" / ".join(crumbs)}</nav>'

    def _content(self, page) -> list[str]:
        if page.kind == "home":
            return [self._cards(self.rng.sample(self.leaves, min(12, len(self.leaves))))]
        if page.kind == "static":
            return [self._cards(page.items), self._role_addresses()]
        if page.kind in ("section", "listing"):
            pages = "".join(
                f'<a href="{path}">{path.rstrip("/").rsplit("/", 1)[-1]}</a>'
                for path in page.pagination
            )
            return [self._cards(page.items), f'<nav class="pagination">{pages}</nav>']
        return [self._inline_links()]

    def _cards(self, paths: list[str]) -> str:
        cards = []
        for path in paths:
            slug = path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".html")
            cards.append(
                f'<li class="card"><a href="{path}"><img src="/img/{slug}.jpg" '
                f'srcset="/img/{slug}@2x.jpg 2x" alt="{slug}" loading="lazy">'
                f"<h3>{escape(self.site[path].title)}</h3></a><p>{vocab.sentence(self.rng)}</p></li>"
            )
        return f'<ul class="cards">{"".join(cards)}</ul>'

    def _inline_links(self) -> str:
        links = self.rng.sample(self.leaves, min(3, len(self.leaves)))
        parts = [f'<a href="{path}">{escape(self.site[path].title)}</a>' for path in links]
        return f"<p>See also {', '.join(parts)}.</p>"

    def _aside(self, page) -> str:
        related = self.rng.sample(self.leaves, min(8, len(self.leaves)))
        items = "".join(
            f'<li><a href="{path}">{escape(self.site[path].title)}</a></li>' for path in related
        )
        return f'<aside class="related"><h2>Related</h2><ul>{items}</ul></aside>'

    def _contact_box(self) -> str:
        """One or two people's addresses, written the ways real sites write them."""
        rng = self.rng
        parts = []
        for first, last in rng.sample(self.staff, rng.randint(1, 2)):
            email = f"{first}.{last}@{vocab.MAIL_DOMAIN}"
            roll = rng.random()
            if roll < 0.5:
                parts.append(f'<a href="mailto:{email}">{email}</a>')
            elif roll < 0.65:
                parts.append(f"{first}.{last} [at] {vocab.MAIL_DOMAIN.replace('.', ' [dot] ')}")
            elif roll < 0.75:
                parts.append(email.replace("@", "&#64;"))
            elif roll < 0.85:
                encoded = vocab.cf_encode(email, rng.randrange(256))
                parts.append(
                    f'<span class="__cf_email__" data-cfemail="{encoded}">'
                    "[email&#160;protected]</span>"
                )
            else:
                parts.append(f"Questions? Write to {rng.choice(vocab.ROLES)}@{vocab.MAIL_DOMAIN}.")
        return f'<div class="contact-box"><h2>Your contact</h2><p>{"<br>".join(parts)}</p></div>'

    def _role_addresses(self) -> str:
        rows = "".join(
            f'<li>{role.capitalize()}: <a href="mailto:{role}@{vocab.MAIL_DOMAIN}">'
            f"{role}@{vocab.MAIL_DOMAIN}</a></li>"
            for role in vocab.ROLES
        )
        return f'<ul class="addresses">{rows}</ul>'
