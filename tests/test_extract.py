import pytest

from emailscan.extract import (
    Candidate,
    decode_cfemail,
    extract_emails,
    extract_from_text,
    is_plausible_contact,
    is_role_address,
    normalise_email,
)


def emails(html):
    return [candidate.email for candidate in extract_emails(html)]


def text_emails(text):
    return [candidate.email for candidate in extract_from_text(text)]


def cf_encode(address, key=0x5A):
    """What Cloudflare's email obfuscation writes into data-cfemail."""
    data = address.encode("utf-8")
    return f"{key:02x}" + "".join(f"{byte ^ key:02x}" for byte in data)


# --- visible text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>Write to info@acme.com today</p>", ["info@acme.com"]),
        ("<p>E-Mail:info@acme.com</p>", ["info@acme.com"]),
        ("<p>(info@acme.com)</p>", ["info@acme.com"]),
        ("<p>Mail us: Info@ACME.com.</p>", ["info@acme.com"]),
        (
            "<p>first.last+news@mail.acme-corp.co.uk, thanks</p>",
            ["first.last+news@mail.acme-corp.co.uk"],
        ),
        ("<span>info</span>@<span>acme.com</span>", ["info@acme.com"]),
        ("info<b>@</b>acme.com", ["info@acme.com"]),
        ("<a>sales</a><span>@</span>acme.de", ["sales@acme.de"]),
        ("info<!-- spam trap -->@acme.com", ["info@acme.com"]),
        ("<p>call us</p><p>info@acme.com</p>", ["info@acme.com"]),
        ("<td>foo</td><td>bar@acme.com</td>", ["bar@acme.com"]),
        ("<li>Contact</li><li>hr@acme.com<br>Phone 0123</li>", ["hr@acme.com"]),
        ("<p>info</p><p>@acme.com</p>", []),
        ("<p>a@acme.com</p><p>b@acme.com</p><p>a@acme.com</p>", ["a@acme.com", "b@acme.com"]),
        ("<title>Acme – office@acme.at</title>", ["office@acme.at"]),
        ("<p>John Doe &lt;jd@acme.com&gt;</p>", ["jd@acme.com"]),
        ("<p>&lt;info@acme.com&gt;</p>", ["info@acme.com"]),
        ("<p>Write to John <john@acme.com></p>", ["john@acme.com"]),
        ("<SPAN>info</SPAN>@<B>acme.com</B>", ["info@acme.com"]),
        ("<p>info@acme.com<br/>Tel. 0711</p>", ["info@acme.com"]),
        ("<p>Mail: info@acme.com/ Tel</p>", ["info@acme.com"]),
        ("<p>in&shy;fo@ac&#8203;me.com</p>", ["info@acme.com"]),
        (
            "<p>info@acme.com,sales@acme.com;press@acme.com</p>",
            ["info@acme.com", "sales@acme.com", "press@acme.com"],
        ),
        ('<img alt="Write to info@acme.com" src="/mail.png">', ["info@acme.com"]),
    ],
    ids=[
        "sentence",
        "after-colon",
        "parentheses",
        "uppercase-and-full-stop",
        "plus-and-subdomains",
        "spans-around-at",
        "bold-at",
        "link-and-span",
        "comment-inside",
        "block-boundary-p",
        "block-boundary-td",
        "br-after",
        "block-between-local-and-at",
        "dedupe-keeps-order",
        "title",
        "escaped-angle-brackets",
        "only-escaped-brackets",
        "bracketed-address-in-text",
        "uppercase-tags",
        "self-closing-br",
        "slash-and-space-after",
        "soft-hyphen-zero-width",
        "separated-list",
        "alt-attribute",
    ],
)
def test_visible_text(html, expected):
    assert emails(html) == expected


def test_result_is_candidates_with_source():
    assert extract_emails("<p>info@acme.com</p>") == [Candidate("info@acme.com", "text")]


def test_page_order_across_sources():
    html = (
        '<header><a href="mailto:sales@acme.com">Sales</a></header>'
        "<main>support [at] acme [dot] com</main>"
        "<footer>info@acme.com</footer>"
    )
    assert extract_emails(html) == [
        Candidate("sales@acme.com", "mailto"),
        Candidate("support@acme.com", "obfuscated"),
        Candidate("info@acme.com", "text"),
    ]


