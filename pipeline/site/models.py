"""Per-month sitemap counts, recounted by each event that touches a
month."""

from __future__ import annotations

from sqlalchemy import (
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.schema import Base, maybe_when


class SitemapMonth(Base):
    """Each month's published articles, counted, and their newest update: what the sitemap
    index lists, kept by the events that change a month (pipeline/site/lists.py) so the index is
    rendered from one row per month instead of a scan of the whole archive."""

    __tablename__ = "sitemap_months"
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM, UTC
    members: Mapped[int] = mapped_column(Integer)
    lastmod: Mapped[maybe_when]


class NavigationEntry(Base):
    """One section of the navigation bar, at its place in the bar. Site data, not a setting:
    every process (CLI, API, workers) renders the bar every page shows from these rows, so
    no command run without some environment variable rewrites the site without it."""

    __tablename__ = "site_navigation"
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_slug: Mapped[str] = mapped_column(String(120))
