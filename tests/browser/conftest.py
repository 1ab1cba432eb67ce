"""What the browser tests share: Debian's Chromium, driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser.chromium import CHROMIUM, MISSING, launch


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(MISSING)
    with sync_playwright() as driver:
        launched = launch(driver)
        yield launched
        launched.close()