# --- mailto -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<a href="mailto:info@acme.com">Write</a>', ["info@acme.com"]),
        ('<a href="mailto:info%40acme.com">Write</a>', ["info@acme.com"]),
        ('<a href="MAILTO:Info@Acme.com">Write</a>', ["info@acme.com"]),
        ('<a href=" mailto:info@acme.com ">Write</a>', ["info@acme.com"]),
        ("<a href='mailto:info@acme.com?subject=Hello%20there'>Write</a>", ["info@acme.com"]),
        (
            '<a href="mailto:info@acme.com?subject=Hi&amp;cc=other@acme.com&amp;bcc=bcc@acme.com">',
            ["info@acme.com", "other@acme.com", "bcc@acme.com"],
        ),
        (
            '<a href="mailto:?to=sales@acme.com&cc=boss@acme.com">',
            ["sales@acme.com", "boss@acme.com"],
        ),
        (
            '<a href="mailto:a@acme.com,b@acme.com;c@acme.com">',
            ["a@acme.com", "b@acme.com", "c@acme.com"],
        ),
        ('<a href="mailto:a@acme.com%2C%20b@acme.com">', ["a@acme.com", "b@acme.com"]),
        ('<a href="mailto:info@acme.com?body=write%20to%20x@acme.com">', ["info@acme.com"]),
        ('<a href="mailto:info@acme.com">info@acme.com</a>', ["info@acme.com"]),
        ('<a href="mailto:">Write us</a>', []),
        ('<a href="mailto:you@example.com">Write us</a>', []),
        ('<!-- <a href="mailto:old@acme.com">old</a> -->', []),
    ],
    ids=[
        "plain",
        "percent-encoded-at",
        "uppercase-scheme",
        "spaces-around",
        "subject",
        "cc-and-bcc",
        "to-field",
        "several-recipients",
        "encoded-comma",
        "body-ignored",
        "link-text-duplicate",
        "empty",
        "placeholder",
        "in-comment",
    ],
)
def test_mailto(html, expected):
    assert emails(html) == expected


def test_mailto_is_labelled():
    assert extract_emails('<a href="mailto:info@acme.com">x</a>')[0].how == "mailto"


# --- character references -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("info&#64;acme.com", ["info@acme.com"]),
        (
            "&#105;&#110;&#102;&#111;&#64;&#97;&#99;&#109;&#101;&#46;&#99;&#111;&#109;",
            ["info@acme.com"],
        ),
        ("info&#x40;acme&#x2E;com", ["info@acme.com"]),
        ("info&commat;acme&period;com", ["info@acme.com"]),
        ("&#x69;nfo&#64;acme.c&#111;m", ["info@acme.com"]),
        ("info&#64acme.com", ["info@acme.com"]),
        (
            '<a href="&#109;&#97;&#105;&#108;&#116;&#111;&#58;info&#64;acme.com">x</a>',
            ["info@acme.com"],
        ),
        ("info&amp;#64;acme.com", []),
    ],
    ids=["decimal-at", "all-decimal", "hex", "named", "mixed", "no-semicolon", "mailto", "double"],
)
def test_character_references(html, expected):
    assert emails(html) == expected


# --- structured data ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected", "how"),
    [
        (
            '<script type="application/ld+json">{"@context":"https://schema.org",'
            '"@type":"Organization","email":"info@acme.com"}</script>',
            ["info@acme.com"],
            "jsonld",
        ),
        (
            '<script type="application/ld+json">\n{\n  "@type": "Organization",\n'
            '  "email": "mailto:office@acme.com",\n  "logo": "https://acme.com/logo@2x.png"\n}'
            "\n</script>",
            ["office@acme.com"],
            "jsonld",
        ),
        (
            '<script type="application/ld+json">{"contactPoint":{"email":"sales\\u0040acme.com"}}'
            "</script>",
            ["sales@acme.com"],
            "jsonld",
        ),
        (
            '<div itemscope itemtype="https://schema.org/Organization">'
            '<meta itemprop="email" content="info@acme.com"></div>',
            ["info@acme.com"],
            "attribute",
        ),
        ('<span itemprop="email">info@acme.com</span>', ["info@acme.com"], "text"),
        ('<meta name="contact:email" content="press@acme.com">', ["press@acme.com"], "attribute"),
        ('<meta name="author" content="Jo Bloggs, jo@acme.com">', ["jo@acme.com"], "attribute"),
        (
            '<div itemscope><a itemprop="email" href="mailto:team@acme.com">Mail</a></div>',
            ["team@acme.com"],
            "mailto",
        ),
        (
            '<script>window.__DATA__={"company":{"email":"hello@acme.com","tel":"123"}};</script>',
            ["hello@acme.com"],
            "script",
        ),
        ('<script>var c = {"email":"info\\u0040acme.com"};</script>', ["info@acme.com"], "script"),
        ('<div data-email="kontakt@acme.de" class="x"></div>', ["kontakt@acme.de"], "attribute"),
        (
            '<div data-props="{&quot;email&quot;:&quot;ir@acme.com&quot;}"></div>',
            ["ir@acme.com"],
            "attribute",
        ),
    ],
    ids=[
        "jsonld",
        "jsonld-mailto-pretty",
        "jsonld-unicode-escape",
        "microdata-content",
        "microdata-text",
        "meta-email",
        "meta-author",
        "microdata-mailto",
        "json-blob",
        "json-blob-escape",
        "data-attribute",
        "json-in-attribute",
    ],
)
def test_structured_data(html, expected, how):
    found = extract_emails(html)
    assert [c.email for c in found] == expected
    assert found[0].how == how


