"""From a change to the outputs to re-render: the surrogate keys recorded in the manifest say
which outputs showed the article; list positions say which pages it enters or leaves.

A spec whose render comes back empty is deleted, so the plan never has to decide between
"write" and "delete": it only names the outputs whose content may have changed. Which outputs
show which lists, and how many of them a list has, is the registry's (pipeline/site/kinds.py).
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
from pipeline.render.renderer import key_of
from pipeline.site import lists
from pipeline.site.kinds import KINDS, Each, Kinds, OutputKind
from pipeline.site.lists import ListRef, SortKey
from pipeline.site.outputs import Kind, OutputSpec, article_key, month_of


@dataclass(frozen=True)
class Placement:
    """Where an article stands (or stood) in the site's lists."""

    section: str
    tags: tuple[str, ...]
    sort_key: SortKey
    authors: tuple[str, ...] = ()  # the slugs of their pages

    @property
    def lists(self) -> list[ListRef]:
        month = month_of(self.sort_key.published_at)
        return lists.lists_of(self.section, self.tags, month, self.authors)


def placement_now(article: Article) -> Placement:
    return Placement(
        article.section.slug,
        tuple(tag.slug for tag in article.tags),
        SortKey(article.published_at, article.id),
        tuple(article.author_slugs),
    )


def placement_before(article_id: int, previous: dict[str, Any]) -> Placement:
    return Placement(
        previous["section"],
        tuple(previous["tags"]),
        SortKey(datetime.fromisoformat(previous["published_at"]), article_id),
        # Events recorded before bylines had pages carry none: reconcile finds those pages.
        tuple(previous.get("authors", ())),
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
    kinds: Kinds = KINDS,
) -> set[OutputSpec]:
    """The outputs a change written in this transaction touches."""
    move = move_of(article, previous)
    # The sitemap index reads each month's count and newest update from one row per month.
    lists.recount_months(session, {month_of(p.sort_key.published_at) for p in move.placements})
    return plan_move(session, settings, move, changed_rails, written=True, kinds=kinds)


def plan_move(
    session: Session,
    settings: Settings,
    move: Move,
    changed_rails: set[int],
    *,
    written: bool,
    kinds: Kinds = KINDS,
) -> set[OutputSpec]:
    """The outputs `move` touches, by reads alone: of the database as the change left it
    (`written`), or as it stands before the change (what impact asks, writing nothing)."""
    specs: set[OutputSpec] = set(kinds.furniture)
    specs.add(OutputSpec(Kind.ARTICLE, move.key))
    if move.previous_key is not None:
        specs.add(OutputSpec(Kind.ARTICLE, move.previous_key))
    specs |= outputs_showing(session, [f"article:{move.article_id}"])
    specs |= redirects_to(session, move.article_id)
    for placement in move.placements:
        for ref in placement.lists:
            joins = 0 if written else _length_change(move, ref)
            specs |= list_outputs(session, settings, ref, placement.sort_key, joins, kinds)
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
    session: Session,
    settings: Settings,
    ref: ListRef,
    sort_key: SortKey,
    joins: int = 0,
    kinds: Kinds = KINDS,
) -> set[OutputSpec]:
    """The outputs of one list that an article entering or leaving at `sort_key` can change
    (`joins`: what the change adds to the list's length that the database does not show yet)."""
    showing = kinds.following(ref.kind)
    specs = {OutputSpec(row.name) for row in showing if row.each == Each.SITE}
    specs |= {OutputSpec(row.name, ref.value) for row in showing if row.each == Each.LIST}
    paged = [row.name for row in showing if row.each == Each.PAGE]
    if paged:
        specs |= _pages(session, settings, ref, sort_key, joins, paged)
    return specs


def _pages(
    session: Session,
    settings: Settings,
    ref: ListRef,
    sort_key: SortKey,
    joins: int,
    paged: list[str],
) -> set[OutputSpec]:
    """The pages of list `ref` (in each of the `paged` kinds) that an article entering or
    leaving at `sort_key` can change."""
    size = settings.page_size
    # The article's own membership cancels out of its position (it never sorts before
    # itself), so the position reads the same before and after the change.
    first = lists.page_of(lists.position(session, ref, sort_key), size)
    # Items after the change point shift by one; the page before it links to the next one,
    # and one page past the end may have just emptied.
    last = lists.page_count(lists.count(session, ref) + joins, size) + 1
    numbers = range(max(1, first - 1), last + 1)
    return {OutputSpec(kind, ref.value, number) for kind in paged for number in numbers}


def outputs_showing(session: Session, data_keys: list[str]) -> set[OutputSpec]:
    rows = session.execute(
        select(Output.kind, Output.subject, Output.page)
        .join(OutputDependency, OutputDependency.output_key == Output.key)
        .where(OutputDependency.data_key.in_(data_keys))
    )
    return {OutputSpec(kind, subject, page) for kind, subject, page in rows}


def redirects_to(session: Session, article_id: int) -> set[OutputSpec]:
    keys = session.scalars(select(Redirect.old_key).where(Redirect.article_id == article_id))
    return {OutputSpec(Kind.ARTICLE, key) for key in keys}


def article_pages(session: Session, article_ids: set[int]) -> set[OutputSpec]:
    if not article_ids:
        return set()
    articles = session.scalars(select(Article).where(Article.id.in_(sorted(article_ids))))
    return {OutputSpec(Kind.ARTICLE, key_of(article)) for article in articles if article.is_live}


def plan_everything(session: Session, settings: Settings, kinds: Kinds = KINDS) -> set[OutputSpec]:
    """Every output the site should have now (a full rebuild), plus what the manifest holds,
    so outputs that should no longer exist are deleted."""
    specs: set[OutputSpec] = set(kinds.furniture)
    specs |= {OutputSpec(row.name) for row in kinds if row.each == Each.SITE}
    # Three columns per article, not the articles: a worker never holds the archive, so its
    # memory does not grow with the archive's size.
    live = session.execute(
        select(Section.slug, Article.published_at, Article.slug)
        .join(Section, Section.id == Article.section_id)
        .where(Article.status == ArticleStatus.PUBLISHED)
    )
    specs |= {OutputSpec(Kind.ARTICLE, article_key(*row)) for row in live}
    specs |= {OutputSpec(Kind.ARTICLE, key) for key in session.scalars(select(Redirect.old_key))}
    for list_kind in kinds.list_kinds:
        specs |= _every_list_output(session, settings, kinds.following(list_kind), list_kind)
    manifest = session.execute(select(Output.kind, Output.subject, Output.page))
    specs |= {OutputSpec(kind, subject, page) for kind, subject, page in manifest}
    return specs


def _every_list_output(
    session: Session, settings: Settings, showing: list[OutputKind], list_kind: str
) -> set[OutputSpec]:
    """The outputs of every list of `list_kind` the site has now, in the kinds `showing` it."""
    specs: set[OutputSpec] = set()
    per_list = [row.name for row in showing if row.each == Each.LIST]
    paged = [row.name for row in showing if row.each == Each.PAGE]
    for ref in lists.every_list(session, list_kind):
        specs |= {OutputSpec(kind, ref.value) for kind in per_list}
        if paged:
            pages = range(1, lists.page_count(lists.count(session, ref), settings.page_size) + 1)
            specs |= {OutputSpec(kind, ref.value, number) for kind in paged for number in pages}
    return specs
