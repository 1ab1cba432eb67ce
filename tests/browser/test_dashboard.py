"""The ops dashboard in a real headless Chromium, on the real stack: PostgreSQL, Redis,
moto_server, two `pressrun worker` processes and `pressrun api`, all as subprocesses.

A publish fails for real (the bucket does not exist yet); once the bucket is there, more
publishes go live while the dashboard is open, and the failed one is retried from the
dashboard until it is live too. Screenshots of the dashboard on a laptop and on a phone
are saved under test-artifacts/ (dashboard.png, dashboard-phone.png).
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from prometheus_client.parser import text_string_to_metric_families

from tests.browser.chromium import ARTIFACTS, local_context
from tests.integration.conftest import (  # noqa: F401 (fixtures)
    Stack,
    database_url,
    make_stack,
    redis_url,
    s3_endpoint,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# The dashboard refreshes every 5 s and the broker is asked every 5 s: a change shows within
# a few refreshes, even on a busy machine.
SHOWS_WITHIN = 60_000
DESKS = ("world", "business", "culture")


@dataclass
class Fleet:
    stack: Stack
    url: str
    token: str
    api: subprocess.Popen[bytes]
    log: Path
    errors: list[str] = field(default_factory=list)

    def call(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": uuid.uuid4().hex}
        response = httpx.request(method, self.url + path, headers=headers, timeout=60, **options)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        answer: dict[str, Any] = response.json()
        return answer

    def publish(self, slug: str, number: int, *, wait: bool = True) -> dict[str, Any]:
        body = {
            "title": f"Harbour story {number}: ferries run again",
            "standfirst": "Crossings resume after the storm.",
            "body": "The harbour reopened on Sunday.\n\nRepairs took three weeks.",
            "section": DESKS[number % len(DESKS)],
            "tags": ["ferries", f"harbour-{number % 2}"],
            "authors": ["Bo Reporter"],
            "published_at": f"2025-03-{number + 1:02d}T08:00:00Z",
        }
        answer = self.call("PUT", f"/v1/articles/{slug}", params={"publish": "true"}, json=body)
        event = answer["event"]
        return self.call("GET", f"/v1/events/{event['id']}", params={"wait": 30}) if wait else event

    def api_log(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
def fleet(
    tmp_path: Path,
    database_url: str,  # noqa: F811
    redis_url: str,  # noqa: F811
    s3_endpoint: str,  # noqa: F811
) -> Iterator[Fleet]:
    stack = make_stack(tmp_path, database_url, redis_url, s3_endpoint, create_bucket=False)
    stack.pressrun("db", "upgrade")
    created = stack.pressrun("tokens", "create", "--scope", "admin", "--name", "ops-browser")
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("prt_"), created.stdout
    stack.start_workers(2)
    assert "NoSuchBucket" in stack.worker_logs()  # the workers said so at start
    api = stack.start_api("--log-level", "warning")
    try:
        yield Fleet(stack, api.url, token, api.process, api.log)
    finally:
        stack.close()


def _watch(page: Page, fleet: Fleet) -> Page:
    def on_console(message: Any) -> None:
        if message.type == "error":
            fleet.errors.append(f"console: {message.text} ({page.url})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: fleet.errors.append(f"pageerror: {error}"))
    return page


def _sign_in(page: Page, fleet: Fleet) -> None:
    page.goto(fleet.url + "/ops")
    assert page.url.startswith(fleet.url + "/ops/login?next=/ops"), page.url
    page.fill("#token", fleet.token)
    page.click("form[action='/ops/login'] button")
    page.wait_for_url(fleet.url + "/ops")


def _row(page: Page, event_id: int) -> Any:
    recent = page.locator('[data-panel="recent"] tbody tr')
    return recent.filter(has=page.locator(f'a[href="/ops/events/{event_id}"]'))


def _metrics(fleet: Fleet) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = httpx.get(fleet.url + "/metrics", timeout=30).text
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def _no_overflow(page: Page) -> None:
    widths = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,"
        " wide: Array.from(document.querySelectorAll('body *'))"
        "   .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
        "   .slice(0, 5).map(e => e.tagName + '.' + e.className)})"
    )
    assert widths["scroll"] <= widths["inner"] + 1, widths


def test_the_dashboard_follows_publishes_and_retries_a_failed_one(
    fleet: Fleet, browser: Browser
) -> None:
    # A publish while the bucket is missing fails for real, with the store's error.
    lost = fleet.publish("lost-ferry", 0)
    assert lost["status"] == "failed", lost
    assert "NoSuchBucket" in lost["error"]

    desktop = local_context(browser, viewport={"width": 1280, "height": 900})
    page = _watch(desktop.new_page(), fleet)
    _sign_in(page, fleet)
    failed = page.locator('[data-panel="failed"]')
    expect(failed).to_contain_text(f"#{lost['id']}")
    expect(failed).to_contain_text("NoSuchBucket")
    # The broker is asked in the background; the live refresh brings its answer in.
    fleet_panel = page.locator('[data-panel="fleet"]')
    expect(fleet_panel).to_contain_text("2 online", timeout=SHOWS_WITHIN)
    expect(fleet_panel.locator("ul.workers li")).to_have_count(2)
    expect(fleet_panel.locator("ul.workers li").first).to_contain_text("concurrency 1")
    expect(fleet_panel.locator("ul.queues")).to_contain_text("events")

    # With the bucket there, publishes go live while the page is open.
    fleet.stack.s3.create_bucket(Bucket=fleet.stack.bucket)
    first = fleet.publish("ferry-1", 1, wait=False)
    badge = _row(page, first["id"]).locator('[data-label="Status"] .badge')
    expect(badge).to_have_text("live", timeout=SHOWS_WITHIN)
    expect(_row(page, first["id"]).locator('[data-label="Live"]')).to_contain_text("+")
    assert int(page.locator("#live").get_attribute("data-refreshes") or 0) >= 1
    for number in range(2, 7):
        assert fleet.publish(f"ferry-{number}", number)["status"] == "live"
    assert fleet.publish("ferry-2", 12)["status"] == "live"  # an update

    # Retry the failed publish from the dashboard: it goes live too.
    page.goto(fleet.url + "/ops")
    page.locator(f'form[action="/ops/events/{lost["id"]}/retry"] button').click()
    page.wait_for_url(re.compile(rf"/ops/events/{lost['id']}\?retried=1$"))
    expect(page.locator(".flash")).to_contain_text("Sent again")
    expect(page.locator('[data-panel="event"] .badge').first).to_have_text(
        "live", timeout=SHOWS_WITHIN
    )
    expect(page.locator("table.stages tbody tr").last).not_to_contain_text("not yet")
    assert fleet.stack.object("world/2025/03/01/lost-ferry/index.html") is not None

    # Its article's history, one click away.
    page.locator('[data-panel="event"] a[href^="/ops/articles/"]').first.click()
    history = page.locator("ol.history > li")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text("publish")
    expect(history.first.locator(".badge")).to_have_text("live")

    # The last reconcile is shown; everything settles, then the screenshots.
    fleet.stack.wait_quiet()
    fleet.stack.pressrun("reconcile")
    page.goto(fleet.url + "/ops")
    expect(page.locator('[data-panel="failed"]')).to_contain_text("No failed event")
    expect(page.locator('[data-panel="fleet"]')).to_contain_text("0 missing")
    expect(page.locator('[data-panel="fleet"]')).to_contain_text("2 online", timeout=SHOWS_WITHIN)
    expect(page.locator('[data-panel="latency"]')).to_contain_text("8 changes went live")
    expect(page.locator('[data-panel="latency"] svg.chart .p50').first).to_be_attached()
    expect(page.locator('[data-panel="recent"] tbody tr')).to_have_count(9)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    _no_overflow(page)
    state = desktop.storage_state()
    desktop.close()

    phone = local_context(browser, viewport={"width": 390, "height": 844},
                     device_scale_factor=2, is_mobile=True, has_touch=True,
                     storage_state=state)  # fmt: skip
    page = _watch(phone.new_page(), fleet)
    page.goto(fleet.url + "/ops")
    expect(page.locator('[data-panel="fleet"]')).to_contain_text("2 online", timeout=SHOWS_WITHIN)
    page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
    _no_overflow(page)
    card = page.locator('[data-panel="recent"] tbody tr').first.bounding_box()
    assert card is not None
    assert card["width"] <= 390
    phone.close()

    # Without JavaScript: everything but the live refresh.
    plain = local_context(browser, java_script_enabled=False)
    page = _watch(plain.new_page(), fleet)
    _sign_in(page, fleet)
    expect(page.locator('[data-panel="recent"] tbody tr')).to_have_count(9)
    expect(page.locator('[data-panel="latency"] svg.chart').first).to_be_visible()
    assert page.locator("#live").get_attribute("data-refreshes") is None
    plain.close()

    metrics = _metrics(fleet)
    depths = {labels[0][1]: value for labels, value in metrics["pressrun_queue_depth"].items()}
    assert set(depths) == {"events", "lists", "rebuild"}
    assert metrics["pressrun_workers_online"][()] == 2
    assert metrics["pressrun_events"][(("kind", "publish"), ("status", "live"))] == 7
    assert metrics["pressrun_failed_events"][()] == 0

    assert fleet.errors == [], fleet.errors
    assert fleet.api.poll() is None, fleet.api_log()
    for name in ("dashboard.png", "dashboard-phone.png"):
        assert (ARTIFACTS / name).read_bytes().startswith(b"\x89PNG")