# --- cloudflare ---------------------------------------------------------------------------------


def test_decode_cfemail_known_pair():
    assert decode_cfemail("4c25222a230c29342d213c2029622f2321") == "info@example.com"


@pytest.mark.parametrize("key", [0x00, 0x01, 0x5A, 0xFF])
def test_decode_cfemail_roundtrip(key):
    assert decode_cfemail(cf_encode("sales.team@acme-widgets.de", key)) == (
        "sales.team@acme-widgets.de"
    )


def test_decode_cfemail_utf8():
    assert decode_cfemail(cf_encode("jürgen@müller.de")) == "jürgen@müller.de"


@pytest.mark.parametrize(
    "encoded",
    ["", "4c", "4c2", "zz25222a23", cf_encode("no-at-sign"), "4c25222a23ff"],
    ids=["empty", "key-only", "odd-length", "not-hex", "no-at", "bad-utf8"],
)
def test_decode_cfemail_malformed(encoded):
    assert decode_cfemail(encoded) is None


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (
            f'<a href="/cdn-cgi/l/email-protection" class="__cf_email__" '
            f'data-cfemail="{cf_encode("info@acme.com")}">[email&#160;protected]</a>',
            ["info@acme.com"],
        ),
        (
            f'<a href="/cdn-cgi/l/email-protection#{cf_encode("sales@acme.com", 0x21)}">'
            f"<span>[email&#160;protected]</span></a>",
            ["sales@acme.com"],
        ),
        (
            f'<a href="/cdn-cgi/l/email-protection#{cf_encode("a@acme.com", 0x33)}">'
            f'<span class="__cf_email__" data-cfemail="{cf_encode("a@acme.com", 0x44)}">'
            f"[email&#160;protected]</span></a>",
            ["a@acme.com"],
        ),
        ('<span class="__cf_email__" data-cfemail="4c25222a230c29342d213c2029622f2321">', []),
        ('<span class="__cf_email__" data-cfemail="4c2">[email&#160;protected]</span>', []),
    ],
    ids=["data-cfemail", "href-hash", "both-dedupe", "placeholder-domain", "malformed"],
)
def test_cloudflare(html, expected):
    found = extract_emails(html)
    assert [c.email for c in found] == expected
    assert all(c.how == "cfemail" for c in found)


# --- human obfuscations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("info [at] acme [dot] com", "info@acme.com"),
        ("info (at) acme (dot) com", "info@acme.com"),
        ("info{at}acme{dot}com", "info@acme.com"),
        ("info[at]acme[dot]com", "info@acme.com"),
        ("Info [AT] Acme [DOT] com", "info@acme.com"),
        ("info AT acme DOT com", "info@acme.com"),
        ("info AT acme.com", "info@acme.com"),
        ("Please write to jane.roe at acme dot com for details", "jane.roe@acme.com"),
        ("max dot power at acme dot co dot uk", "max.power@acme.co.uk"),
        ("info [@] acme.com", "info@acme.com"),
        ("info(at)acme.com", "info@acme.com"),
        ("info (@) acme.com", "info@acme.com"),
        ("kontakt [ät] firma [punkt] de", "kontakt@firma.de"),
        ("kontakt (ät) firma (punkt) de", "kontakt@firma.de"),
        ("contact [arobase] societe [point] fr", "contact@societe.fr"),
        ("info [arroba] empresa [punto] es", "info@empresa.es"),
        ("info [chiocciola] azienda [punto] it", "info@azienda.it"),
        ("info @ acme . com", "info@acme.com"),
        ("info @ acme.com", "info@acme.com"),
        ("office [at] acme [dot] co [dot] uk", "office@acme.co.uk"),
        ("<p>Mail: <b>info</b> [at] <b>acme</b> [dot] com</p>", "info@acme.com"),
        ("info&#91;at&#93;acme&#91;dot&#93;com", "info@acme.com"),
        ("info [ at ] acme [ dot ] com", "info@acme.com"),
        ("info&nbsp;[at]&nbsp;acme&nbsp;[dot]&nbsp;com", "info@acme.com"),
        ("Contact us at info at acme dot com", "info@acme.com"),
    ],
    ids=[
        "square",
        "round",
        "curly",
        "square-no-spaces",
        "square-uppercase",
        "words-uppercase",
        "uppercase-at-real-dot",
        "words-lowercase",
        "words-dotted-local",
        "bracketed-at-sign",
        "round-no-spaces",
        "round-at-sign",
        "german",
        "german-round",
        "french",
        "spanish",
        "italian",
        "spaced-at-and-dot",
        "spaced-at",
        "second-level-tld",
        "inline-tags",
        "entities",
        "padded-brackets",
        "non-breaking-spaces",
        "worded-after-prose-at",
    ],
)
def test_obfuscations(html, expected):
    found = extract_emails(html)
    assert [c.email for c in found] == [expected]
    assert found[0].how == "obfuscated"


