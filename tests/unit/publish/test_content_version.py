"""The content version: commits that change render inputs count, others do not; a build
renders its outputs a second time only when it moved."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.events.processing import process_event
from pipeline.publish import content_version
from pipeline.related.models import RelatedRail
from pipeline.render.renderer import Renderer
from pipeline.site.outputs import Kind, OutputSpec
from tests.conftest import Newsroom


def version(newsroom: Newsroom) -> int | None:
    with transaction(newsroom.services.sessions) as session:
        return content_version.current(session)


def test_a_publish_moves_it_and_running_it_again_does_not(newsroom: Newsroom) -> None:
    before = version(newsroom)
    assert before is not None
    outcome = newsroom.publish(slug="counted")
    after = version(newsroom)
    assert after is not None
    assert after > before
    # Run again, the event rewrites outputs, the manifest and its own row: no render input.
    with transaction(newsroom.services.sessions) as session:
        session.execute(
            update(Event).where(Event.id == outcome.event_id).values(status=EventStatus.DISPATCHED)
        )
    again = process_event(newsroom.services, newsroom.dispatcher, outcome.event_id)
    assert again.report is not None
    assert again.report.unchanged > 0
    assert version(newsroom) == after


def test_core_statements_on_render_inputs_move_it(newsroom: Newsroom) -> None:
    newsroom.publish(slug="railed", title="Harbour storm closes the port", tags=["storms"])
    newsroom.publish(slug="other", title="Harbour storm damages the port", tags=["storms"])
    before = version(newsroom)
    assert before is not None
    with transaction(newsroom.services.sessions) as session:
        session.execute(delete(RelatedRail))  # a bulk statement, no ORM objects involved
    assert version(newsroom) == before + 1
    with transaction(newsroom.services.sessions) as session:
        session.execute(update(Event).values(error=None))  # not a render input
    assert version(newsroom) == before + 1


def test_a_rolled_back_change_does_not_move_it(newsroom: Newsroom) -> None:
    newsroom.publish(slug="kept", title="Kept title")
    before = version(newsroom)

    def retitle_then_fail() -> None:
        with transaction(newsroom.services.sessions) as session:
            article = session.scalars(select(Article).where(Article.slug == "kept")).one()
            article.title = "Never committed"
            session.flush()
            raise RuntimeError("abandon the change")

    with pytest.raises(RuntimeError):
        retitle_then_fail()
    assert version(newsroom) == before


def test_the_recheck_renders_again_only_when_it_moved(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    newsroom.publish(slug="quiet")
    renders: list[str] = []
    original = Renderer.render

    def counting(self: Renderer, session: object, spec: OutputSpec) -> object:
        renders.append(spec.key)
        return original(self, session, spec)  # type: ignore[arg-type]

    monkeypatch.setattr(Renderer, "render", counting)
    spec = OutputSpec(Kind.ARTICLE, newsroom.key("quiet"))
    report = newsroom.services.publisher.build(newsroom.services.sessions, [spec], force=True)
    assert report.written == [spec.key]
    assert renders == [spec.key]  # written once, nothing moved: no second render

    renders.clear()
    publisher = newsroom.services.publisher
    with transaction(newsroom.services.sessions) as session:
        steps, _ = publisher.render_all(session, [spec], force=True)
    newsroom.publish(slug="quiet", title="A correction lands meanwhile")
    report = publisher.sync(newsroom.services.sessions, steps, None)
    publisher._settle(newsroom.services.sessions, steps, None, report)
    assert renders.count(spec.key) >= 2  # it moved: rendered again, and the stale page redone
    assert "A correction lands meanwhile" in (newsroom.read(spec.key) or "")
