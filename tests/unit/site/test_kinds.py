"""The registry of output kinds: a new kind of page is one row and one template, and the
site's own rows say what their renders do."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select

from pipeline.db import transaction
from pipeline.publish.build import Publisher
from pipeline.publish.models import Output, OutputDependency
from pipeline.render.renderer import Renderer
from pipeline.services import Services
from pipeline.site import impact
from pipeline.site.kinds import KINDS, Each, OutputKind
from pipeline.site.outputs import Kind, OutputSpec
from pipeline.site.planner import plan_everything
from pipeline.storage import Storage, StoredObject
from tests.conftest import Newsroom

BRIEFING = OutputKind(
    "section_briefing",
    "{subject}/briefing/index.html",
    Renderer.list_top,
    "briefing.html",
    Each.LIST,
    lists="section",
    group="section:{subject}",
)
BRIEFING_SPEC = OutputSpec("section_briefing", "culture")


def with_briefings(services: Services, templates: Path) -> Services:
    """The services with a registry copy that has one kind more, its template in a folder of
    the test's own: nothing else differs."""
    (templates / "briefing.html").write_text(
        "<h1>{{ list_name }} in brief</h1>\n"
        '{% for item in items %}<a href="{{ item.url }}">{{ item.title }}</a>\n{% endfor %}'
    )
    renderer = Renderer(services.settings, KINDS.adding(BRIEFING), [templates])
    publisher = Publisher(renderer, services.storage)
    return dataclasses.replace(services, renderer=renderer, publisher=publisher)


def test_a_new_kind_is_planned_rendered_written_and_removed(
    services: Services, tmp_path: Path
) -> None:
    newsroom = Newsroom(with_briefings(services, tmp_path))
    key = "culture/briefing/index.html"

    newsroom.publish(slug="opera-opens", title="The opera opens", section="culture")
    page = newsroom.read(key)
    assert page is not None
    assert "<h1>Culture in brief</h1>" in page
    assert f'<a href="/{newsroom.key("opera-opens").removesuffix("index.html")}">' in page

    newsroom.publish(slug="gallery-closes", title="The gallery closes", section="culture")
    page = newsroom.read(key)
    assert page is not None
    assert page.index("The gallery closes") < page.index("The opera opens")  # newest first

    with transaction(newsroom.services.sessions) as session:
        everything = plan_everything(session, services.settings, newsroom.services.kinds)
        shows = session.scalars(
            select(OutputDependency.data_key).where(OutputDependency.output_key == key)
        )
        assert set(shows) == {"article:1", "article:2"}
    assert BRIEFING_SPEC in everything

    answer = impact.impact(newsroom.services, "opera-opens", "unpublish", datetime.now(UTC))
    assert BRIEFING_SPEC in answer
    assert newsroom.services.kinds.group_of(BRIEFING_SPEC) == "section:culture"

    newsroom.unpublish("opera-opens")
    page = newsroom.read(key)
    assert page is not None
    assert "The opera opens" not in page
    newsroom.unpublish("gallery-closes")
    assert newsroom.read(key) is None  # an empty list's briefing is deleted
    with transaction(newsroom.services.sessions) as session:
        assert session.get(Output, key) is None


def test_the_site_has_a_row_for_every_kind() -> None:
    assert {row.name for row in KINDS} == set(Kind)
    assert KINDS.list_kinds == ("latest", "section", "tag", "author", "month")
    assert {spec.kind for spec in KINDS.furniture} == {Kind.ROBOTS, Kind.NOT_FOUND, Kind.STATIC}


def test_renders_record_only_the_data_keys_their_row_declares(newsroom: Newsroom) -> None:
    newsroom.publish(slug="first", section="world", tags=["trade"])
    newsroom.publish(slug="second", section="world", tags=["trade", "europe"])
    newsroom.publish(slug="second", section="business")  # moved: its old URL redirects
    with transaction(newsroom.services.sessions) as session:
        kinds = dict(session.execute(select(Output.key, Output.kind)).all())
        recorded = session.execute(select(OutputDependency.output_key, OutputDependency.data_key))
        families = {(kinds[key], data.split(":")[0]) for key, data in recorded}
    # A redirect's spec is an article's; the news sitemap lists the last 48 hours, which
    # these articles (of 2024) are not in.
    assert set(kinds.values()) == set(Kind) - {Kind.REDIRECT, Kind.SITEMAP_NEWS}
    for kind, family in families:
        assert family in KINDS[kind].data_keys, (kind, family)
    assert {kind for kind, _ in families} >= {Kind.ARTICLE, Kind.HOME, Kind.SITEMAP_MONTH}


def test_a_kind_name_means_one_key_pattern() -> None:
    with pytest.raises(ValueError, match="already has the key pattern"):
        OutputKind(Kind.HOME, "home.html", Renderer.home, "home.html", lists="latest")
    with pytest.raises(ValueError, match="registered twice"):
        KINDS.adding(KINDS[Kind.HOME])
    with pytest.raises(ValueError, match="needs `lists`"):
        OutputKind("orphan_list", "orphans/{subject}.html", Renderer.list_top, "x.html")


class Recording:
    """The site's store, recording each put batch and delete call in order."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.calls: list[tuple[str, list[str]]] = []

    def put_many(self, items: Sequence[StoredObject]) -> None:
        self.calls.append(("put", [item.key for item in items]))
        self.storage.put_many(items)

    def delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        self.calls.append(("delete", keys))
        self.storage.delete(keys)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)


def test_pages_are_written_before_their_lists_and_deleted_after_them(
    services: Services,
) -> None:
    store = Recording(services.storage)
    publisher = Publisher(services.renderer, cast(Storage, store))
    newsroom = Newsroom(dataclasses.replace(services, publisher=publisher))
    newsroom.publish(slug="older", section="world")
    older = newsroom.key("older")
    store.calls.clear()
    newsroom.publish(slug="newer", section="world")  # "older" shows it in its rail
    puts = [keys for call, keys in store.calls if call == "put"]
    assert puts[0] == [newsroom.key("newer")]  # the event's own page, alone and first
    assert [older] in puts
    assert puts.index([older]) < min(i for i, keys in enumerate(puts) if "index.html" in keys)

    newsroom.publish(slug="newer", section="business")  # moved: "world" lists drop it
    store.calls.clear()
    newsroom.unpublish("older")
    deletes = [key for call, keys in store.calls if call == "delete" for key in keys]
    assert {"world/index.html", older} <= set(deletes)
    assert deletes.index("world/index.html") < deletes.index(older)
