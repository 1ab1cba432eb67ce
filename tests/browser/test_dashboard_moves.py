"""The dashboard's live panels refresh when an event moves, not only on their timer: a real
headless Chromium on the API over PostgreSQL, whose trigger notifies each move and whose
/ops/moves streams it to the page. The timer is set to a minute here, so what shows before
a minute has passed came by the stream. A screenshot is saved as
test-artifacts/dashboard-moves.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from pipeline.api.app import create_app
from pipeline.api.models import Scope
from pipeline.api.settings import ApiSettings
from pipeline.api.tokens import create_token
from pipeline.config import Settings
from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.db import transaction
from pipeline.services import Services, create_services
from tests.api.conftest import ServerThread, content
from tests.browser.chromium import ARTIFACTS, local_context
from tests.conftest import SITE_URL
from tests.integration.conftest import database_url  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

TIMER_SECONDS = 60
# Well under the timer: a change that shows within it was brought by the stream.
BY_THE_STREAM = TIMER_SECONDS * 1000 // 2


@pytest.fixture
def services(database_url: str, tmp_path: Path) -> Iterator[Services]:  # noqa: F811
    built = create_services(
        Settings(
            database_url=database_url,
            storage_url=f"file://{tmp_path / 'site'}",
            site_url=SITE_URL,
            site_name="The Test Gazette",
        )
    )
    yield built
    built.engine.dispose()


@pytest.fixture
def served(services: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerThread]:
    monkeypatch.setenv("PRESSRUN_OPS_REFRESH_SECONDS", str(TIMER_SECONDS))
    api = ApiSettings(rate_per_minute=100_000, anonymous_rate_per_minute=100_000)
    app = create_app(services.settings, api, services=services, embedded_jobs=False)
    with ServerThread(app) as server:
        yield server


def accepted_event(services: Services, slug: str) -> int:
    data, _ = parse_article({**content(title=f"Story {slug}"), "slug": slug})
    with transaction(services.sessions) as session:
        return articles.publish(session, data, actor="test").event_id


def _sign_in(page: Page, url: str, services: Services) -> None:
    with transaction(services.sessions) as session:
        secret = create_token(session, name="ops-moves", scope=Scope.ADMIN).secret
    page.goto(url + "/ops")
    page.fill("#token", secret)
    page.click("form[action='/ops/login'] button")
    page.wait_for_url(url + "/ops")


def _row(page: Page, event_id: int) -> Any:
    recent = page.locator('[data-panel="recent"] tbody tr')
    return recent.filter(has=page.locator(f'a[href="/ops/events/{event_id}"]'))


def test_the_dashboard_shows_a_move_as_it_happens(
    services: Services,
    served: ServerThread,
    browser: Browser,
    database_url: str,  # noqa: F811
) -> None:
    errors: list[str] = []
    context = local_context(browser, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    _sign_in(page, served.url, services)
    live = page.locator("#live")
    expect(live).to_have_attribute("data-streaming", "1")
    expect(page.locator("#live-status")).to_contain_text("as events move")

    # A new event shows as accepted, then as live once another connection commits it so.
    event_id = accepted_event(services, "harbour")
    badge = _row(page, event_id).locator('[data-label="Status"] .badge')
    expect(badge).to_have_text("accepted", timeout=BY_THE_STREAM)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE events SET status = 'live', dispatched_at = accepted_at, "
            "started_at = accepted_at, rendered_at = now(), live_at = now() WHERE id = %s",
            (event_id,),
        )
    expect(badge).to_have_text("live", timeout=BY_THE_STREAM)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-moves.png"), full_page=True)

    # An event's own page follows its event alone.
    other = accepted_event(services, "ferries")
    page.goto(f"{served.url}/ops/events/{other}")
    expect(page.locator("#live")).to_have_attribute("data-streaming", "1")
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("UPDATE events SET status = 'failed', error = 'broken' WHERE id = %s",
                           (other,))  # fmt: skip
    expect(page.locator("#live")).to_contain_text("broken", timeout=BY_THE_STREAM)
    context.close()
    assert errors == []
