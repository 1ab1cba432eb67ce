"""The Celery app's per-site settings."""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.services import Services
from workers.app import beat_schedule_file, create_app, warm


def test_each_site_keeps_its_own_beat_schedule() -> None:
    one = Settings(broker_url="redis://127.0.0.1:6379/1", queue_prefix="site-a-")
    other = Settings(broker_url="redis://127.0.0.1:6379/1", queue_prefix="site-b-")
    assert beat_schedule_file(one) != beat_schedule_file(other)
    assert beat_schedule_file(one) == beat_schedule_file(Settings(**vars(one)))
    assert create_app(one).conf.beat_schedule_filename == beat_schedule_file(one)


def test_a_pool_process_warms_its_templates_and_a_connection(services: Services) -> None:
    services.engine.dispose()  # no connection open yet
    warm(services)
    compiled = {name for _, name in services.renderer.env.cache.keys()}
    assert {kind.template for kind in services.kinds if kind.template} <= compiled
    assert services.engine.pool.checkedin() == 1


def test_the_beat_ages_the_news_sitemap() -> None:
    app = create_app(Settings())
    entry = app.conf.beat_schedule["age_news"]
    assert entry["task"] == "pressrun.age_news"
    assert entry["task"] in app.tasks
    assert entry["schedule"] <= 300  # an article leaves the news sitemap minutes late at most