@pytest.mark.parametrize(
    "html",
    [
        "meet us at the park dot com",
        "meet us at park dot com",
        "look at example dot",
        "We arrived at noon. Dot matrix printers were everywhere.",
        "See you at home dot com style",
        "Our booth is at hall 3.",
        "He works at acme.com since 2019",
        "Ask at reception dot desk",
        "Follow us @ twitter.com",
        "<script>var x = y [at] z [dot] com;</script>",
        '<div title="info [at] acme [dot] com"></div>',
        "prices (at) cost [dot] matrix",
    ],
    ids=[
        "park",
        "park-without-article",
        "look-at",
        "prose-with-dot-word",
        "see-you-at",
        "booth",
        "works-at-domain",
        "desk-not-tld",
        "follow-us",
        "in-script",
        "in-attribute",
        "not-a-tld",
    ],
)
def test_obfuscation_false_positives(html):
    assert emails(html) == []


# --- internationalised addresses ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>jürgen@müller.de</p>", ["jürgen@müller.de"]),
        ("<p>Info@Bücher.de</p>", ["info@bücher.de"]),
        ("<p>JÜRGEN@MÜLLER.DE</p>", ["jürgen@müller.de"]),
        ('<a href="mailto:info@b%C3%BCcher.de">x</a>', ["info@bücher.de"]),
        ("<p>info@xn--bcher-kva.de</p>", ["info@xn--bcher-kva.de"]),
        ("<p>j&uuml;rgen@m&uuml;ller.de</p>", ["jürgen@müller.de"]),
        ("<p>почта@пример.рф</p>", ["почта@пример.рф"]),
        ("<p>info@bücher.de</p>", ["info@bücher.de"]),
    ],
    ids=[
        "umlauts",
        "mixed-case",
        "uppercase",
        "percent-utf8",
        "punycode",
        "entities",
        "cyrillic",
        "idn",
    ],
)
def test_internationalised(html, expected):
    assert emails(html) == expected


# --- rejections ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        "<p>logo@2x.png</p>",
        "<p>icon@3x.webp</p>",
        "<p>hero-image@1.5x.jpg</p>",
        "<p>bg@2x.svg</p>",
        "<p>x@2x.gif</p>",
        "<p>sprite@2x.css</p>",
        "<p>font@1.woff2</p>",
        "<p>bundle@main.js</p>",
        "<p>chunk@vendor.mjs</p>",
        "<p>report@final.pdf</p>",
        "<p>page@index.php</p>",
        "<p>archive@backup.zip</p>",
        '<img src="/img/logo@2x.png" srcset="/img/logo@2x.png 2x, /img/logo@3x.png 3x">',
        '<img data-srcset="team@2x.jpg 2x" alt="Team">',
        '<div style="background-image:url(/img/bg@2x.jpg)"></div>',
        '<picture><source srcset="hero@2x.avif 2x"></picture>',
    ],
    ids=[
        "png",
        "webp",
        "fractional-density",
        "svg",
        "gif",
        "css",
        "woff2",
        "js",
        "mjs",
        "pdf",
        "php",
        "zip",
        "img-srcset",
        "data-srcset",
        "style-url",
        "picture-source",
    ],
)
def test_rejects_asset_names(html):
    assert emails(html) == []


@pytest.mark.parametrize(
    "html",
    [
        "<p>npm install react@18.2.0</p>",
        "<code>@babel/core@7.1.0</code>",
        "<code>lodash@4.17.21</code>",
        '<script src="https://cdn.jsdelivr.net/npm/jquery@3.6.0/dist/jquery.min.js"></script>',
        '<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/bootstrap@5.3.0/dist/css/bootstrap.min.css">',
        '<script src="https://unpkg.com/vue@3/dist/vue.js"></script>',
        "<p>https://cdn.jsdelivr.net/npm/bootstrap@5.3.0/dist/css/bootstrap.min.css</p>",
        "<p>jquery@3.6.0/dist/jquery.min.js</p>",
        "<p>https://cdn.skypack.dev/@acme/widgets@latest.es</p>",
    ],
    ids=[
        "react",
        "scoped",
        "lodash",
        "jsdelivr-script",
        "jsdelivr-css",
        "unpkg",
        "url-in-text",
        "path-in-text",
        "tag-name-version",
    ],
)
def test_rejects_package_specifiers(html):
    assert emails(html) == []


