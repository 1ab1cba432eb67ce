"""The Google News sitemap ages: an article leaves it 48 hours after it was published,
with no change to any data. Every publish, update and unpublish re-renders it (it follows
the latest list, pipeline/site/kinds.py); between changes, the beat asks here whether the
articles it should list now are the ones it was last written with, and when they are not
queues its refresh (and the sitemap index's, which lists it only while it has articles) in
the `sitemaps` group, like a publish would.
"""

from __future__ import annotations

from sqlalchemy import select

from pipeline.db import transaction
from pipeline.publish.models import Output
from pipeline.publish.refresh import ListDispatcher, mark_dirty_lists
from pipeline.services import Services
from pipeline.site.outputs import Kind, OutputSpec

NEWS = OutputSpec(Kind.SITEMAP_NEWS)
AGED = {NEWS, OutputSpec(Kind.SITEMAP_INDEX)}


# How often the beat (or the API's periodic job, without a broker) checks for aged articles:
# an article leaves the news sitemap at most this late after its 48 hours.
AGE_NEWS_EVERY_SECONDS = 60.0


def refresh_aged_news(services: Services, dispatcher: ListDispatcher) -> bool:
    """Queue the news sitemap's refresh when the articles of the last 48 hours (by the
    renderer's clock) are not those it shows; True when it was queued."""
    group = services.kinds.group_of(NEWS)
    assert group is not None, "the news sitemap is refreshed with a list group"
    with transaction(services.sessions) as session:
        shown = session.scalar(select(Output.article_versions).where(Output.key == NEWS.key))
        listed = {str(entry.article_id) for entry in services.renderer.news_entries(session)}
        if set(shown or {}) == listed:
            return False
        queue = mark_dirty_lists(session, {group: AGED}, None)
    if queue:
        dispatcher.dispatch_lists(queue)
    return True
