"""The section navigation bar every page shows: an ordered list of section slugs kept in the
database (`site_navigation`), so the CLI, the API and the workers all render the same bar.

Changing it changes every page: `set_sections` is called in the transaction that records a
rebuild, which re-renders every output and writes the pages whose bytes changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pipeline.content.articles import ArticleChange, request_rebuild
from pipeline.content.inputs import RESERVED_NAMES, InvalidInput
from pipeline.content.models import Section
from pipeline.content.sanitize import display_name, is_valid_slug
from pipeline.site import lists
from pipeline.site.lists import ListRef
from pipeline.site.models import NavigationEntry

# A bar, not a directory: past this many links it no longer fits a page's header.
MAX_SECTIONS = 20
FIELD = "navigation"


@dataclass(frozen=True)
class NavLink:
    slug: str
    name: str
    url: str


def parse(raw: str) -> list[str]:
    """Comma-separated section slugs ("politics,sport") as the bar's order, checked by the
    rules a section slug follows. Refused, not rewritten: "World" is an error, not "world"."""
    slugs = [part.strip() for part in raw.split(",")]
    if not any(slugs):
        raise InvalidInput(FIELD, "name at least one section (comma-separated slugs)")
    for slug in slugs:
        _check(slug)
    repeated = sorted({slug for slug in slugs if slugs.count(slug) > 1})
    if repeated:
        raise InvalidInput(FIELD, f"{repeated[0]!r} is listed more than once")
    if len(slugs) > MAX_SECTIONS:
        raise InvalidInput(FIELD, f"at most {MAX_SECTIONS} sections")
    return slugs


def _check(slug: str) -> None:
    if not slug:
        raise InvalidInput(FIELD, "an empty slug (two commas in a row, or a trailing comma)")
    if not is_valid_slug(slug):
        raise InvalidInput(
            FIELD,
            f"{slug!r}: a section slug is lower-case letters, digits and single hyphens "
            "(^[a-z0-9]+(-[a-z0-9]+)*$)",
        )
    if slug in RESERVED_NAMES:
        raise InvalidInput(FIELD, f"{slug!r} is reserved for the site's own pages")


def sections(session: Session) -> list[str]:
    """The bar's section slugs in order; empty when none were set."""
    return list(
        session.scalars(select(NavigationEntry.section_slug).order_by(NavigationEntry.position))
    )


def set_sections(session: Session, slugs: Sequence[str]) -> None:
    """Replace the bar's sections (already checked by `parse`) in the caller's transaction."""
    session.execute(delete(NavigationEntry))
    session.add_all(
        NavigationEntry(position=position, section_slug=slug) for position, slug in enumerate(slugs)
    )
    session.flush()


def change(session: Session, slugs: Sequence[str], *, actor: str) -> ArticleChange:
    """Set the bar's sections and record the rebuild that puts the new bar on every page, in
    the caller's one transaction: a bar stored without its rebuild would leave every page
    showing the old one until something else re-rendered it. A rebuild re-renders every
    output and writes those whose bytes changed (here: every page), resumable like any."""
    set_sections(session, slugs)
    return request_rebuild(session, actor=actor)


def without_articles(session: Session, slugs: Sequence[str]) -> list[str]:
    """The sections among `slugs` with no live article: no front page yet for their link."""
    return [slug for slug in slugs if lists.count(session, ListRef("section", slug)) == 0]


def links(session: Session) -> list[NavLink]:
    """The bar as pages show it: each section's name where the section exists (a section named
    before its first article reads as its slug does, which is what its name will be)."""
    slugs = sections(session)
    if not slugs:
        return []
    names = dict(
        session.execute(select(Section.slug, Section.name).where(Section.slug.in_(slugs))).all()
    )
    return [NavLink(slug, names.get(slug) or display_name(slug), f"/{slug}/") for slug in slugs]
