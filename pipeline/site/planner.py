"""From a change to the outputs to re-render: the surrogate keys recorded in the manifest say
which outputs showed the article; list positions say which pages it enters or leaves.

A spec whose render comes back empty is deleted, so the plan never has to decide between
"write" and "delete": it only names the outputs whose content may have changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.config import Settings
from pipeline.content.models import Article, ArticleStatus, Redirect, Section
from pipeline.publish.models import Output, OutputDependency
from pipeline.render.renderer import key_of, static_files
from pipeline.site import lists
from pipeline.site.lists import LATEST, ListRef, SortKey
from pipeline.site.outputs import Kind, OutputSpec, article_key, month_of

LATEST_OUTPUTS = frozenset(
    OutputSpec(kind)
    for kind in (Kind.HOME, Kind.FEED_LATEST, Kind.FRAGMENT_LATEST, Kind.API_LATEST)
)
# Site furniture: the 404 page and the static files (stylesheet, icon, demo pictures).
FURNITURE = frozenset(
    {OutputSpec(Kind.NOT_FOUND)} | {OutputSpec(Kind.STATIC, name) for name in static_files()}
)


@dataclass(frozen=True)
class Placement:
    """Where an article stands (or stood) in the site's lists."""

    section: str
    tags: tuple[str, ...]
    sort_key: SortKey

    @property
    def lists(self) -> list[ListRef]:
        return lists.lists_of(self.section, self.tags, month_of(self.sort_key.published_at))


def placement_now(article: Article) -> Placement:
    return Placement(
        article.section.slug,
        tuple(tag.slug for tag in article.tags),
        SortKey(article.published_at, article.id),
    )


def placement_before(article_id: int, previous: dict[str, Any]) -> Placement:
    return Placement(
        previous["section"],
        tuple(previous["tags"]),
        SortKey(datetime.fromisoformat(previous["published_at"]), article_id),
    )


@dataclass(frozen=True)
class Move:
    """A change to one article as the planner sees it: its URL key now and before, and where
    it stands in the lists now and stood before (None: in none)."""

    article_id: int
    key: str
    previous_key: str | None
    before: Placement | None
    after: Placement | None

    @property
    def placements(self) -> list[Placement]:
        return [placement for placement in (self.before, self.after) if placement is not None]


def move_of(article: Article, previous: dict[str, Any] | None) -> Move:
    """The move from `previous` (a snapshot, None for a new article) to the article as it is."""
    was_live = previous is not None and previous["status"] == ArticleStatus.PUBLISHED
    return Move(
        article.id,
        key_of(article),
        previous["key"] if previous is not None else None,
        placement_before(article.id, previous) if previous is not None and was_live else None,
        placement_now(article) if article.is_live else None,
    )


def plan_change(
    session: Session,
    settings: Settings,
    article: Article,
    previous: dict[str, Any] | None,
    changed_rails: set[int],
) -> set[OutputSpec]:
    """The outputs a change written in this transaction touches."""
    move = move_of(article, previous)
    # The sitemap index reads each month's count and newest update from one row per month.
    lists.recount_months(session, {month_of(p.sort_key.published_at) for p in move.placements})
    return plan_move(session, settings, move, changed_rails, written=True)


def plan_move(
    session: Session, settings: Settings, move: Move, changed_rails: set[int], *, written: bool
) -> set[OutputSpec]:
    """The outputs `move` touches, by reads alone: of the database as the change left it
    (`written`), or as it stands before the change (what impact asks, writing nothing)."""
    specs: set[OutputSpec] = set(FURNITURE)
    specs.add(OutputSpec(Kind.ARTICLE, move.key))
    if move.previous_key is not None:
        specs.add(OutputSpec(Kind.ARTICLE, move.previous_key))
    specs |= outputs_showing(session, [f"article:{move.article_id}"])
    specs |= redirects_to(session, move.article_id)
    for placement in move.placements:
        for ref in placement.lists:
            joins = 0 if written else _length_change(move, ref)
            specs |= list_outputs(session, settings, ref, placement.sort_key, joins)
        # Articles published just after it carry it in their "Latest articles" rail.
        following = lists.after(session, placement.sort_key, settings.rail_size)
        specs |= {OutputSpec(Kind.ARTICLE, key_of(item)) for item in following}
    # Its own page is in already, under its key after the change.
    specs |= article_pages(session, changed_rails - {move.article_id})
    return specs


