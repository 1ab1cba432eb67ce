"""Reverse updates by merging: a new article enters an existing rail without recomputing it.

When article A is published, the articles it is most like may now want it in their rails.
Recomputing each of those rails is a full query per rail (about twenty per publish). But
A's score in holder H's rail is one dot product, H's query weights against A's postings, and
a rail is the best few of its candidates: the best of (H's stored rail + A) is H's new rail
exactly as a full recompute would have it, up to the drift of document frequencies since H's
rail was computed (the same drift a rail whose neighbours did not change keeps anyway).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RailEntry:
    """One neighbour in an article's rail, with the query terms that explain it."""

    neighbour_id: int
    score: float
    terms: list[str]


def rank_key(neighbour_id: int, score: float) -> tuple[float, int]:
    """The order of a rail: best score first, ties by id (as the query orders them)."""
    return (-round(score, 9), neighbour_id)


def entry_for(
    query_weights: dict[str, float],
    postings: dict[str, float],
    scale: float,
    neighbour_id: int,
    explain_terms: int,
) -> RailEntry | None:
    """The rail entry of the article with `postings` for a holder with `query_weights`;
    `scale` turns the dot product into the holder's score (norms and recency). None when
    they share no query term."""
    contributions = {
        term: weight * postings[term] for term, weight in query_weights.items() if term in postings
    }
    if not contributions:
        return None
    terms = sorted(contributions, key=lambda term: (-contributions[term], term))
    return RailEntry(neighbour_id, sum(contributions.values()) * scale, terms[:explain_terms])


def merged(current: list[RailEntry], entering: RailEntry, size: int) -> list[RailEntry] | None:
    """The rail with `entering` in its place, or None when it does not make the cut."""
    others = [entry for entry in current if entry.neighbour_id != entering.neighbour_id]
    rail = sorted([*others, entering], key=lambda entry: rank_key(entry.neighbour_id, entry.score))[
        :size
    ]
    if entering not in rail:
        return None
    return rail
