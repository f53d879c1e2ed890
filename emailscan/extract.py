"""Find the contact email addresses shown in an HTML page or a plain-text body."""

import html.entities
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from urllib.parse import parse_qsl, unquote

from email_validator import EmailNotValidError, validate_email


@dataclass(frozen=True, slots=True)
class Candidate:
    """An address found on a page, and where on the page it came from."""

    email: str  # normalised: stripped, lowercased, decoded; not yet validated by email-validator
    how: str  # "text", "mailto", "cfemail", "attribute", "jsonld", "script" or "obfuscated"


# --- vocabulary -------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FILE_EXTENSIONS = _words(
    "png jpg jpeg gif svg webp avif ico bmp tif tiff heic css scss less js mjs cjs jsx ts tsx map "
    "json xml yml yaml txt csv pdf doc docx xls xlsx woff woff2 ttf eot otf mp4 webm mp3 ogg wav "
    "mov avi zip gz tgz rar exe dmg apk wasm php html htm shtml asp aspx jsp cgi"
)
_COMMON_TLDS = _words(
    "com net org info biz edu gov mil int io co ai app dev me tv cc eu asia online shop store site "
    "tech xyz club pro name mobi tel travel jobs agency digital email solutions services "
    "consulting company group studio design media news blog cloud space website world global "
    "network systems software berlin hamburg bayern koeln wien swiss paris london nyc gmbh ag "
    "llc ltd inc law legal health care dental clinic academy school university education "
    "finance capital partners ventures marketing photography photo art gallery events energy "
    "engineering construction expert family farm fashion fitness food immo immobilien haus "
    "reise shopping live life page plus restaurant bar cafe wine team tools zone center city "
    "community computer coffee estate fund garden guide help holdings host hotel institute "
    "international jetzt kaufen land link management market money partners place press "
    "productions properties realestate rent repair run sale salon science security social solar "
    "sport style support tax technology today tours trade training travel vet video wiki works"
)
_GLUE_WORDS = sorted(
    _words(
        "phone telefon tel fax mobile mobil mob web www email mail kontakt contact impressum "
        "address adresse hotline http https"
    )
)
_GLUE_PREFIXES = _COMMON_TLDS | _words(
    "de at ch uk fr it es nl be lu dk se no fi pl cz sk hu ro pt ie gr tr ru ua us ca au nz jp "
    "cn br mx za"
)
_PLACEHOLDER_LOCALS = _words(
    "name user username user.name email e-mail emailaddress mail.address yourname your.name "
    "your_name your-name yourmail youremail your.email your-email your_email you firstname "
    "lastname firstname.lastname first.last first.lastname vorname.nachname vorname nachname "
    "max.mustermann maxmustermann john.doe jane.doe johndoe janedoe someone somebody example "
    "sample test"
)
_PLACEHOLDER_SLDS = _words(
    "example domain domainname domain-name yourdomain your-domain mydomain somedomain yoursite "
    "your-site yourwebsite website sitename company yourcompany your-company mycompany "
    "yourbusiness email emailaddress test sample beispiel musterfirma mustermann"
)
_SECOND_LEVELS = _words("co com org net ac gov edu or ne gv")  # acme.co.uk, acme.com.au
_TRACKING_HOSTS = ("sentry.io", "sentry.wixpress.com", "sentry-next.wixpress.com", "wixpress.com")
_ROLE_WORDS = _words(
    # English
    "info information contact contacts hello hi hey office sales support help helpdesk service "
    "services customerservice customercare care press media pr news newsletter marketing jobs "
    "job careers career recruiting recruitment hr billing invoice invoices accounts accounting "
    "finance admin administration team enquiries enquiry inquiries inquiry general mail email "
    "post mailbox webmaster postmaster hostmaster abuse security privacy dpo gdpr legal "
    "compliance orders order shop store booking bookings reservations events partners partner "
    "investors investor ir feedback reception welcome noreply no-reply donotreply do-not-reply "
    # German
    "kontakt anfrage anfragen vertrieb verkauf kundenservice kundendienst service buchhaltung "
    "rechnung rechnungen bewerbung bewerbungen karriere presse datenschutz verwaltung "
    "sekretariat zentrale empfang hallo buero bestellung auftrag "
    # French, Spanish, Italian, Portuguese, Dutch, Nordic, Polish
    "bonjour accueil commercial ventes recrutement emploi secretariat direction contacto "
    "ventas soporte informacion hola atencion administracion contatto contatti vendite "
    "assistenza ciao amministrazione contato vendas suporte atendimento ola verkoop klantenservice "
    "kantoor hallo kontor salg biuro sprzedaz"
)
_WORDY_STOPWORDS = _words(
    "a an the us me you we them him her it its our your my this that these those is are was were "
    "be been am here there home work least all once first last night noon time times look meet "
    "see find call reach write contact email mail arrive arrived stay located based open which "
    "what who where any one stop point follow visit join like"
)
_INLINE_TAGS = (
    "a|abbr|b|bdi|bdo|cite|code|data|del|dfn|em|font|i|ins|kbd|mark|q|s|samp|small|span|strong|"
    "sub|sup|time|tt|u|var|wbr"
)
_SKIPPED_ATTRS = _words(
    "href src srcset sizes style action formaction poster background cite longdesc usemap "
    "manifest ping codebase archive data integrity xmlns itemtype itemid placeholder value"
)
_SKIPPED_ATTR_PARTS = ("src", "url", "href", "img", "image", "icon", "style", "placeholder")
_FORM_TAGS = frozenset(("input", "textarea", "option", "select"))
_KEPT_ENTITIES = frozenset("<>&\"'")
_SURROUNDING = " \t\r\n\xa0\"'`<>()[]{},;:.!?*«»“”‘’"

