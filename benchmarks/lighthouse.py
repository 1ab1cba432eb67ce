"""Lighthouse scores and W3C (Nu Html Checker) errors of the pages readers land on.

A demo newsroom is published with the real CLI (`pressrun demo`) into a temporary folder,
served on a local port by the demo's own handler, and each page is audited by npm's
`lighthouse` driving Debian's Chromium, then checked by the Nu Html Checker (`vnu.jar`, from
npm's `vnu-jar`, run with the system's Java). Both npm packages live in the project's `.node/`
folder: `make node-tools` installs them.

    .venv/bin/python -m benchmarks.lighthouse              # home, article, section, author
    .venv/bin/python -m benchmarks.lighthouse / /politics/ # the pages named

Prints one row per page: the four categories' scores (0-100, the median of `--runs` runs)
and the checker's error count. The performance score is a measurement of time: Lighthouse
slows the CPU time it observes four times to simulate a phone, so a busy machine scores
lower; run it on a quiet one, with `--runs 3` or more (Lighthouse's own advice is the median
of five).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.cli.demo import SiteHandler

ROOT = Path(__file__).resolve().parents[1]
NODE_TOOLS = Path(os.environ.get("PRESSRUN_NODE_TOOLS", ROOT / ".node"))
LIGHTHOUSE = NODE_TOOLS / "node_modules" / ".bin" / "lighthouse"
VNU_JAR = NODE_TOOLS / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
CHROMIUM = Path("/usr/bin/chromium")
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
# Headless Chromium in a container: no sandbox (root), no GPU, no small /dev/shm.
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage"
DEMO_ARTICLES = 40
ARTICLE_PATH = re.compile(r'href="(/[a-z0-9-]+/\d{4}/\d{2}/\d{2}/[a-z0-9-]+/)"')


class QuietSiteHandler(SiteHandler):
    """The demo's handler without a log line per request (the table is the output)."""

    def log_message(self, format: str, *args: object) -> None:
        pass


class ToolMissing(RuntimeError):
    """A tool the audit needs is not installed; the message says how to install it."""


def missing_tools() -> list[str]:
    """What is not installed, each with how to install it (empty when all is there)."""
    missing = []
    if not LIGHTHOUSE.exists() or not VNU_JAR.exists():
        missing.append(f"lighthouse and vnu-jar are not in {NODE_TOOLS}: run `make node-tools`")
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} is missing: install Debian's chromium (make test does)")
    if shutil.which("java") is None:
        missing.append("java is missing: the Nu Html Checker needs a Java runtime (17+)")
    return missing


@dataclass
class DemoSite:
    """A published demo newsroom in `root`, served at `base_url`."""

    root: Path
    base_url: str

    def stored(self, path: str) -> Path:
        """The file a path is served from (a folder's index.html)."""
        target = self.root / path.strip("/")
        return target / "index.html" if target.is_dir() else target

    def default_paths(self) -> list[str]:
        """Home, the newest article with a lead image, its section's front, and an author's
        page when the site has author pages."""
        home = self.stored("/").read_text("utf-8")
        article = next(
            path
            for path in ARTICLE_PATH.findall(home)
            if 'class="lead-image"' in self.stored(path).read_text("utf-8")
        )
        paths = ["/", article, "/" + article.split("/")[1] + "/"]
        authors = sorted(p for p in (self.root / "authors").glob("*/index.html"))
        if authors:
            paths.append(f"/authors/{authors[0].parent.name}/")
        return paths


