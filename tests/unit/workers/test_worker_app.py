"""The Celery app's per-site settings."""

from __future__ import annotations

from pipeline.config import Settings
from workers.app import beat_schedule_file, create_app


def test_each_site_keeps_its_own_beat_schedule() -> None:
    one = Settings(broker_url="redis://127.0.0.1:6379/1", queue_prefix="site-a-")
    other = Settings(broker_url="redis://127.0.0.1:6379/1", queue_prefix="site-b-")
    assert beat_schedule_file(one) != beat_schedule_file(other)
    assert beat_schedule_file(one) == beat_schedule_file(Settings(**vars(one)))
    assert create_app(one).conf.beat_schedule_filename == beat_schedule_file(one)


def test_the_beat_ages_the_news_sitemap() -> None:
    app = create_app(Settings())
    entry = app.conf.beat_schedule["age_news"]
    assert entry["task"] == "pressrun.age_news"
    assert entry["task"] in app.tasks
    assert entry["schedule"] <= 300  # an article leaves the news sitemap minutes late at most
