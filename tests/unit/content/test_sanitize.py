"""The article HTML allow-list, plain-text paragraphs, teasers and slugs."""

from __future__ import annotations

import pytest

from pipeline.content.inputs import InvalidInput, parse_article
from pipeline.content.sanitize import (
    ALLOWED_ATTRIBUTES,
    TEASER_TEXT_LENGTH,
    URL_ATTRIBUTES,
    clean_html,
    derive_slug,
    html_to_text,
    teaser,
    teaser_text,
    text_to_html,
)


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script><p>ok</p>",
        '<img src="x" onerror="alert(1)"><p>ok</p>',
        '<a href="javascript:alert(1)">ok</a>',
        '<svg onload="alert(1)"></svg><p>ok</p>',
        "<style>body{display:none}</style><p>ok</p>",
        '<p onclick="alert(1)">ok</p>',
        '<a href=" JaVaScRiPt:alert(1)">ok</a>',
        '<iframe src="https://evil.example"></iframe><p>ok</p>',
    ],
)
def test_hostile_markup_is_removed(hostile: str) -> None:
    cleaned = clean_html(hostile).lower()
    for marker in ("<script", "onerror", "onload", "onclick", "javascript:", "<svg", "<style",
                   "<iframe", "alert(1)"):  # fmt: skip
        assert marker not in cleaned
    assert "ok" in cleaned


def test_article_markup_survives() -> None:
    html = '<p>A <a href="https://example.com">link</a>, <em>em</em> and <strong>b</strong>.</p>'
    assert clean_html(html) == html.replace('">link', '" rel="noopener">link')


def test_plain_text_becomes_paragraphs_escaped() -> None:
    assert text_to_html("One & two.\n\n<b>Three</b>\nfour") == (
        "<p>One &amp; two.</p>\n<p>&lt;b&gt;Three&lt;/b&gt;<br>four</p>"
    )


def test_teaser_is_one_line_ending_in_an_ellipsis() -> None:
    text = teaser(teaser_text("", "<p>" + "word " * 100 + "</p>"), limit=40)
    assert text.endswith("…")
    assert "\n" not in text
    assert len(text) <= 41
    assert html_to_text("<p>a</p><p>b</p>") == "a b"


def test_teaser_text_is_the_standfirst_else_the_body_as_plain_text() -> None:
    assert teaser_text("Sums it up.", "<p>Body.</p>") == "Sums it up."
    assert teaser_text("", "<p>Tom &amp; <b>Jerry</b></p>") == "Tom & Jerry"
    long_body = "<p>" + "word " * 200 + "</p>"
    assert len(teaser_text("", long_body)) == TEASER_TEXT_LENGTH
    # Every teaser cut from the stored text equals the one cut from the whole body.
    for limit in (110, 140, 240):
        assert teaser(teaser_text("", long_body), limit) == teaser(html_to_text(long_body), limit)


@pytest.mark.parametrize(
    ("title", "slug"),
    [("Zürich wins the vote", "zurich-wins-the-vote"), ("Ça va? Déjà vu!", "ca-va-deja-vu"),
     ("Москва и Киев", "moskva-i-kiev"), ("!!!", "article")],
)  # fmt: skip
def test_derived_slugs_transliterate(title: str, slug: str) -> None:
    assert derive_slug(title) == slug


# Ways to write "another host, same scheme" that browsers follow: the resource or link leaves
# the site while looking like one of its paths.
OFF_SITE = [
    "//evil.example/x.png",
    "/\\evil.example/x.png",
    "\\\\evil.example/x.png",
    "\\/evil.example/x.png",
    " //evil.example/x.png",
    "\t//evil.example/x.png",
    "/\t/evil.example/x.png",
    "/\n/evil.example/x.png",
    "/%2Fevil.example/x.png",
    "/%5cevil.example/x.png",
    "&#47;&#47;evil.example/x.png",
]
HOSTILE_SCHEMES = ["javascript:alert(1)", " JaVaScRiPt:alert(1)", "java\tscript:alert(1)",
                   "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)"]  # fmt: skip
URL_PLACES = {
    "a href": '<a href="{}">link</a>',
    "img src": '<img src="{}" alt="x">',
    "blockquote cite": '<blockquote cite="{}">quote</blockquote>',
}


@pytest.mark.parametrize("place", URL_PLACES)
@pytest.mark.parametrize("url", OFF_SITE + HOSTILE_SCHEMES)
def test_urls_that_leave_the_site_or_run_script_are_removed(place: str, url: str) -> None:
    cleaned = clean_html(URL_PLACES[place].format(url))
    assert "evil" not in cleaned
    assert "script" not in cleaned.lower()
    assert place.split()[1] not in cleaned.replace("alt=", ""), cleaned  # the attribute went


@pytest.mark.parametrize("place", URL_PLACES)
@pytest.mark.parametrize(
    "url", ["https://example.com/a.png", "/static/a.png", "a.png", "#part-two", "?page=2"]
)
def test_https_and_site_relative_urls_are_kept(place: str, url: str) -> None:
    assert f'="{url}"' in clean_html(URL_PLACES[place].format(url))


def test_plain_http_is_for_links_only() -> None:
    url = "http://example.com/a.png"
    assert f'href="{url}"' in clean_html(URL_PLACES["a href"].format(url))
    assert url not in clean_html(URL_PLACES["img src"].format(url))
    assert url not in clean_html(URL_PLACES["blockquote cite"].format(url))


def test_mailto_is_for_links_only() -> None:
    assert 'href="mailto:desk@example.com"' in clean_html('<a href="mailto:desk@example.com">m</a>')
    assert "mailto" not in clean_html('<img src="mailto:desk@example.com">')
    assert "mailto" not in clean_html('<blockquote cite="mailto:desk@example.com">q</blockquote>')


# Attributes HTML reads as URLs.
HTML_URL_ATTRIBUTES = {"href", "src", "srcset", "cite", "action", "formaction", "poster",
                       "data", "background", "longdesc", "usemap", "ping", "manifest",
                       "codebase", "archive", "icon", "xlink:href"}  # fmt: skip


def test_every_url_attribute_the_allow_list_keeps_is_checked() -> None:
    kept = {
        (element, attribute)
        for element, attributes in ALLOWED_ATTRIBUTES.items()
        for attribute in attributes
        if attribute in HTML_URL_ATTRIBUTES
    }
    assert kept == set(URL_ATTRIBUTES)
    # Not kept at all, so not checked: no srcset, and q keeps no cite.
    assert clean_html('<img src="/a.png" srcset="//evil.example/b.png 2x">') == '<img src="/a.png">'
    assert clean_html('<q cite="javascript:alert(1)">q</q>') == "<q>q</q>"


@pytest.mark.parametrize(
    "url", [*OFF_SITE, "a.png", "javascript:alert(1)", "ftp://x/a.png", "http://x.example/a.jpg"]
)
def test_a_lead_image_url_is_https_or_root_relative(url: str) -> None:
    data = {"title": "T", "section": "world", "body": "B", "image": {"url": url, "alt": ""}}
    with pytest.raises(InvalidInput) as refused:
        parse_article(data)
    assert refused.value.field == "image"


@pytest.mark.parametrize("url", ["https://images.example.com/a.jpg", "/static/a.jpg"])
def test_https_and_root_relative_lead_images_are_accepted(url: str) -> None:
    data = {"title": "T", "section": "world", "body": "B", "image": {"url": url, "alt": ""}}
    assert parse_article(data)[0].image is not None