@contextlib.contextmanager
def demo_site(workdir: Path, articles: int = DEMO_ARTICLES) -> Iterator[DemoSite]:
    """Publish `pressrun demo --articles N` into `workdir`/site and serve it meanwhile."""
    pressrun = shutil.which("pressrun", path=str(Path(sys.executable).parent))
    if pressrun is None:
        raise ToolMissing(f"no pressrun script next to {sys.executable}")
    root = workdir / "site"
    root.mkdir(parents=True, exist_ok=True)
    # Bound first: the port is in the absolute URLs (canonical, Open Graph) the demo writes.
    handler = functools.partial(QuietSiteHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="demo-site", daemon=True)
    thread.start()
    try:
        base_url = f"http://127.0.0.1:{server.server_address[1]}"
        env = {
            **os.environ,
            "PRESSRUN_DATABASE_URL": f"sqlite:///{workdir / 'pressrun.db'}",
            "PRESSRUN_STORAGE_URL": f"file://{root}",
            "PRESSRUN_SITE_URL": base_url,
        }
        env.pop("PRESSRUN_BROKER_URL", None)
        subprocess.run(
            [pressrun, "demo", "--articles", str(articles)],
            cwd=workdir,
            env=env,
            check=True,
            capture_output=True,
            timeout=600,
        )
        yield DemoSite(root, base_url)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def lighthouse_report(url: str, workdir: Path) -> dict[str, Any]:
    """Lighthouse's JSON report of one page, default (mobile, simulated throttling) settings."""
    path = workdir / "lighthouse.json"
    subprocess.run(
        [
            str(LIGHTHOUSE),
            url,
            "--output=json",
            f"--output-path={path}",
            "--quiet",
            f"--only-categories={','.join(CATEGORIES)}",
            f"--chrome-flags={CHROME_FLAGS}",
        ],
        env={**os.environ, "CHROME_PATH": str(CHROMIUM)},
        check=True,
        capture_output=True,
        timeout=300,
    )
    report: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return report


def scores(report: dict[str, Any]) -> dict[str, int]:
    """The four category scores, 0-100."""
    return {name: round(100 * (report["categories"][name]["score"] or 0)) for name in CATEGORIES}


def shortfalls(report: dict[str, Any]) -> list[str]:
    """The scored audits short of a full score: why a category is below 100."""
    return sorted(
        f"{audit['id']}: {audit['title']}"
        for audit in report["audits"].values()
        if audit.get("scoreDisplayMode") in ("binary", "numeric", "metricSavings")
        and audit.get("score") is not None
        and audit["score"] < 1
    )


def html_errors(files: Sequence[Path]) -> list[str]:
    """The Nu Html Checker's errors in these HTML files, one line each (empty: valid)."""
    done = subprocess.run(
        ["java", "-jar", str(VNU_JAR), "--errors-only", "--format", "json", *map(str, files)],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    messages = json.loads(done.stderr or "{}").get("messages", [])
    return [
        f"{Path(message.get('url', '?')).name}:{message.get('lastLine', '?')}: "
        f"{message.get('message', '')}"
        for message in messages
        if message.get("type") in ("error", "non-document-error")
    ]


def audit_pages(
    site: DemoSite, paths: Sequence[str], workdir: Path, runs: int = 1
) -> list[dict[str, object]]:
    """One row per page: its Lighthouse scores (each the median of `runs` runs) and the
    checker's error count."""
    rows: list[dict[str, object]] = []
    for path in paths:
        reports = [lighthouse_report(site.base_url + path, workdir) for _ in range(runs)]
        scored = {
            name: round(statistics.median(scores(report)[name] for report in reports))
            for name in CATEGORIES
        }
        report = reports[-1]
        # Why a category is short of 100, when one is.
        short = [] if min(scored.values()) == 100 else shortfalls(report)
        errors = html_errors([site.stored(path)])
        rows.append({"path": path, **scored, "vnu_errors": len(errors), "notes": errors + short})
    return rows


def print_table(rows: Sequence[dict[str, object]]) -> None:
    header = ["page", *CATEGORIES, "vnu errors"]
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for row in rows:
        cells = [str(row["path"]), *(str(row[name]) for name in CATEGORIES)]
        print(" | ".join([*cells, str(row["vnu_errors"])]))
    for row in rows:
        for note in row["notes"]:  # type: ignore[attr-defined]
            print(f"  {row['path']}: {note}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="pages to audit (default: home, an article, "
                        "a section, an author page when there are any)")  # fmt: skip
    parser.add_argument("--articles", type=int, default=DEMO_ARTICLES)
    parser.add_argument("--runs", type=int, default=1, help="Lighthouse runs a page (median)")
    args = parser.parse_args(argv)
    missing = missing_tools()
    if missing:
        print("error: " + "; ".join(missing), file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pressrun-lighthouse-") as tmp:
        workdir = Path(tmp)
        with demo_site(workdir, args.articles) as site:
            rows = audit_pages(site, args.paths or site.default_paths(), workdir, args.runs)
    print_table(rows)
    low = [row for row in rows if any(int(str(row[name])) < 95 for name in CATEGORIES)]
    return 1 if low or any(row["vnu_errors"] for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
