"""Rails in bulk (pipeline/related/bulk.py): a rebuild scores a chunk's neighbour queries at
once, and must find the neighbours, scores and reasons the per-article query finds.

The helpers are shared with the PostgreSQL test (tests/integration/test_rails_bulk_postgres.py),
whose SQL for the postings differs."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pipeline.cli.demo_content import generate_articles
from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.related import bulk, candidates
from pipeline.related.merge import RailEntry
from pipeline.related.models import RelatedRail
from pipeline.related.query import Neighbour, neighbours, query_weights_many
from pipeline.related.rails import rail
from pipeline.services import Services

# Small enough that the stages' cuts bite on a corpus of a hundred articles: the postings cap
# (with the querying article among a term's heaviest, where the SQL reads one more), the
# shortlist and the candidates.
CUTS = [(400, 1500, 300), (12, 40, 15), (3, 10, 4)]


def indexed_corpus(services: Services, count: int = 120) -> list[int]:
    """Generated articles (topics that share words, and generic news language), imported
    and indexed; returns their ids."""
    records = [parse_article(record)[0] for record in generate_articles(count, seed=16)]
    with transaction(services.sessions) as session:
        articles.import_articles(session, records, actor="test")
    with transaction(services.sessions) as session:
        live = list(session.scalars(select(Article).order_by(Article.id)))
        services.related.index_many(session, live)
        return [article.id for article in live]


def ranked(found: list[Neighbour]) -> list[tuple[int, object]]:
    return [(neighbour.article_id, neighbour.published_at) for neighbour in found]


def assert_bulk_finds_the_per_article_neighbours(services: Services, ids: list[int]) -> None:
    related = services.related
    for limit in (related.tuning.size, 20):
        with transaction(services.sessions) as session:
            queries = query_weights_many(related.store, session, ids)
            one_by_one = {
                article_id: neighbours(
                    related.store, related.tuning, session, article_id, limit, queries[article_id]
                )
                for article_id in ids
            }
            together = bulk.neighbours_many(related.tuning, session, queries, limit)
        assert all(one_by_one.values())
        for article_id in ids:
            # The same neighbours in the same order; the second stage adds the same products
            # in another order, so the last bits of a score may differ.
            assert ranked(together[article_id]) == ranked(one_by_one[article_id])
            assert [n.score for n in together[article_id]] == pytest.approx(
                [n.score for n in one_by_one[article_id]], rel=1e-12
            )


def assert_drafted_rails_are_the_refreshed_rails(services: Services, ids: list[int]) -> None:
    """A rebuild's path (drafted in bulk, stored in batches) stores the rails, reasons
    included, that refreshing them one by one stores."""
    related = services.related
    with transaction(services.sessions) as session:
        session.execute(delete(RelatedRail))
        assert related.refresh_rails(session, ids)
        refreshed = stored_rails(session, ids)
        session.execute(delete(RelatedRail))
    with transaction(services.sessions) as session:
        drafts = related.draft_rails(session, ids)
    changed = set()
    for start in range(0, len(ids), 25):
        with transaction(services.sessions) as session:
            changed |= related.store_drafts(session, drafts, ids[start : start + 25])
    with transaction(services.sessions) as session:
        drafted = stored_rails(session, ids)
    assert changed == {article_id for article_id, rail in refreshed.items() if rail}
    assert rails_shown(drafted) == rails_shown(refreshed)
    assert scores(drafted) == pytest.approx(scores(refreshed), rel=1e-12)


def stored_rails(session: Session, ids: list[int]) -> dict[int, list[RailEntry]]:
    return {article_id: rail(session, article_id) for article_id in ids}


def rails_shown(rails: dict[int, list[RailEntry]]) -> dict[int, list[tuple[int, list[str]]]]:
    """Each rail's neighbours and their reasons, as its page shows them."""
    return {
        article_id: [(entry.neighbour_id, entry.terms) for entry in entries]
        for article_id, entries in rails.items()
    }