@pytest.mark.parametrize(
    "html",
    [
        "<p>https://abc123def@o12345.ingest.sentry.io/678</p>",
        '<script>Sentry.init({dsn:"https://abc123def@o12345.ingest.sentry.io/678"})</script>',
        "<p>ftp://user:pass@host.com/file</p>",
        "<p>git@github.com:org/repo.git</p>",
        "<p>postgres://u:p@db.acme.com/x</p>",
        "<p>see //user@host.acme.com for details</p>",
        "<p>https://acme.com/share?email=info@acme.com</p>",
        "<p>ssh admin@server.acme.com:2222</p>",
        '<a href="https://user@acme.com/login">Log in</a>',
    ],
    ids=[
        "sentry-dsn",
        "sentry-dsn-script",
        "ftp-credentials",
        "git-scp",
        "postgres",
        "protocol-relative",
        "query-string",
        "host-port",
        "href",
    ],
)
def test_rejects_urls(html):
    assert emails(html) == []


@pytest.mark.parametrize(
    "html",
    [
        "<p>{{email}}@acme.com</p>",
        "<p>${user}@acme.com</p>",
        "<p>%email%@acme.com</p>",
        "<p>[email]@acme.com</p>",
        "<p>you@yourdomain.com</p>",
        "<p>name@domain.com</p>",
        "<p>email@domain.com</p>",
        "<p>user@email.com</p>",
        "<p>your.name@company.com</p>",
        "<p>john.doe@example.com</p>",
        "<p>test@test.com</p>",
        "<p>info@example.org</p>",
        "<p>info@example.net</p>",
        "<p>info@mail.example.com</p>",
        "<p>yourname@acme.com</p>",
        "<p>username@acme.com</p>",
        "<p>xxx@xxx.xx</p>",
        "<p>max.mustermann@musterfirma.de</p>",
        "<p>vorname.nachname@acme.de</p>",
        "<p>info@example.co.uk</p>",
    ],
    ids=[
        "mustache",
        "dollar-brace",
        "percent",
        "square",
        "yourdomain",
        "name-at-domain",
        "email-at-domain",
        "user-at-email",
        "your-name-company",
        "john-doe-example",
        "test-test",
        "example-org",
        "example-net",
        "example-subdomain",
        "yourname",
        "username",
        "xxx",
        "mustermann",
        "vorname-nachname",
        "example-second-level",
    ],
)
def test_rejects_placeholders(html):
    assert emails(html) == []


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<script>var s="\\u003einfo@acme.com\\u003c/a\\u003e";</script>', ["info@acme.com"]),
        ('<script>var s="\\x3cinfo@acme.com";</script>', ["info@acme.com"]),
        ("<p>%20info@acme.com</p>", ["info@acme.com"]),
        ("<p>%3Cinfo@acme.com%3E</p>", ["info@acme.com"]),
        ('<script>var s="Contact:\\ninfo@acme.com\\nPhone";</script>', ["info@acme.com"]),
        ("<p>info@acme.comPhone: 0123</p>", ["info@acme.com"]),
        ("<p>info@acme.deTel. 0711</p>", ["info@acme.de"]),
        ("<p>info@acme.comphone: 0123</p>", ["info@acme.com"]),
        ("<p>info@acme.de0711 123</p>", ["info@acme.de"]),
        ("<p>info@acme.coMPhone</p>", []),
        ("<p>...info@acme.com</p>", ["info@acme.com"]),
    ],
    ids=[
        "unicode-escape",
        "hex-escape",
        "percent-space",
        "percent-angles",
        "newline-escape",
        "camel-case-glue",
        "capital-glue",
        "lowercase-glue-word",
        "digit-glue",
        "unclear-glue",
        "leading-dots",
    ],
)
def test_glued_neighbours(html, expected):
    assert emails(html) == expected


@pytest.mark.parametrize(
    "html",
    [
        '<input type="email" placeholder="you@company.com">',
        '<input type="email" name="email" placeholder="name@acme-mail.com">',
        '<input type="hidden" name="to" value="info@acme.com">',
        '<textarea placeholder="hello@acme.com"></textarea>',
        '<select><option value="sales@acme.com">Sales</option></select>',
        '<form action="https://acme.com/subscribe?u=x@acme.com"></form>',
    ],
    ids=["placeholder", "placeholder-real-shape", "hidden-value", "textarea", "option", "action"],
)
def test_rejects_form_attributes(html):
    assert emails(html) == []


