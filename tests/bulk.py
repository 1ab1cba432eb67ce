"""Rendering in bulk against rendering one output at a time, on any database: a build reads
in a few statements what each output's render would ask for on its own, and the bytes and
what they show (data keys, versions) must not change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.db import transaction
from pipeline.events.models import EventStatus
from pipeline.events.processing import dispatch_event
from pipeline.render.renderer import LIST_PAGES, LIST_TOPS, MONTH_ENTRIES, Rendered
from pipeline.services import Services
from pipeline.site.outputs import Kind, OutputSpec
from pipeline.site.planner import plan_everything
from tests.conftest import article_data
from workers.app import CeleryDispatcher, create_app

SECTIONS = ("world", "sport", "arts")
TAGS = ("budget", "courts", "climate", "music")
# Outputs no list has (a page past the end, a list with no members): rendered as nothing.
PAST_THE_END = (
    OutputSpec(Kind.SECTION_PAGE, "world", 99),
    OutputSpec(Kind.TAG_PAGE, "budget", 0),
    OutputSpec(Kind.TAG, "nobody-uses-this"),
    OutputSpec(Kind.TAG_PAGE, "nobody-uses-this", 1),
    OutputSpec(Kind.SITEMAP_MONTH, "2019-02"),
)


def import_varied_archive(services: Services, size: int = 31) -> None:
    """Articles in three sections, with overlapping tags, over three months (some published
    at the same second, so ties are broken by id), built by the import's rebuild."""
    start = datetime(2024, 1, 20, tzinfo=UTC)
    records = [
        parse_article(
            article_data(
                slug=f"varied-{number}",
                section=SECTIONS[number % 3],
                tags=[TAGS[number % 4], TAGS[(number * 3 + 1) % 4]][: 1 + number % 2],
                # Authors' lists overlap as tags do: some bylines name two.
                authors=[f"Writer {number % 3}", f"Writer {(number + 1) % 3}"][
                    : 1 + (number % 4 == 0)
                ],
                published_at=(start + timedelta(days=number // 2 * 3)).isoformat(),
            )
        )[0]
        for number in range(size)
    ]
    with transaction(services.sessions) as session:
        change = articles.import_articles(session, records, actor="test")
    dispatcher = CeleryDispatcher(create_app(services.settings, lambda: services))
    assert dispatch_event(services, dispatcher, change.event_id).status == EventStatus.LIVE


def shown(pages: list[Rendered | None]) -> list[object]:
    return [page and (page.key, page.body, page.versions, page.data_keys) for page in pages]


def assert_bulk_equals_one_by_one(
    services: Services,
    extra_specs: tuple[OutputSpec, ...] = (),
    *,
    expect_bulk_pages: bool = True,
) -> None:
    import_varied_archive(services)
    with transaction(services.sessions) as session:
        specs = sorted(plan_everything(session, services.settings, services.kinds))
    specs += extra_specs
    renderer = services.renderer
    with transaction(services.sessions) as session:
        one_by_one = [renderer.render(session, spec) for spec in specs]
        assert LIST_PAGES not in session.info  # nothing was prefetched
    with transaction(services.sessions) as session:
        renderer.prefetch(session, specs)
        # The bulk reads ran: what the renders below take instead of their own queries
        # (unless the test made them come back short: those pages are read on their own).
        assert session.info[MONTH_ENTRIES]
        if expect_bulk_pages:
            assert session.info[LIST_PAGES]
            tops = {ref.kind for ref in session.info[LIST_TOPS]}
            assert tops == {"section", "tag", "author"}
        bulk = [renderer.render(session, spec) for spec in specs]
    assert sum(page is not None and page.kind == Kind.SECTION_PAGE for page in bulk) > 6
    assert sum(page is not None and page.kind == Kind.AUTHOR_PAGE for page in bulk) > 6
    assert shown(bulk) == shown(one_by_one)
