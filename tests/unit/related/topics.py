"""A small corpus of three topics for the related index's tests, and how to read a rail."""

from __future__ import annotations

from sqlalchemy import select

from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.events.processing import Outcome
from tests.conftest import Newsroom

TOPICS = {
    "volcano": ("Volcano erupts near village", "Lava and ash from the volcano forced the village "
                "to evacuate. Geologists watched the crater and the lava flow."),
    "football": ("Striker scores in cup final", "The striker scored twice as the club won the cup "
                 "final. The goalkeeper saved a penalty before the striker's goal."),
    "chips": ("Chipmaker unveils faster processor", "The chipmaker said its processor uses "
              "smaller transistors. Semiconductor factories will build the processor."),
}  # fmt: skip


def publish_topic(newsroom: Newsroom, slug: str, topic: str, extra: str = "") -> Outcome:
    title, body = TOPICS[topic]
    return newsroom.publish(
        slug=slug,
        title=f"{title} {extra}".strip(),
        body=f"{body} {extra}",
        tags=[],
        section="world",
    )


def article_id(newsroom: Newsroom, slug: str) -> int:
    with transaction(newsroom.services.sessions) as session:
        return session.scalars(select(Article.id).where(Article.slug == slug)).one()


def rail(newsroom: Newsroom, slug: str) -> list[str]:
    """The rail as the renderer reads it from the database."""
    with transaction(newsroom.services.sessions) as session:
        article = session.scalars(select(Article).where(Article.slug == slug)).one()
        return [
            related.slug
            for related in newsroom.services.renderer.related_articles(session, article.id)
        ]


def rail_on_page(newsroom: Newsroom, slug: str) -> list[str]:
    """The rail as the stored page shows it."""
    from bs4 import BeautifulSoup

    page = BeautifulSoup(newsroom.read(newsroom.key(slug)) or "", "html5lib")
    return [a["href"].rstrip("/").split("/")[-1] for a in page.select("#related-rail li a")]
