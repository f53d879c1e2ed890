"""A generated company website of exactly N HTML pages, deterministic for a seed.

Shapes a real site has: `/products/hand-tools/blue-steel-clamp-4821/`,
`/blog/2024/05/workshop-safety-tips/`, `/support/kb/drills/...html`, `/team/anna-weber/`,
paginated listings (`/products/hand-tools/page/3/`), nav and footer on every page, inline
styles and scripts, JSON-LD, and a few addresses per page, some obfuscated. Every page is
reachable from `/` within four links (the spider's DEPTH_LIMIT is 10), and no URL shape
(digits blanked, as `emailscan.links.url_pattern` does) repeats more than PER_LISTING+1 times,
far below the spider's cap of 100 per shape.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

from bench import pages, vocab
from emailscan.links import url_pattern

PER_LISTING = 24  # leaves per listing page
STATIC = ("about", "contact", "impressum", "privacy", "terms", "press", "partners")


@dataclasses.dataclass(frozen=True)
class Section:
    name: str
    weight: float
    groups: tuple[str, ...]  # listing groups; () lists leaves on the section page itself


SECTIONS = (
    Section("products", 0.40, tuple(vocab.CATEGORIES)),
    Section("blog", 0.25, tuple(str(year) for year in range(2012, 2026))),
    Section("support/kb", 0.12, tuple(vocab.NOUNS[:10])),
    Section("team", 0.06, ()),
    Section("careers", 0.05, ()),
    Section("customers", 0.05, ()),
    Section("events", 0.04, ()),
    Section("locations", 0.03, tuple(vocab.CITIES)),
)


@dataclasses.dataclass
class Page:
    path: str
    title: str
    kind: str  # home, static, section, listing, leaf
    section: str = ""
    items: list[str] = dataclasses.field(default_factory=list)  # listed children
    pagination: list[str] = dataclasses.field(default_factory=list)


def build_site(count: int, seed: int = 1) -> dict[str, bytes]:
    """path -> UTF-8 HTML of exactly `count` pages."""
    rng = random.Random(seed)
    site = _structure(count, rng)
    assert len(site) == count, (len(site), count)
    renderer = pages.Renderer(site, rng)
    return {path: renderer.render(page).encode() for path, page in site.items()}


def _structure(count: int, rng: random.Random) -> dict[str, Page]:
    leaves = count
    while leaves > 0 and _overhead(leaves) + leaves > count:
        leaves -= 1
    site: dict[str, Page] = {"/": Page("/", vocab.COMPANY, "home")}
    for name in STATIC:
        site[f"/{name}/"] = Page(f"/{name}/", name.capitalize(), "static")
    slugs = _Slugs(rng)
    for section, share in zip(SECTIONS, _shares(leaves), strict=True):
        _add_section(site, section, share, slugs)
    press = site["/press/"]
    while len(site) < count:  # the rounding remainder: press releases listed on /press/
        path = f"/press/{slugs.words(3)}/"
        site[path] = Page(path, "Press release", "leaf", "press")
        press.items.append(path)
    return site


def _shares(leaves: int) -> list[int]:
    shares = [int(leaves * section.weight) for section in SECTIONS]
    shares[0] += leaves - sum(shares)
    return shares


def _groups(section: Section, share: int) -> tuple[str, ...]:
    """Small sites get fewer groups, so no listing is empty."""
    return section.groups[: max(1, min(len(section.groups), share // 8))] if section.groups else ()


def _listings(items: int) -> int:
    return max(1, -(-items // PER_LISTING))


def _overhead(leaves: int) -> int:
    """Pages that are not leaves: home, static, section pages and listing pages."""
    total = 1 + len(STATIC)
    for section, share in zip(SECTIONS, _shares(leaves), strict=True):
        groups = _groups(section, share)
        if not groups:
            total += _listings(share)
            continue
        total += 1
        for index in range(len(groups)):
            total += _listings(len(range(index, share, len(groups))))
    return total


def _add_section(site: dict[str, Page], section: Section, share: int, slugs: _Slugs) -> None:
    root = f"/{section.name}/"
    title = section.name.split("/")[-1].capitalize()
    groups = _groups(section, share)
    if not groups:
        site[root] = Page(root, title, "section", section.name)
        leaves = [slugs.leaf(section.name, "") for _ in range(share)]
        _add_listing(site, site[root], leaves)
        return
    site[root] = Page(root, title, "section", section.name)
    for index, group in enumerate(groups):
        path = f"{root}{group}/"
        listing = Page(path, f"{title}: {group.replace('-', ' ')}", "listing", section.name)
        site[path] = listing
        site[root].items.append(path)
        count = len(range(index, share, len(groups)))
        _add_listing(site, listing, [slugs.leaf(section.name, group) for _ in range(count)])


def _add_listing(site: dict[str, Page], first: Page, leaves: list[str]) -> None:
    """The first listing page links to every further page of the listing and to its leaves."""
    chunks = [leaves[i : i + PER_LISTING] for i in range(0, len(leaves), PER_LISTING)] or [[]]
    first.items.extend(chunks[0])
    for number, chunk in enumerate(chunks[1:], start=2):
        path = f"{first.path}page/{number}/"
        site[path] = Page(path, f"{first.title}, page {number}", "listing", first.section, chunk)
        first.pagination.append(path)
    for path in leaves:
        title = path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".html").replace("-", " ")
        site[path] = Page(path, title.capitalize(), "leaf", first.section)


class _Slugs:
    """Unique, realistic leaf paths; a shape (as the spider's url_pattern sees it) is used once.

    url_pattern also blanks any run of 32+ slug characters as a token, so long slugs would all
    share one shape: those are redrawn (see the report: that cap hits real blogs).
    """

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.shapes: set[str] = set()

    def words(self, count: int) -> str:
        return self._unique(lambda: "-".join(self.rng.sample(vocab.TOPICS, count)))

    def leaf(self, section: str, group: str) -> str:
        rng = self.rng
        make = {
            "products": lambda: (
                f"/products/{group}/{rng.choice(vocab.ADJECTIVES)}-{rng.choice(vocab.MATERIALS)}"
                f"-{rng.choice(vocab.NOUNS)}-{rng.randint(1000, 99999)}/"
            ),
            "blog": lambda: f"/blog/{group}/{rng.randint(1, 12):02d}/{self._title()}/",
            "support/kb": lambda: f"/support/kb/{group}/{self._title()}.html",
            "team": lambda: (
                f"/team/{rng.choice(vocab.FIRST_NAMES)}-{rng.choice(vocab.LAST_NAMES)}"
                f"{rng.choice(['', '-' + rng.choice(vocab.CITIES)])}/"
            ),
            "careers": lambda: f"/careers/{self._title()}-{rng.randint(100, 9999)}/",
            "customers": lambda: f"/customers/{rng.choice(vocab.CITIES)}-{self._title()}/",
            "events": lambda: (
                f"/events/{rng.randint(2015, 2026)}-{rng.randint(1, 12):02d}-"
                f"{rng.randint(1, 28):02d}-{self._title()}/"
            ),
            "locations": lambda: (
                f"/locations/{group}/{rng.choice(vocab.LAST_NAMES)}-{self._title()}/"
            ),
        }[section]
        return self._unique(make)

    def _title(self) -> str:
        return "-".join(self.rng.sample(vocab.TOPICS, self.rng.randint(2, 4)))

    def _unique(self, make) -> str:
        for _ in range(1000):
            path = make()
            shape = url_pattern(f"http://site{path}")
            if shape not in self.shapes:
                self.shapes.add(shape)
                return path
        raise RuntimeError("ran out of unique slugs; widen bench.vocab")


def shape_counts(paths) -> Counter:
    """How many paths share each shape, as the spider's url_pattern sees them."""
    return Counter(url_pattern(f"http://127.0.0.1{path}") for path in paths)
