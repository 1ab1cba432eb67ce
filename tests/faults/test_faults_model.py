"""A Hypothesis state machine of publish / update (with moves) / unpublish, with the tasks
delivered reordered, duplicated and late, checked against a model of the expected site.

It runs the domain in-process on SQLite (the embedded default) with a dispatcher that queues
instead of sending: a `deliver` step runs any queued task (events and list refreshes), in the
order Hypothesis picks, sometimes keeping it queued to run again; `redeliver` runs a task that
already ran. When the queue is drained, storage must equal a fresh render of the database, and
the database must equal the model (which articles are live, with which title).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule
from sqlalchemy import select

from pipeline.config import Settings
from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.content.models import Article, ArticleStatus
from pipeline.db import make_engine, transaction, upgrade
from pipeline.events.processing import dispatch_event, process_event
from pipeline.publish.refresh import refresh_lists
from pipeline.services import create_services
from tests.faults.harness import compare, expected_site

SLUGS = [f"model-{name}" for name in ("ash", "birch", "cedar", "elm", "fir", "oak")]
SECTIONS = ["politics", "sport"]
TAGS = ["budget", "league", "weather"]
BODIES = {
    "politics": "The minister defended the budget vote in parliament.",
    "sport": "The league leaders won the match with a late goal.",
}


@cache
def template_database() -> Path:
    """A migrated SQLite database, copied for every example (migrating takes longer)."""
    folder = Path(tempfile.mkdtemp(prefix="pressrun-model-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "pressrun.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


class Queue:
    """The Dispatcher: tasks are queued, and the state machine delivers them."""

    def __init__(self) -> None:
        self.tasks: list[tuple[str, int | tuple[str, ...]]] = []

    def dispatch(self, event_id: int) -> None:
        self.tasks.append(("event", event_id))

    def dispatch_lists(self, list_keys: list[str]) -> None:
        self.tasks.append(("lists", tuple(list_keys)))

    def dispatch_chunk(self, chunk_id: int) -> None:
        raise AssertionError("no rebuild in this model")


class Publishing(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="pressrun-model-"))
        shutil.copy(template_database(), self.folder / "pressrun.db")
        self.services = create_services(
            Settings(
                database_url=f"sqlite:///{self.folder / 'pressrun.db'}",
                storage_url=f"file://{self.folder / 'site'}",
                site_url="https://news.example.com",
                page_size=2,
                home_size=4,
                feed_size=4,
                rail_size=2,
                related_size=2,
                related_min_score=0.01,
            ),
            migrate=False,
        )
        self.queue = Queue()
        self.delivered: list[tuple[str, int | str]] = []
        # The model: slug -> (live, title).
        self.model: dict[str, tuple[bool, str]] = {}
        self.changes = 0
        self.deliveries = 0

    # -- changes -----------------------------------------------------------------------------

    @rule(
        slug=st.sampled_from(SLUGS),
        section=st.sampled_from(SECTIONS),
        tags=st.lists(st.sampled_from(TAGS), unique=True, max_size=2),
        day=st.integers(1, 40),
        hour=st.sampled_from([6, 12]),
    )
    def publish(self, slug: str, section: str, tags: list[str], day: int, hour: int) -> None:
        """A publish, an update, a move (new section or date) or a republish."""
        self.changes += 1
        title = f"{slug.split('-')[1].title()} story, change {self.changes}"
        when = datetime(2024, 1, 1, hour, tzinfo=UTC) + timedelta(days=day)
        data, _ = parse_article(
            {
                "slug": slug,
                "title": title,
                "body": BODIES[section],
                "section": section,
                "tags": tags,
                "published_at": when.isoformat(),
            }
        )
        with transaction(self.services.sessions) as session:
            change = articles.publish(session, data, actor="model")
        self.model[slug] = (True, title)
        dispatch_event(self.services, self.queue, change.event_id)

    @precondition(lambda self: any(live for live, _ in self.model.values()))
    @rule(data=st.data())
    def unpublish(self, data: st.DataObject) -> None:
        slug = data.draw(st.sampled_from(sorted(s for s, (live, _) in self.model.items() if live)))
        self.changes += 1
        with transaction(self.services.sessions) as session:
            change = articles.unpublish(session, slug, actor="model")
        self.model[slug] = (False, self.model[slug][1])
        dispatch_event(self.services, self.queue, change.event_id)

    # -- deliveries --------------------------------------------------------------------------

    def run(self, task: tuple[str, int | tuple[str, ...]]) -> None:
        kind, argument = task
        self.deliveries += 1
        if kind == "event":
            assert isinstance(argument, int)
            process_event(self.services, self.queue, argument)
        else:
            assert isinstance(argument, tuple)
            refresh_lists(self.services, self.queue, argument)
        self.delivered.append(task)

    @precondition(lambda self: bool(self.queue.tasks))
    @rule(data=st.data(), again=st.booleans())
    def deliver(self, data: st.DataObject, again: bool) -> None:
        """Any queued task, not necessarily the oldest; `again` keeps it queued (a duplicate
        that will be delivered later)."""
        index = data.draw(st.integers(0, len(self.queue.tasks) - 1))
        task = self.queue.tasks[index] if again else self.queue.tasks.pop(index)
        self.run(task)

    @precondition(lambda self: bool(self.delivered))
    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        """A task that already ran, delivered again late."""
        self.run(data.draw(st.sampled_from(self.delivered)))

    @rule(data=st.data())
    def drain_and_check(self, data: st.DataObject) -> None:
        """Deliver everything queued, in an order Hypothesis picks, then check the site."""
        while self.queue.tasks:
            index = data.draw(st.integers(0, len(self.queue.tasks) - 1))
            self.run(self.queue.tasks.pop(index))
        self.check()

    # -- the check ---------------------------------------------------------------------------

    def check(self) -> None:
        if not self.changes:
            return  # nothing was ever published: there is no site yet
        storage = self.services.storage
        stored = {key: storage.get(key) or b"" for key in storage.keys()}
        with transaction(self.services.sessions) as session:
            rows = session.execute(select(Article.slug, Article.status, Article.title)).all()
        database = {
            slug: (status == ArticleStatus.PUBLISHED, title) for slug, status, title in rows
        }
        assert database == self.model, "the database is not what the changes made it"
        unpublished = [slug for slug, (live, _) in self.model.items() if not live]
        findings = compare(expected_site(self.services), stored, unpublished)
        assert findings.clean, findings.details()
        for slug, (live, title) in self.model.items():
            if live:
                pages = [key for key in stored if key.endswith(f"/{slug}/index.html")]
                assert any(title.encode() in stored[key] for key in pages), slug

    def teardown(self) -> None:
        try:
            while self.queue.tasks:
                self.run(self.queue.tasks.pop(0))
            self.check()
        finally:
            self.services.engine.dispose()
            shutil.rmtree(self.folder, ignore_errors=True)


Publishing.TestCase.settings = settings(
    max_examples=10,
    stateful_step_count=16,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestPublishingWithReorderedAndDuplicatedDeliveries = Publishing.TestCase
