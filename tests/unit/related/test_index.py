"""The index (pipeline/related/index.py): documents, postings and document counts."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.related.models import RelatedDocument, TermFrequency
from pipeline.related.store import ALL_DOCUMENTS
from tests.conftest import Newsroom
from tests.unit.related.topics import publish_topic


def test_the_index_keeps_its_document_count_and_term_counts_exact(newsroom: Newsroom) -> None:
    """Document frequencies (and the number of documents, the empty term's count) are kept by
    increments on publish, update and unpublish: they must equal a count of the index."""
    for number, topic in enumerate(["volcano", "football", "chips", "volcano"]):
        publish_topic(newsroom, f"counted-{number}", topic)
    publish_topic(newsroom, "counted-1", "chips", extra="retitled")  # an update re-indexes
    newsroom.unpublish("counted-2")
    with transaction(newsroom.services.sessions) as session:
        documents = session.scalars(select(RelatedDocument)).all()
        expected = Counter(term for document in documents for term in document.vocabulary)
        expected[ALL_DOCUMENTS] = len(documents)
        stored = dict(session.execute(select(TermFrequency.term, TermFrequency.documents)).all())
    assert len(documents) == 3
    assert {term: count for term, count in stored.items() if count} == dict(expected)


def test_indexing_a_version_already_in_changes_nothing(newsroom: Newsroom) -> None:
    publish_topic(newsroom, "volcano-0", "volcano")
    publish_topic(newsroom, "chips-0", "chips")
    counts = select(TermFrequency.term, TermFrequency.documents)
    with transaction(newsroom.services.sessions) as session:
        before = dict(session.execute(counts).all())
        live = list(session.scalars(select(Article)))
        assert newsroom.services.related.index_many(session, live) == []
        assert dict(session.execute(counts).all()) == before