def scores(rails: dict[int, list[RailEntry]]) -> list[float]:
    return [entry.score for _, entries in sorted(rails.items()) for entry in entries]


@pytest.mark.parametrize(("cap", "shortlist", "fetched"), CUTS)
def test_bulk_neighbours_are_the_per_article_neighbours(
    services: Services, monkeypatch: pytest.MonkeyPatch, cap: int, shortlist: int, fetched: int
) -> None:
    monkeypatch.setattr(candidates, "POSTINGS_PER_TERM", cap)
    monkeypatch.setattr(candidates, "SHORTLIST", shortlist)
    monkeypatch.setattr(candidates, "CANDIDATES", fetched)
    assert_bulk_finds_the_per_article_neighbours(services, indexed_corpus(services))


def test_bulk_neighbours_in_several_groups_are_the_same(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first stage multiplies a few queries at a time and the second scores queries in
    groups whose candidates fit a bound: however they are split, the neighbours are the
    same."""
    monkeypatch.setattr(bulk, "FIRST_STAGE_ROWS", 7)
    monkeypatch.setattr(bulk, "SECOND_STAGE_DOCUMENTS", 30)
    monkeypatch.setattr(bulk, "IDS_PER_STATEMENT", 11)
    monkeypatch.setattr(candidates, "TERMS_PER_STATEMENT", 13)
    assert_bulk_finds_the_per_article_neighbours(services, indexed_corpus(services))


def test_an_article_without_a_query_has_no_neighbours(services: Services) -> None:
    ids = indexed_corpus(services, count=10)
    related = services.related
    with transaction(services.sessions) as session:
        found = bulk.neighbours_many(related.tuning, session, {ids[0]: {}, 10_000: {"x": 1.0}}, 5)
    assert found == {ids[0]: [], 10_000: []}


def test_drafted_rails_are_the_refreshed_rails(services: Services) -> None:
    assert_drafted_rails_are_the_refreshed_rails(services, indexed_corpus(services))


def test_a_rail_written_after_its_draft_is_computed_again(services: Services) -> None:
    """A publish that enters a rail between its draft and its lock is never overwritten by
    the older draft: the rail is recomputed under the lock (here a rail rewritten by hand
    stands for it, and comes back as computed)."""
    related = services.related
    ids = indexed_corpus(services, count=40)
    with transaction(services.sessions) as session:
        drafts = related.draft_rails(session, ids)
    with transaction(services.sessions) as session:
        related.store.write_rails(session, {ids[0]: [RailEntry(ids[1], 0.9, ["by-hand"])]})
        # The draft said nothing is stored: a draft written as is would lose the newcomer.
        assert drafts[ids[0]].stored == []
        changed = related.store_drafts(session, drafts, ids[:5])
        entries = rail(session, ids[0])
    assert ids[0] in changed
    assert entries
    assert entries[0].terms != ["by-hand"]
    with transaction(services.sessions) as session:
        assert not related.refresh_rails(session, [ids[0]])  # as computed one by one


def test_a_placed_article_with_a_draft_is_placed_as_without(services: Services) -> None:
    related = services.related
    ids = indexed_corpus(services, count=40)
    placed = ids[-3:]
    with transaction(services.sessions) as session:
        session.execute(delete(RelatedRail))
        assert related.refresh_rails(session, ids[:-3])
        before = stored_rails(session, ids)
    changes = []
    for drafted in (False, True):
        with transaction(services.sessions) as session:
            session.execute(delete(RelatedRail))
            related.store.write_rails(session, {k: v for k, v in before.items() if v})
        with transaction(services.sessions) as session:
            drafts = related.draft_rails(session, placed, placing=True)
        changed = set()
        for article_id in placed:
            with transaction(services.sessions) as session:
                draft = drafts[article_id] if drafted else None
                changed |= related.place(session, article_id, set(placed), draft)
        with transaction(services.sessions) as session:
            changes.append((changed, rails_shown(stored_rails(session, ids))))
    assert changes[0][0]
    assert changes[1] == changes[0]
