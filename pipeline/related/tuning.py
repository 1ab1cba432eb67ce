"""The related index's settings: how long a rail is, how far a new article reaches, the
score floor, and how much a neighbour's age counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline.config import Settings


@dataclass(frozen=True)
class Tuning:
    size: int
    candidates: int
    min_score: float
    recency_weight: float
    half_life_days: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Tuning:
        return cls(
            size=settings.related_size,
            candidates=settings.related_candidates,
            min_score=settings.related_min_score,
            recency_weight=settings.related_recency_weight,
            half_life_days=settings.related_recency_half_life_days,
        )

    def recency(self, first: datetime, second: datetime) -> float:
        """The factor a score is multiplied by for two articles published this far apart."""
        if self.recency_weight <= 0:
            return 1.0
        days = abs((first - second).total_seconds()) / 86400
        fade = 0.5 ** (days / self.half_life_days) if self.half_life_days > 0 else 1.0
        return (1 - self.recency_weight) + self.recency_weight * fade
