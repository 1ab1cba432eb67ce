"""The article HTML allow-list, plain-text paragraphs, teasers and slugs."""

from __future__ import annotations

import pytest

from pipeline.sanitize import (
    TEASER_TEXT_LENGTH,
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
