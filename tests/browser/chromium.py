"""The Chromium both browser suites drive: Debian's (`make test` installs it), with the flags
a container without a GPU or a big /dev/shm needs, and nothing fetched from off the test
server (such a request is aborted, and the console error it causes fails the test)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MISSING = f"{CHROMIUM} is missing: install Debian's chromium (make test does)"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
OFF_SITE = re.compile(r"^https?://(?!127\.0\.0\.1[:/])")


def launch(driver: Playwright) -> Browser:
    return driver.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)


def local_context(browser: Browser, **options: Any) -> BrowserContext:
    """A browser context that may load from the test server alone."""
    context = browser.new_context(**options)
    context.route(OFF_SITE, lambda route: route.abort())
    return context
