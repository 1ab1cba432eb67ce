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
