"""Words, names and reusable text blocks the generated benchmark site is made of."""

from __future__ import annotations

import random

COMPANY = "Brightline Tools GmbH"
MAIL_DOMAIN = "brightline-tools.com"


def _words(text: str) -> list[str]:
    return text.split()


ADJECTIVES = _words(
    "blue red green black white silver compact heavy light rugged precise quiet smart modular "
    "classic premium basic pro mini maxi ultra flex rapid steady slim wide narrow round square "
    "folding portable industrial"
)
MATERIALS = _words(
    "steel brass copper oak walnut carbon nylon ceramic glass bamboo aluminium titanium rubber "
    "leather cotton granite marble"
)
NOUNS = _words(
    "widget clamp bracket hinge wrench drill lamp shelf hook valve gasket spindle roller pulley "
    "caster ladder bench vise saw plane chisel file rasp level ruler square gauge sander router "
    "jigsaw"
)
CATEGORIES = _words(
    "hand-tools power-tools fasteners storage lighting workshop garden safety measuring "
    "abrasives adhesives spare-parts"
)
TOPICS = _words(
    "workshop safety guide tips maintenance review comparison howto checklist update release "
    "story interview case study trends sustainability warehouse logistics quality design "
    "materials craft training webinar event partnership launch recall warranty pricing season "
    "spring summer autumn winter"
)
WORDS = _words(
    "the of and to in a is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her all she there would their we him been has when who "
    "will more no if out so said what up its about into than them can only other new some "
    "could time these two may then do first any my now such like our over man me even most "
    "made after also did many before must through back years where much your way well down "
    "should because each just those people how too little state good very make world still "
    "own see men work long get here between both life being under never day same another know "
    "while last might us great old year off come since against go came right used take three "
    "tool steel workshop bench quality order delivery product customer warranty service "
    "design material finish surface tolerance precision assembly torque handle blade grip "
    "thread coating durable reliable professional project craftsman"
)
FIRST_NAMES = _words(
    "anna lena maria julia laura sarah lisa katharina sophie hannah emma mia clara paula "
    "jonas lukas leon finn paul felix max elias noah ben tim jan david simon tobias markus "
    "thomas stefan michael andreas daniel peter christian martin frank"
)
LAST_NAMES = _words(
    "mueller schmidt schneider fischer weber meyer wagner becker schulz hoffmann koch richter "
    "klein wolf schroeder neumann schwarz zimmermann braun krueger hofmann hartmann lange "
    "schmitt werner krause meier lehmann koehler herrmann walter koenig"
)
CITIES = _words(
    "berlin hamburg munich cologne frankfurt stuttgart leipzig dresden hanover nuremberg vienna "
    "zurich basel graz lyon milan"
)
ROLES = _words("sales support orders service press careers billing partners")


def cf_encode(email: str, key: int) -> str:
    """Cloudflare email protection: the key byte, then every byte XOR the key, as hex."""
    return f"{key:02x}" + "".join(f"{byte ^ key:02x}" for byte in email.encode())


def sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(8, 22))
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random) -> str:
    """A paragraph of filler prose with inline markup and the odd at-sign that is no address."""
    parts = [sentence(rng) for _ in range(rng.randint(3, 8))]
    roll = rng.random()
    if roll < 0.15:
        parts.insert(1, f"<strong>{sentence(rng)}</strong>")
    elif roll < 0.25:
        parts.append(f"Follow us @{COMPANY.split()[0].lower()} for news.")
    elif roll < 0.3:
        parts.append("Prices @ 4.99 EUR per unit; <em>orders over 50 units ship free</em>.")
    return f"<p>{' '.join(parts)}</p>"


def css_block(rng: random.Random) -> str:
    """An inline stylesheet of 3-8 KB with @media and @font-face rules."""
    rules = ["@font-face{font-family:Inter;src:url(/fonts/inter.woff2) format('woff2')}"]
    while sum(map(len, rules)) < rng.randint(3000, 8000):
        name = f".c-{rng.choice(NOUNS)}__{rng.choice(ADJECTIVES)}--{rng.choice(MATERIALS)}"
        body = (
            f"color:#{rng.randrange(16**6):06x};padding:{rng.randint(0, 24)}px "
            f"{rng.randint(0, 24)}px;margin:0 auto;display:flex;gap:{rng.randint(2, 16)}px"
        )
        rules.append(f"{name}{{{body}}}")
        if rng.random() < 0.1:
            rules.append(f"@media (max-width:{rng.choice((480, 768, 1024))}px){{{name}{{{body}}}}}")
    return "<style>" + "".join(rules) + "</style>"


def script_block(rng: random.Random) -> str:
    """A minified-looking inline bundle chunk of 2-7 KB (npm specifiers with at-signs)."""
    parts = [
        "/*! @license MIT (c) vendors */",
        '!function(){"use strict";var e={"@babel/runtime":"7.22.5","@popperjs/core":"2.11.8"};',
    ]
    while sum(map(len, parts)) < rng.randint(2000, 7000):
        ident = rng.choice(NOUNS) + rng.choice(ADJECTIVES).capitalize()
        parts.append(
            f"function {ident}(t,n){{return t&&n?t.{rng.choice(WORDS)}(n,{rng.randint(0, 999)})"
            f':"{rng.choice(TOPICS)}"}}'
        )
    parts.append("}();")
    return "<script>" + "".join(parts) + "</script>"


ANALYTICS = (
    '<script async src="https://www.googletagmanager.com/gtag/js?id=G-XXXX"></script><script>'
    "window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}"
    "gtag('js',new Date());gtag('config','G-XXXX',{anonymize_ip:true});</script>"
)
