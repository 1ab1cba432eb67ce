"""Merging a new article into a stored rail."""

from __future__ import annotations

from pipeline.related.merge import RailEntry, entry_for, merged


def test_an_entry_scores_the_shared_query_terms_and_names_the_strongest() -> None:
    entry = entry_for({"lava": 2.0, "ash": 1.0, "cup": 5.0}, {"lava": 1.5, "ash": 1.0}, 0.5, 7, 1)
    assert entry == RailEntry(7, (3.0 + 1.0) * 0.5, ["lava"])
    assert entry_for({"cup": 1.0}, {"lava": 1.0}, 1.0, 7, 3) is None


def test_an_entry_takes_its_place_or_stays_out() -> None:
    rail = [RailEntry(1, 0.9, []), RailEntry(2, 0.5, []), RailEntry(3, 0.2, [])]
    assert [e.neighbour_id for e in merged(rail, RailEntry(9, 0.6, []), 3) or []] == [1, 9, 2]
    assert merged(rail, RailEntry(9, 0.1, []), 3) is None
    assert [e.neighbour_id for e in merged(rail, RailEntry(9, 0.1, []), 4) or []] == [1, 2, 3, 9]
    # Equal scores rank by id, as the neighbour query orders them.
    assert [e.neighbour_id for e in merged(rail, RailEntry(0, 0.2, []), 3) or []] == [1, 2, 0]
