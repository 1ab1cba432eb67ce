"""Impact's preview (pipeline/related/preview.py): the index's own code, its writes kept in
memory through the store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.related.models import RelatedDocument, RelatedRail, RelatedTerm, TermFrequency
from pipeline.related.preview import RailPreview
from tests.conftest import Newsroom, article_data
from tests.unit.related.topics import TOPICS, publish_topic


def index_rows(session: Session) -> dict[str, Any]:
    """Everything the related index stores, as plain values."""
    return {
        "documents": session.execute(
            select(RelatedDocument.article_id, RelatedDocument.norm).order_by("article_id")
        ).all(),
        "terms": session.execute(
            select(RelatedTerm.article_id, RelatedTerm.term, RelatedTerm.weight).order_by(
                RelatedTerm.article_id, RelatedTerm.term
            )
        ).all(),
        "counts": session.execute(
            select(TermFrequency.term, TermFrequency.documents).order_by(TermFrequency.term)
        ).all(),
        "rails": session.execute(
            select(RelatedRail.article_id, RelatedRail.rank, RelatedRail.neighbour_id).order_by(
                RelatedRail.article_id, RelatedRail.rank
            )
        ).all(),
    }


def test_a_preview_names_the_rails_the_change_moves_and_writes_nothing(
    newsroom: Newsroom,
) -> None:
    related = newsroom.services.related
    for number in range(3):
        publish_topic(newsroom, f"volcano-{number}", "volcano", extra=f"day {number}")
    publish_topic(newsroom, "football-0", "football")
    title, body = TOPICS["volcano"]
    data, _ = parse_article(article_data(slug="volcano-late", title=title, body=body, tags=[]))
    with transaction(newsroom.services.sessions) as session:
        late = session.get(Article, articles.publish(session, data, actor="test").article_id)
        assert late is not None
        before = index_rows(session)
        previewed = RailPreview(related).apply_change(session, late)
        assert index_rows(session) == before
        made = related.apply_change(session, late)
        assert index_rows(session) != before
    assert late.id in made
    assert len(made) > 1  # its own rail and the volcano rails it enters
    assert previewed == made