def _length_change(move: Move, ref: ListRef) -> int:
    """How much longer list `ref` is after the move than before it."""
    return sum(
        sign
        for sign, placement in ((1, move.after), (-1, move.before))
        if placement is not None and ref in placement.lists
    )


def list_outputs(
    session: Session, settings: Settings, ref: ListRef, sort_key: SortKey, joins: int = 0
) -> set[OutputSpec]:
    """The outputs of one list that an article entering or leaving at `sort_key` can change
    (`joins`: what the change adds to the list's length that the database does not show yet)."""
    if ref == LATEST:
        return set(LATEST_OUTPUTS)
    if ref.kind == "month":
        return {OutputSpec(Kind.SITEMAP_MONTH, ref.value), OutputSpec(Kind.SITEMAP_INDEX)}
    head, paged = (
        (Kind.SECTION, Kind.SECTION_PAGE) if ref.kind == "section" else (Kind.TAG, Kind.TAG_PAGE)
    )
    specs = {OutputSpec(head, ref.value)}
    if ref.kind == "section":
        specs.add(OutputSpec(Kind.FEED_SECTION, ref.value))
    size = settings.page_size
    # The article's own membership cancels out of its position (it never sorts before
    # itself), so the position reads the same before and after the change.
    first = lists.page_of(lists.position(session, ref, sort_key), size)
    # Items after the change point shift by one; the page before it links to the next one,
    # and one page past the end may have just emptied.
    last = lists.page_count(lists.count(session, ref) + joins, size) + 1
    specs |= {OutputSpec(paged, ref.value, number) for number in range(max(1, first - 1), last + 1)}
    return specs


def outputs_showing(session: Session, data_keys: list[str]) -> set[OutputSpec]:
    rows = session.execute(
        select(Output.kind, Output.subject, Output.page)
        .join(OutputDependency, OutputDependency.output_key == Output.key)
        .where(OutputDependency.data_key.in_(data_keys))
    )
    return {OutputSpec(Kind(kind), subject, page) for kind, subject, page in rows}


def redirects_to(session: Session, article_id: int) -> set[OutputSpec]:
    keys = session.scalars(select(Redirect.old_key).where(Redirect.article_id == article_id))
    return {OutputSpec(Kind.ARTICLE, key) for key in keys}


def article_pages(session: Session, article_ids: set[int]) -> set[OutputSpec]:
    if not article_ids:
        return set()
    articles = session.scalars(select(Article).where(Article.id.in_(sorted(article_ids))))
    return {OutputSpec(Kind.ARTICLE, key_of(article)) for article in articles if article.is_live}


def plan_everything(session: Session, settings: Settings) -> set[OutputSpec]:
    """Every output the site should have now (a full rebuild), plus what the manifest holds,
    so outputs that should no longer exist are deleted."""
    specs: set[OutputSpec] = set(FURNITURE) | set(LATEST_OUTPUTS)
    specs.add(OutputSpec(Kind.SITEMAP_INDEX))
    # Three columns per article, not the articles: a worker never holds the archive (at
    # 100,000 articles loading them all here took one worker's memory to 549 MB).
    live = session.execute(
        select(Section.slug, Article.published_at, Article.slug)
        .join(Section, Section.id == Article.section_id)
        .where(Article.status == ArticleStatus.PUBLISHED)
    )
    specs |= {OutputSpec(Kind.ARTICLE, article_key(*row)) for row in live}
    specs |= {OutputSpec(Kind.ARTICLE, key) for key in session.scalars(select(Redirect.old_key))}
    for month, _ in lists.months(session):
        specs.add(OutputSpec(Kind.SITEMAP_MONTH, month))
    for kind, head, paged in (
        ("section", Kind.SECTION, Kind.SECTION_PAGE),
        ("tag", Kind.TAG, Kind.TAG_PAGE),
    ):
        for slug, members in lists.count_every(session, kind).items():
            pages = lists.page_count(members, settings.page_size)
            specs.add(OutputSpec(head, slug))
            specs |= {OutputSpec(paged, slug, number) for number in range(1, pages + 1)}
            if kind == "section":
                specs.add(OutputSpec(Kind.FEED_SECTION, slug))
    manifest = session.execute(select(Output.kind, Output.subject, Output.page))
    specs |= {OutputSpec(Kind(kind), subject, page) for kind, subject, page in manifest}
    return specs