@pytest.mark.parametrize(
    "html",
    [
        "<style>@media (max-width:600px){a{color:red}}@import url(x.css);</style>",
        "<style>@font-face{font-family:x;src:url(font@1.woff2)}@keyframes spin{}</style>",
        "<style>.logo{background:url(logo@2x.png)}.a{content:'info@acme.com'}</style>",
        '<p style="background:url(a@2x.png)">x</p>',
        "<!-- webmaster@acme.com -->",
        '<style media="print">.x{}</style><svg><style>@import "a@b.css";</style></svg>',
        "<!-- <p>old@acme.com</p>",
        f'<!-- <span data-cfemail="{cf_encode("old@acme.com")}"></span> -->',
    ],
    ids=[
        "media-import",
        "font-face",
        "style-block-content",
        "style-attribute",
        "comment",
        "svg",
        "unclosed-comment",
        "cloudflare-in-comment",
    ],
)
def test_rejects_css_and_comments(html):
    assert emails(html) == []


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<script>/** @param {string} email @license MIT */</script>", []),
        ("<script>/*! Copyright jo@acme.com */ var a=1;</script>", []),
        ("<script>// mail bugs to dev@acme.com\nvar a=1;</script>", []),
        ("<script>var e=t.a@n.d;</script>", []),
        ("<script>!function(e){e.x@c.de}()</script>", []),
        ("<script>var s='Write to help@acme.com';</script>", ["help@acme.com"]),
        ("<script>var s=`Write to help@acme.com`;</script>", ["help@acme.com"]),
        ('<script>x("a\\"b", "sales@acme.com")</script>', ["sales@acme.com"]),
        ("<script>@Component({selector:'app'})</script>", []),
        (
            '<script>var a="x@acme.com", b=y@acme.com, c="z@acme.com";</script>',
            ["x@acme.com", "z@acme.com"],
        ),
        (
            '<script>var a="x@acme.com";\nb=y@acme.com;\nc="z@acme.com"</script>',
            ["x@acme.com", "z@acme.com"],
        ),
        ('<p>a@acme.com</p><script>x="b@acme.com"', ["a@acme.com", "b@acme.com"]),
        ("<p>a@acme.com</p><script>b@acme.com", ["a@acme.com"]),
    ],
    ids=[
        "jsdoc",
        "license-comment",
        "line-comment",
        "member-access",
        "minified",
        "single-quoted",
        "template-literal",
        "escaped-quote",
        "decorator",
        "string-parity-on-one-line",
        "string-parity-per-line",
        "unclosed-script-string",
        "unclosed-script-code",
    ],
)
def test_inline_scripts(html, expected):
    assert emails(html) == expected


@pytest.mark.parametrize(
    "html",
    [
        "<p>info..sales@acme.com</p>",
        "<p>info.@acme.com</p>",
        "<p>info@acme.c</p>",
        "<p>1.2.3@4.5</p>",
        "<p>version 1.0@2.0.1</p>",
        "<p>a@b</p>",
        "<p>info@[192.168.0.1]</p>",
        "<p>info@192.168.0.1</p>",
        f"<p>{'a' * 65}@acme.com</p>",
        f"<p>info@{'a' * 64}.com</p>",
        "<p>info@host_name.acme.com</p>",
        "<p>info@acme..com</p>",
        "<p>info@-acme.com</p>",
        "<p>info@acme.test</p>",
        "<p>info@acme.invalid</p>",
        "<p>info@localhost</p>",
    ],
    ids=[
        "double-dot",
        "trailing-dot",
        "one-letter-tld",
        "numeric",
        "version",
        "no-dot",
        "ip-literal",
        "ip-address",
        "long-local",
        "long-label",
        "underscore-host",
        "empty-label",
        "leading-hyphen",
        "special-use-test",
        "special-use-invalid",
        "localhost",
    ],
)
def test_rejects_invalid_syntax(html):
    assert emails(html) == []


@pytest.mark.parametrize(
    "html",
    [
        "<p>5f2b8c1d9e7a4b3c2d1e0f9a8b7c6d5e@sentry.wixpress.com</p>",
        "<p>605a7baede844d278b89dc95ae0a9123@sentry-next.wixpress.com</p>",
        "<p>info@o12345.ingest.sentry.io</p>",
        "<p>abc@sentry.io</p>",
        "<p>tracking@static.wixpress.com</p>",
        "<p>0123456789abcdef0123456789abcdef@acme-cdn.com</p>",
    ],
    ids=["wix-sentry", "wix-sentry-next", "sentry-ingest", "sentry", "wixpress", "hash-local"],
)
def test_rejects_tracking(html):
    assert emails(html) == []


