"""A rebuild's two passes over the index (pipeline/related/index.py, count_many then
weigh_many): the vectors of one bulk index, whatever order the articles were counted in."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.related import index
from pipeline.related.models import RelatedDocument, RelatedTerm, TermFrequency
from pipeline.related.store import ALL_DOCUMENTS, UNWEIGHED
from tests.conftest import Newsroom
from tests.unit.related.topics import publish_topic

TOPICS = ["volcano", "football", "chips", "volcano", "chips", "football"]


def emptied(newsroom: Newsroom, session: Session) -> list[Article]:
    """Every article taken out of the index (and its counts); returns them, in id order."""
    live = list(session.scalars(select(Article).order_by(Article.id)))
    for article in live:
        index.remove(newsroom.services.related.store, session, article.id)
    assert session.scalar(select(func.count()).select_from(RelatedDocument)) == 0
    return live


def state(session: Session) -> dict[str, Any]:
    return {
        "documents": session.execute(
            select(
                RelatedDocument.article_id,
                RelatedDocument.norm,
                RelatedDocument.vocabulary,
                RelatedDocument.term_weights,
            ).order_by(RelatedDocument.article_id)
        ).all(),
        "postings": session.execute(
            select(RelatedTerm.article_id, RelatedTerm.term, RelatedTerm.weight).order_by(
                RelatedTerm.article_id, RelatedTerm.term
            )
        ).all(),
    }


def test_counted_then_weighed_in_any_order_gives_the_vectors_of_one_bulk_index(
    newsroom: Newsroom,
) -> None:
    for number, topic in enumerate(TOPICS):
        publish_topic(newsroom, f"weighed-{number}", topic)
    related = newsroom.services.related
    with transaction(newsroom.services.sessions) as session:
        live = emptied(newsroom, session)
        related.index_many(session, live)
        at_once = state(session)
    with transaction(newsroom.services.sessions) as session:
        live = emptied(newsroom, session)
        counted = related.count_many(session, live[3:]) + related.count_many(session, live[:3])
        assert sorted(counted) == [article.id for article in live]
        # Counted, not weighed: no postings yet, and the document waits with its bag.
        assert session.scalar(select(func.count()).select_from(RelatedTerm)) == 0
        assert set(session.scalars(select(RelatedDocument.norm))) == {UNWEIGHED}
        # A chunk run again over its own work reports what it counted, still to be weighed.
        assert related.count_many(session, live[:3]) == [article.id for article in live[:3]]
        weighed = related.weigh_many(session, counted[:2]) + related.weigh_many(session, counted)
        assert sorted(weighed) == [article.id for article in live]
        assert related.weigh_many(session, counted) == []
        in_two_passes = state(session)
    assert len(at_once["postings"]) > len(TOPICS) * 5
    assert in_two_passes == at_once


def test_a_document_indexed_before_bags_were_kept_leaves_with_its_terms(
    newsroom: Newsroom,
) -> None:
    """Documents written before the bag (term: occurrences) was kept hold their terms as a
    list: taking one out of the index takes each of its terms out of the counts once."""
    for number, topic in enumerate(["volcano", "volcano", "chips"]):
        publish_topic(newsroom, f"listed-{number}", topic)
    with transaction(newsroom.services.sessions) as session:
        for document in session.scalars(select(RelatedDocument)):
            assert isinstance(document.vocabulary, dict)
            session.execute(
                update(RelatedDocument)
                .where(RelatedDocument.article_id == document.article_id)
                .values(vocabulary=sorted(document.vocabulary))
            )
    newsroom.unpublish("listed-0")
    with transaction(newsroom.services.sessions) as session:
        documents = session.scalars(select(RelatedDocument)).all()
        expected = Counter(term for document in documents for term in document.vocabulary)
        expected[ALL_DOCUMENTS] = len(documents)
        stored = dict(session.execute(select(TermFrequency.term, TermFrequency.documents)).all())
    assert len(documents) == 2
    assert {term: count for term, count in stored.items() if count} == dict(expected)
