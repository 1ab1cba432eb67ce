"""Pipeline counters read by the metrics at scrape time."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.schema import Base


class PipelineCounter(Base):
    """Running totals every worker adds to in the database (outputs rendered, uploaded,
    skipped, deleted, bytes), so /metrics is right with any number of processes."""

    __tablename__ = "pipeline_counters"
    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