# --- plain text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Contact: security@acme.com\nExpires: 2030-01-01", ["security@acme.com"]),
        ("Contact: mailto:security@acme.com", ["security@acme.com"]),
        ("John Doe <jd@acme.com>, Jane <jane@acme.com>", ["jd@acme.com", "jane@acme.com"]),
        ("write to info [at] acme [dot] com", ["info@acme.com"]),
        ("logo@2x.png react@18.2.0 you@example.com", []),
        ("info&#64;acme.com", []),
        ("<b>x</b>info@acme.com", ["info@acme.com"]),
        ("https://abc@o1.ingest.sentry.io/2 and sales@acme.com", ["sales@acme.com"]),
        ("Nothing to see here.", []),
        ('{"email": "info\\u0040acme.com"}', ["info@acme.com"]),
        ("Email: info AT acme DOT com", ["info@acme.com"]),
    ],
    ids=[
        "security-txt",
        "mailto",
        "display-names",
        "obfuscated",
        "rejections",
        "no-entity-decoding",
        "markup-is-text",
        "dsn-then-address",
        "empty",
        "json-escape",
        "worded",
    ],
)
def test_extract_from_text(text, expected):
    assert text_emails(text) == expected


# --- helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Info@Acme.COM ", "info@acme.com"),
        ("info%40acme.com", "info@acme.com"),
        ("info&#64;acme.com", "info@acme.com"),
        ("mailto:Info@Acme.com", "info@acme.com"),
        ('"info@acme.com",', "info@acme.com"),
        ("<info@acme.com>", "info@acme.com"),
        ("(info@acme.com).", "info@acme.com"),
        ("JÜRGEN@MÜLLER.DE", "jürgen@müller.de"),
        ("jürgen@mu\u0308ller.de", "jürgen@müller.de"),
        ("info at acme.com", None),
        ("info", None),
        ("@acme.com", None),
        ("info@", None),
        ("a@b@acme.com", None),
    ],
    ids=[
        "whitespace-case",
        "percent",
        "entity",
        "mailto",
        "quotes-comma",
        "angles",
        "parentheses",
        "unicode-upper",
        "nfc",
        "space",
        "no-at",
        "no-local",
        "no-domain",
        "two-ats",
    ],
)
def test_normalise_email(raw, expected):
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("info@acme.com", True),
        ("jürgen@müller.de", True),
        ("info@xn--bcher-kva.de", True),
        ("logo@2x.png", False),
        ("photo@acme.jpeg", False),
        ("react@18.2.0", False),
        ("info@acme.c", False),
        ("you@example.com", False),
        ("info@example.de", False),
        ("5f2b8c1d9e7a4b3c2d1e0f9a8b7c6d5e@acme.com", False),
        ("x@o1.ingest.sentry.io", False),
        ("{{email}}@acme.com", False),
        ("info@email.acme.com", True),
        ("info@acme.co.uk", True),
    ],
    ids=[
        "plain",
        "idn",
        "punycode",
        "asset",
        "jpeg",
        "version",
        "short-tld",
        "example",
        "example-other-tld",
        "hash",
        "sentry",
        "template",
        "email-subdomain",
        "second-level-tld",
    ],
)
def test_is_plausible_contact(email, expected):
    assert is_plausible_contact(email) is expected


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("info@acme.com", True),
        ("Sales@acme.com", True),
        ("support-de@acme.com", True),
        ("kontakt@acme.de", True),
        ("presse@acme.de", True),
        ("bewerbung@acme.de", True),
        ("contacto@acme.es", True),
        ("accueil@acme.fr", True),
        ("hello+web@acme.com", True),
        ("info2@acme.com", True),
        ("no-reply@acme.com", True),
        ("enquiries@acme.co.uk", True),
        ("jane.roe@acme.com", False),
        ("j.smith@acme.com", False),
        ("informatik.student@uni.de", False),
        ("salesforce@acme.com", False),
    ],
    ids=[
        "info",
        "capitalised",
        "suffixed",
        "german",
        "german-press",
        "german-jobs",
        "spanish",
        "french",
        "plus-tag",
        "digit",
        "no-reply",
        "enquiries",
        "person",
        "initial",
        "prefix-only",
        "word-containing-role",
    ],
)
def test_is_role_address(email, expected):
    assert is_role_address(email) is expected


# --- a realistic page ---------------------------------------------------------------------------

