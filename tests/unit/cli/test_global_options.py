"""`pressrun`'s own options are taken where people write them: before or after the command."""

from __future__ import annotations

import pytest

from pipeline.cli.main import hoist_global_options


@pytest.mark.parametrize(
    ("given", "parsed"),
    [
        (["--site", "s", "demo"], ["--site", "s", "demo"]),
        (["demo", "--site", "s", "--serve"], ["--site", "s", "demo", "--serve"]),
        (["demo", "--serve", "--site=s"], ["--site=s", "demo", "--serve"]),
        (["events", "list", "--site", "s"], ["--site", "s", "events", "list"]),
        # After `--` everything is an argument, even a file named --site.
        (["publish", "--", "--site"], ["publish", "--", "--site"]),
        # A trailing --site without its value is left for click to refuse.
        (["demo", "--site"], ["demo", "--site"]),
        (["publish", "site.json"], ["publish", "site.json"]),
    ],
)
def test_site_moves_before_the_command(given: list[str], parsed: list[str]) -> None:
    assert hoist_global_options(given) == parsed