# --- compiled patterns --------------------------------------------------------------------------

_ANCHOR_HINT = re.compile(
    r"@|&#|&commat;|\\u0040|\\x40|cfemail|email-protection|[mM][aA][iI][lL][tT][oO]:"
)
_TEXT_ANCHOR_HINT = re.compile(r"@|\\u0040|\\x40|[mM][aA][iI][lL][tT][oO]:")
_LOCAL_REV = re.compile(r"[\w.+-]+")  # matched on the reversed text left of "@"
_DOMAIN = re.compile(r"[\w-]+(?:\.[\w-]+)+")
_SIMPLE_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_TOKEN_REV = re.compile(r"[^\s\"'`<>()\[\]{},;|]*")
_ESCAPE_HEAD = re.compile(r"u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[nrtfbv]")
_HEX2 = re.compile(r"[0-9a-fA-F]{2}")
# Frequent named references that can't be part of an address are left alone, for speed.
_ENTITY = re.compile(
    r"&(?:#[xX]([0-9a-fA-F]{1,6});?|#([0-9]{1,7});?"
    r"|(?!(?:amp|lt|gt|quot|apos|ndash|mdash|copy|reg|trade|middot|bull|hellip|laquo|raquo"
    r"|lsquo|rsquo|ldquo|rdquo|euro|times);)([A-Za-z][A-Za-z0-9]{1,31};))"
)
_JS_ESCAPES = (("\\u0040", "@"), ("\\x40", "@"), ("\\u002e", "."), ("\\u002E", "."))
_INVISIBLE = ("\xad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")
_BLOCK_OPEN = re.compile(r"<!--|<(script|style)\b([^>]*)>", re.I)
_BLOCK_CLOSE = {
    "script": re.compile(r"</script\s*>", re.I),
    "style": re.compile(r"</style\s*>", re.I),
}
_MAX_TAG = 2048  # longer tags are inline data, not markup worth parsing
_MAX_HINTS = 200  # obfuscation hints examined per document; real pages have a handful
_TAG_START = re.compile(r"<[A-Za-z/!]")
_TAG_NAME = re.compile(r"</?([A-Za-z][\w:-]*)")
_ATTR = re.compile(r"""([^\s"'<>/=]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_INLINE_TAG = re.compile(rf"</?(?:{_INLINE_TAGS})\b[^<>]*>\Z|<!--.*-->\Z", re.I | re.S)
_ANY_TAG = re.compile(r"<!--.*?-->|<[A-Za-z/!][^<>]*>", re.S)
_MAILTO = re.compile(r"[mM][aA][iI][lL][tT][oO]:([^\"'<>]*)")
_CFEMAIL = re.compile(r"data-cfemail\s*=\s*[\"']?([0-9a-fA-F]+)|/email-protection#([0-9a-fA-F]+)")
_TLD = re.compile(r"[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59}")
_GLUED_TLD = re.compile(r"([a-z]{2,})(?=[A-Z][a-z]|[A-Z]+\Z|\d)")
_RETINA = re.compile(r"\d+(?:\.\d+)?x\.")
_HASH_LOCAL = re.compile(r"[0-9a-f]{24,}")
_ALL_X = re.compile(r"x{2,}")
_TEMPLATE_CHARS = re.compile(r"[{}$%\[\]<>]")
_ROLE_SPLIT = re.compile(r"[._+-]")

# Obfuscated addresses: "name [at] domain [dot] com", "name AT domain DOT com", "name @ domain.com"
_OPEN, _CLOSE = r"[\[({]", r"[\])}]"
_AT_WORDS = r"at|ät|@|arobase|arroba|chiocciola|klammeraffe"
_DOT_WORDS = r"dot|punkt|point|punto|period|\."
_OBF_AT = rf"(?P<at>\s*{_OPEN}\s*(?i:{_AT_WORDS})\s*{_CLOSE}\s*|\s+(?i:at|@)\s+)"
_OBF_DOT = rf"(?:\s*{_OPEN}\s*(?i:{_DOT_WORDS})\s*{_CLOSE}\s*|\s+(?i:dot|punkt)\s+|\s+\.\s+|\.)"
_OBF_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_OBFUSCATED = re.compile(
    rf"(?<![\w.+-])(?P<local>[\w+-]+(?:{_OBF_DOT}[\w+-]+)*){_OBF_AT}"
    rf"(?P<domain>{_OBF_LABEL}(?:{_OBF_DOT}{_OBF_LABEL})+)(?![\w-])"
)
_OBF_DOT_RE = re.compile(_OBF_DOT)
_BRACKET_HINT = re.compile(rf"{_OPEN}\s*(?i:{_AT_WORDS})\s*{_CLOSE}")
_SPACED_HINT = re.compile(r"\s(?:AT|@|(?i:at)(?=\s[^\s<>]{1,63}\s+(?i:dot|punkt)\s))\s")
_SPACED_HINT_WORDS = (" AT ", " @ ", " dot ", " DOT ", " Dot ", " punkt ", " Punkt ")


# --- public API ---------------------------------------------------------------------------------


def extract_emails(html: str) -> list[Candidate]:
    """All contact addresses an HTML (or XHTML) page shows, deduplicated, in page order.

    Visible text, attributes, mailto links, scripts (JSON-LD and JSON strings), Cloudflare
    email protection and human obfuscations are all looked at; everything the filters reject
    or the final syntax check refuses is left out.
    """
    if not _ANCHOR_HINT.search(html) and not _has_obfuscation_hint(html):
        return []
    return _Scan(_decode_references(html, markup=True), markup=True).run()


def extract_from_text(text: str) -> list[Candidate]:
    """Same for a plain-text body: no tags, no HTML references, no Cloudflare markup."""
    if not _TEXT_ANCHOR_HINT.search(text) and not _has_obfuscation_hint(text):
        return []
    return _Scan(_decode_references(text, markup=False), markup=False).run()


def decode_cfemail(encoded: str) -> str | None:
    """Cloudflare email protection: hex string -> address (None when malformed).

    The first byte is the XOR key for every following byte; the result is UTF-8.
    """
    encoded = encoded.strip()
    if len(encoded) < 4 or len(encoded) % 2:
        return None
    try:
        data = bytes.fromhex(encoded)
        address = bytes(byte ^ data[0] for byte in data[1:]).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    if "@" not in address or not address.isprintable():
        return None
    return address.strip()


def normalise_email(raw: str) -> str | None:
    """Put a raw match into its canonical form, so duplicates compare equal.

    Strips, percent-decodes, entity-decodes, drops a mailto: prefix and surrounding
    punctuation/quotes, NFC-normalises and lowercases; None when it can't be an address.
    """
    text = raw.strip()
    if "%" in text:
        text = unquote(text)
    if "&" in text:
        text = html.unescape(text)
    text = unicodedata.normalize("NFC", text).strip(_SURROUNDING).lower()
    if text.startswith("mailto:"):
        text = text[7:].strip(_SURROUNDING)
    local, _, domain = text.partition("@")
    if not local or not domain or "@" in domain or any(c.isspace() for c in text):
        return None
    return text


def is_plausible_contact(email: str) -> bool:
    """Our false-positive filters: asset names, package specifiers, placeholders, tracking ids.

    Expects a normalised address; syntax proper is left to email-validator.
    """
    local, _, domain = email.rpartition("@")
    labels = domain.split(".")
    tld = labels[-1]
    if not local or len(labels) < 2 or not _TLD.fullmatch(tld) or tld in _FILE_EXTENSIONS:
        return False
    if _RETINA.match(domain) or _TEMPLATE_CHARS.search(local):
        return False
    if _HASH_LOCAL.fullmatch(local) or _is_tracking_host(domain):
        return False
    return not _is_placeholder(local, labels)


def is_role_address(email: str) -> bool:
    """True for a function mailbox (info@, sales@, kontakt@, ...), False for a person's."""
    local = email.rpartition("@")[0].lower().partition("+")[0].rstrip("0123456789")
    if local in _ROLE_WORDS:
        return True
    return _ROLE_SPLIT.split(local, 1)[0] in _ROLE_WORDS


# --- filters ------------------------------------------------------------------------------------


def _is_tracking_host(domain: str) -> bool:
    return any(domain == host or domain.endswith("." + host) for host in _TRACKING_HOSTS)


def _is_placeholder(local: str, labels: list[str]) -> bool:
    if local in _PLACEHOLDER_LOCALS or _ALL_X.fullmatch(local):
        return True
    name = labels[-3] if len(labels) > 2 and labels[-2] in _SECOND_LEVELS else labels[-2]
    return name in _PLACEHOLDER_SLDS or all(_ALL_X.fullmatch(label) for label in labels)


@lru_cache(maxsize=4096)
def _is_valid_syntax(email: str) -> bool:
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _is_known_tld(tld: str) -> bool:
    return tld in _COMMON_TLDS or (len(tld) == 2 and tld.isascii() and tld.isalpha())


# --- decoding -----------------------------------------------------------------------------------


def _has_obfuscation_hint(text: str) -> bool:
    if _BRACKET_HINT.search(text):
        return True
    return any(word in text for word in _SPACED_HINT_WORDS) and bool(_SPACED_HINT.search(text))


def _decode_references(text: str, markup: bool) -> str:
    """Undo the escapes that hide "@" and ".": JS/JSON escapes, and HTML references in markup.

    References to characters that matter to markup (<, >, &, quotes) stay encoded, so the
    decoded page keeps its tag structure.
    """
    if "\\" in text:
        for escape, char in _JS_ESCAPES:
            if escape in text:
                text = text.replace(escape, char)
    if markup and "&" in text:
        text = _ENTITY.sub(_decode_entity, text)
    for char in _INVISIBLE:  # soft hyphens and zero-width characters split words invisibly
        if char in text:
            text = text.replace(char, "")
    return text


def _decode_entity(match: re.Match) -> str:
    hex_code, dec_code, name = match.groups()
    if name:
        char = html.entities.html5.get(name)
    else:
        code = int(hex_code, 16) if hex_code else int(dec_code)
        char = chr(code) if 0 < code < 0x110000 and not 0xD800 <= code < 0xE000 else None
    if char is None or char in _KEPT_ENTITIES:
        return match.group()
    return char


def _mailto_addresses(value: str) -> list[str]:
    """Recipients of a mailto: URL: the path plus to/cc/bcc query fields."""
    to, _, query = value.partition("?")
    fields = [unquote(to)]
    if query:
        query = query.replace("&amp;", "&")
        fields += [v for k, v in parse_qsl(query) if k.strip().lower() in ("to", "cc", "bcc")]
    return [m.group() for field in fields for m in _SIMPLE_EMAIL.finditer(field)]


def _trim_glued_tld(domain: str) -> str | None:
    """Cut text glued after the TLD ("acme.comPhone"); None when the glue can't be told apart."""
    head, _, tld = domain.rpartition(".")
    if tld.lower().startswith("xn--"):
        return domain
    if tld.isalpha() and (tld.islower() or tld.isupper() or tld.istitle()):
        lowered = tld.lower()
        if len(lowered) < 5 or lowered in _COMMON_TLDS:
            return domain
        for word in _GLUE_WORDS:
            if lowered.endswith(word) and lowered[: -len(word)] in _GLUE_PREFIXES:
                return f"{head}.{tld[: -len(word)]}"
        return domain
    match = _GLUED_TLD.match(tld)
    if match and _is_known_tld(match.group(1)):
        return f"{head}.{match.group(1)}"
    return None


# --- candidates around an "@" -------------------------------------------------------------------


def _local_before(left: str) -> tuple[str, int]:
    """The local part ending right before "@" and where it starts in `left` ("" if none)."""
    match = _LOCAL_REV.match(left[::-1])
    if not match:
        return "", len(left)
    start = len(left) - match.end()
    local, previous = left[start:], left[start - 1 : start]
    if previous == "\\" and (escape := _ESCAPE_HEAD.match(local)):
        local, start = local[escape.end() :], start + escape.end()
    elif previous == "%" and _HEX2.match(local):
        local, start = local[2:], start + 2
    stripped = local.lstrip(".+-")
    return stripped, start + len(local) - len(stripped)


def _in_url(before: str, after: str) -> bool:
    """Whether an address sits inside a URL: credentials, a path segment, a scp-like git URL."""
    token = before[len(before) - _TOKEN_REV.match(before[::-1]).end() :]
    if "//" in token or token.endswith("/"):
        return True
    if after[:1] == "@":
        return True
    return after[:1] in ("/", ":") and after[1:2] not in ("", " ", "\n", "\t", "\r", "\xa0", "<")


def _address_at(left: str, right: str) -> tuple[str, int] | None:
    """The address around an "@" split as `left` + "@" + `right`, with its start in `left`."""
    local, start = _local_before(left)
    if not local:
        return None
    match = _DOMAIN.match(right)
    if not match:
        return None
    if _in_url(left[max(0, start - 200) : start], right[match.end() : match.end() + 2]):
        return None
    domain = _trim_glued_tld(match.group())
    return (f"{local}@{domain}", start) if domain else None


def _skip_tags_back(left: str) -> str | None:
    """Drop inline tags (and comments) right before "@"; None when a block tag separates."""
    while left.endswith(">"):
        start = left.rfind("<")
        if start == -1 or not _INLINE_TAG.match(left, start):
            return None
        left = left[:start]
    return left


def _skip_tags_forward(right: str) -> str | None:
    while right.startswith("<"):
        end = right.find(">")
        if end == -1 or not _INLINE_TAG.match(right[: end + 1]):
            return None
        right = right[end + 1 :]
    return right


def _skip_attribute(tag_name: str, attr_name: str) -> bool:
    if tag_name in _FORM_TAGS or attr_name in _SKIPPED_ATTRS:
        return True
    return any(part in attr_name for part in _SKIPPED_ATTR_PARTS)


# --- one scan over a document -------------------------------------------------------------------


class _LastBefore:
    """Offset of the last `char` before a position; linear over positions visited in order."""

    def __init__(self, doc: str, char: str):
        self.doc, self.char, self.pos, self.last = doc, char, 0, -1

    def __call__(self, pos: int) -> int:
        if pos < self.pos:
            self.pos, self.last = 0, -1
        found = self.doc.rfind(self.char, self.pos, pos)
        self.pos, self.last = pos, found if found != -1 else self.last
        return self.last


class _QuoteParity:
    """Whether a script offset is inside a string literal, by the quotes before it on its line.

    An odd count of some unescaped quote means an open string. Counting is incremental, so
    many candidates on one long minified line stay linear.
    """

    def __init__(self, doc: str):
        self.doc, self.line_start, self.pos, self.counts = doc, -1, -1, [0, 0, 0]

    def __call__(self, block_start: int, pos: int) -> bool:
        doc = self.doc
        if (
            not block_start <= self.line_start <= self.pos <= pos
            or doc.find("\n", self.pos, pos) != -1
        ):
            self.line_start = max(block_start, doc.rfind("\n", block_start, pos) + 1)
            self.pos, self.counts = self.line_start, [0, 0, 0]
        escape_from = max(self.line_start, self.pos - 1)
        for i, quote in enumerate("\"'`"):
            self.counts[i] += doc.count(quote, self.pos, pos)
            self.counts[i] -= doc.count("\\" + quote, escape_from, pos)
        self.pos = pos
        return any(count % 2 for count in self.counts)


class _Scan:
    """Collects (position, raw address, how) from a decoded document, then filters."""

    def __init__(self, doc: str, markup: bool):
        self.doc = doc
        self.markup = markup
        self.found: list[tuple[int, str, str]] = []
        self.blocks = _raw_blocks(doc) if markup else []
        self.block_starts = [start for start, _, _ in self.blocks]
        self.last_lt, self.last_gt = _LastBefore(doc, "<"), _LastBefore(doc, ">")
        self.in_js_string = _QuoteParity(doc)

    def run(self) -> list[Candidate]:
        self.scan_at_signs()
        self.scan_mailto()
        if self.markup and ("cfemail" in self.doc or "email-protection" in self.doc):
            self.scan_cloudflare()
        self.scan_obfuscations()
        return _finalise(self.found)

    def context(self, pos: int) -> tuple[str, int, int]:
        """What `pos` is in: text, tag, script, jsonld or skip (style, comment), and its span."""
        if not self.markup:
            return "text", 0, len(self.doc)
        k = bisect_right(self.block_starts, pos) - 1
        if k >= 0 and pos < self.blocks[k][1]:
            return self.blocks[k][2], self.blocks[k][0], self.blocks[k][1]
        lt = self.last_lt(pos)
        if lt > self.last_gt(pos) and _TAG_START.match(self.doc, lt):
            return "tag", lt, len(self.doc)
        return "text", 0, len(self.doc)

    def scan_at_signs(self) -> None:
        doc = self.doc
        at = doc.find("@")
        while at != -1:
            before = doc[at - 1 : at]
            if at and (before.isalnum() or before in "._+->"):
                kind, start, end = self.context(at)
                if kind == "text":
                    self.add_text(at)
                elif kind == "tag":
                    self.add_attribute(at, start)
                elif kind != "skip":
                    self.add_script(at, start, end, kind)
            at = doc.find("@", at + 1)

    def add_text(self, at: int) -> None:
        left, right = self.doc[max(0, at - 256) : at], self.doc[at + 1 : at + 320]
        if self.markup:
            left, right = _skip_tags_back(left), _skip_tags_forward(right)
            if left is None or right is None:
                return
        if found := _address_at(left, right):
            self.found.append((at, found[0], "text"))

    def add_attribute(self, at: int, lt: int) -> None:
        if at - lt > _MAX_TAG:  # a huge tag (inline data): don't parse it, look around "@"
            self.add_window(at, "attribute")
            return
        end = self.doc.find(">", at, at + _MAX_TAG)
        tag = self.doc[lt : end + 1 if end != -1 else at + _MAX_TAG]
        offset = at - lt
        for attr in _ATTR.finditer(tag):
            if attr.start() > offset:
                break
            group = attr.lastindex
            if attr.start(group) <= offset < attr.end(group):
                name_match = _TAG_NAME.match(tag)
                tag_name = name_match.group(1).lower() if name_match else ""
                if not _skip_attribute(tag_name, attr.group(1).lower()):
                    value, split = attr.group(group), offset - attr.start(group)
                    if found := _address_at(value[:split], value[split + 1 :]):
                        self.found.append((at, found[0], "attribute"))
                return
        self.add_text(at)  # in no attribute: "<john@acme.com>" written as text

    def add_window(self, at: int, how: str) -> None:
        left, right = self.doc[max(0, at - 256) : at], self.doc[at + 1 : at + 320]
        if found := _address_at(left, right):
            self.found.append((at, found[0], how))

    def add_script(self, at: int, start: int, end: int, kind: str) -> None:
        window_start = max(start, at - 256)
        left, right = self.doc[window_start:at], self.doc[at + 1 : min(end, at + 320)]
        found = _address_at(left, right)
        if found and self.in_js_string(start, window_start + found[1]):
            self.found.append((at, found[0], "jsonld" if kind == "jsonld" else "script"))

    def scan_mailto(self) -> None:
        if "ailto:" not in self.doc and "AILTO:" not in self.doc:
            return
        for match in _MAILTO.finditer(self.doc):
            kind = self.context(match.start())[0]
            if kind == "skip":
                continue
            how = "jsonld" if kind == "jsonld" else "mailto"
            for address in _mailto_addresses(match.group(1)):
                self.found.append((match.start(), address, how))

    def scan_cloudflare(self) -> None:
        for match in _CFEMAIL.finditer(self.doc):
            address = decode_cfemail(match.group(1) or match.group(2))
            if address and self.context(match.start())[0] != "skip":
                self.found.append((match.start(), address, "cfemail"))

    def scan_obfuscations(self) -> None:
        hints = [hint.start() for hint in _BRACKET_HINT.finditer(self.doc)]
        if any(word in self.doc for word in _SPACED_HINT_WORDS):
            hints = sorted(hints + [hint.start() for hint in _SPACED_HINT.finditer(self.doc)])
        for pos in hints[:_MAX_HINTS]:
            if self.context(pos)[0] == "text" and (address := self.deobfuscate(pos)):
                self.found.append((pos, address, "obfuscated"))

    def deobfuscate(self, pos: int) -> str | None:
        left, right = self.doc[max(0, pos - 160) : pos], self.doc[pos : pos + 240]
        if self.markup:
            left, right = _ANY_TAG.sub(" ", left), _ANY_TAG.sub(" ", right)
        text, anchor = left + right, len(left)
        for match in _OBFUSCATED.finditer(text, max(0, anchor - 100)):
            if match.start("at") <= anchor + 1 and anchor < match.end("at"):
                return _obfuscated_address(match)
            if match.start() > anchor:
                break
        return None


def _raw_blocks(doc: str) -> list[tuple[int, int, str]]:
    """Spans of comments and style (kind "skip") and of script contents ("script", "jsonld").

    An unclosed block runs to the end of the document, as it does for a browser.
    """
    blocks: list[tuple[int, int, str]] = []
    pos = 0
    while match := _BLOCK_OPEN.search(doc, pos):
        tag = (match.group(1) or "").lower()
        if tag:
            close = _BLOCK_CLOSE[tag].search(doc, match.end())
            end, close_end = (close.start(), close.end()) if close else (len(doc), len(doc))
        else:
            end = doc.find("-->", match.end())
            close_end = end + 3 if end != -1 else len(doc)
        if tag == "script":
            kind = "jsonld" if "ld+json" in match.group(2).lower() else "script"
            blocks.append((match.end(), end, kind))
        else:
            blocks.append((match.start(), close_end, "skip"))
        pos = close_end
    return blocks


def _obfuscated_address(match: re.Match) -> str | None:
    """Rebuild "local@domain" from an obfuscation match, refusing ordinary prose."""
    local = _OBF_DOT_RE.sub(".", match.group("local"))
    domain = _OBF_DOT_RE.sub(".", match.group("domain"))
    labels = domain.lower().split(".")
    if not _is_known_tld(labels[-1]):
        return None
    at_token = match.group("at").strip()
    if at_token.lower() in ("at", "@"):  # no brackets: it must not be a sentence
        if labels[0] in _WORDY_STOPWORDS:
            return None
        if local.lower() in _WORDY_STOPWORDS:
            return None
        dots = _OBF_DOT_RE.findall(match.group("domain"))
        if at_token in ("at", "At") and all(dot.strip() == "." for dot in dots):
            return None  # lowercase "at" only together with a spelled-out "dot"
    return f"{local}@{domain}"


def _finalise(found: list[tuple[int, str, str]]) -> list[Candidate]:
    """Page order, one entry per address, only what passes the filters and the syntax check."""
    found.sort(key=itemgetter(0))
    seen: set[str] = set()
    seen_raw: set[str] = set()
    result = []
    for _, raw, how in found:
        if raw in seen_raw:
            continue
        seen_raw.add(raw)
        email = normalise_email(raw)
        if email is None or email in seen:
            continue
        seen.add(email)
        if is_plausible_contact(email) and _is_valid_syntax(email):
            result.append(Candidate(email, how))
    return result