CF_MANAGER = cf_encode("m.keller@acme-widgets.de", 0x3C)
REALISTIC_PAGE = f"""<!DOCTYPE html>
<html lang="de" xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta charset="utf-8">
<title>Acme Widgets GmbH &ndash; Kontakt</title>
<meta name="description" content="Widgets &amp; gadgets since 1999">
<meta property="og:image" content="https://acme-widgets.de/img/og@2x.jpg">
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/bootstrap@5.3.0/dist/css/bootstrap.min.css">
<link rel="preload" as="image" imagesrcset="/img/hero@1x.webp 1x, /img/hero@2x.webp 2x">
<style>
@import url("https://fonts.googleapis.com/css2?family=Inter");
@media (max-width: 768px) {{ .nav {{ display: none; }} }}
@font-face {{ font-family: Inter; src: url(/fonts/inter@1.woff2) format("woff2"); }}
.logo {{ background: url(/img/logo@2x.png) no-repeat; }}
</style>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-XYZ"></script>
<script>
  window.dataLayer = window.dataLayer || [];
  function gtag(){{dataLayer.push(arguments);}}
  gtag('js', new Date()); gtag('config', 'G-XYZ');
  Sentry.init({{ dsn: "https://5f2b8c1d9e7a4b3c2d1e0f9a8b7c6d5e@o12345.ingest.sentry.io/678" }});
  /** @param {{string}} email - the visitor's address, e.g. you@example.com */
</script>
<script type="application/ld+json">
{{
  "@context": "https://schema.org",
  "@type": "Organization",
  "name": "Acme Widgets GmbH",
  "logo": "https://acme-widgets.de/img/logo@2x.png",
  "email": "mailto:office@acme-widgets.de",
  "contactPoint": {{ "@type": "ContactPoint", "email": "service\\u0040acme-widgets.de" }}
}}
</script>
</head>
<body>
<nav class="nav"><a href="/">Start</a><a href="/produkte">Produkte</a>
<a href="/kontakt">Kontakt</a></nav>
<header><img src="/img/logo.png" srcset="/img/logo@2x.png 2x, /img/logo@3x.png 3x"
  alt="Acme"></header>
<main>
<h1>Kontakt</h1>
<p>Schreiben Sie uns:
<a href="mailto:info@acme-widgets.de?subject=Anfrage&amp;cc=vertrieb@acme-widgets.de"
  >info@acme-widgets.de</a></p>
<p>Presse: <span>presse</span>@<span>acme-widgets.de</span></p>
<p>Bewerbungen bitte an jobs [at] acme-widgets [dot] de</p>
<p>Buchhaltung: buchhaltung&#64;acme-widgets.de</p>
<p>Geschäftsführer: <a href="/cdn-cgi/l/email-protection" class="__cf_email__"
  data-cfemail="{CF_MANAGER}">[email&#160;protected]</a></p>
<form><label>E-Mail</label><input type="email" placeholder="you@company.com" value="">
<textarea placeholder="name@example.com"></textarea></form>
<p>Install our SDK: <code>npm i @acme/widgets@2.4.1</code> or <code>https://unpkg.com/vue@3/dist/vue.js</code></p>
<p>Treffen Sie uns at the fair dot com booth.</p>
</main>
<footer><p>&copy; 2024 Acme Widgets GmbH &middot; info@acme-widgets.de &middot; Tel. 0711 1234</p>
<!-- old: webmaster@acme-widgets.de -->
<script>window.__CONFIG__ = {{"support":{{"email":"support@acme-widgets.de"}},
"cdn":"//static@cdn.acme-widgets.de/x"}};</script>
</footer>
</body>
</html>
"""


def test_realistic_page():
    assert extract_emails(REALISTIC_PAGE) == [
        Candidate("office@acme-widgets.de", "jsonld"),
        Candidate("service@acme-widgets.de", "jsonld"),
        Candidate("info@acme-widgets.de", "mailto"),
        Candidate("vertrieb@acme-widgets.de", "mailto"),
        Candidate("presse@acme-widgets.de", "text"),
        Candidate("jobs@acme-widgets.de", "obfuscated"),
        Candidate("buchhaltung@acme-widgets.de", "text"),
        Candidate("m.keller@acme-widgets.de", "cfemail"),
        Candidate("support@acme-widgets.de", "script"),
    ]


def test_large_inline_data_attribute():
    html = '<div data-state=\'{"blob":"' + "x" * 5000 + '","email":"info@acme.com"}\'></div>'
    assert extract_emails(html) == [Candidate("info@acme.com", "attribute")]


def test_many_hints_do_not_hide_page_order():
    html = "<p>info [at] acme [dot] com</p>" + "<p>sales@acme.com</p>"
    assert emails(html) == ["info@acme.com", "sales@acme.com"]


def test_nothing_to_find():
    assert extract_emails("<html><body><p>Hello world</p></body></html>") == []
    assert extract_emails("") == []
