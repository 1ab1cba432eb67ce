"""The same newsroom as a Hugo site, to compare pressrun's per-change publishing with a static
site generator whose only way to publish one article is a full rebuild.

The site mirrors pressrun's pages: article pages (breadcrumb, labels, headline, standfirst,
byline, date, body, a "Latest articles" rail of the 10 articles published just before and a
"More like this" rail of 5), section and tag pages paginated 20 to a page, a home page with the
50 latest, a latest feed and a sitemap. Hugo's "More like this" comes from its tag-based
related-content index, not pressrun's TF-IDF scorer, so the rails are comparable in cost and
size, not in choice.

Peak memory is the hugo process's own maximum resident set size, read exactly from the kernel
by `os.wait4` (no polling, so no short peak is missed).

    .venv/bin/python -m benchmarks.hugo_site --sizes 1000 10000 [--latest-rail prev]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pipeline.cli.demo_content import generate_articles

HUGO_INSTALL_HINT = (
    "Hugo is not installed: apt-get update && apt-get install hugo (Debian's package)"
)
PAGE_SIZE = 20
HOME_SIZE = 50
FEED_SIZE = 50
LATEST_SIZE = 10
RELATED_SIZE = 5
# Debian 12's package; the config is written for it when no hugo binary can be asked.
DEBIAN_HUGO = (0, 111, 3)
SERVICES_RSS = (0, 114, 0)  # `rssLimit` became `[services.rss] limit`
PAGINATION_TABLE = (0, 128, 0)  # `paginate` became `[pagination] pagerSize`
VERSION = re.compile(r"v(\d+)\.(\d+)\.(\d+)")
LOG_TAIL = 4000  # characters of hugo's output quoted when a build fails

Version = tuple[int, int, int]
LatestRail = Literal["where", "prev"]


class HugoError(RuntimeError):
    """Hugo is missing, or a build failed (the message carries hugo's output)."""


@dataclass(frozen=True)
class HugoBuild:
    seconds: float  # wall time of the hugo process
    cpu_seconds: float  # its user + system CPU time: steadier than wall time on a busy machine
    peak_rss_mb: float  # the hugo process's maximum resident set size, in MiB
    pages: int  # index.html files under public/ (pagination's /page/1/ redirects included)
    version: str  # the first line of `hugo version`


def hugo_available() -> bool:
    return shutil.which("hugo") is not None


def hugo_version_text() -> str:
    done = subprocess.run(
        [_hugo(), "version"], capture_output=True, text=True, check=True, env=_environment()
    )
    return done.stdout.strip().splitlines()[0]


def parse_version(text: str) -> Version:
    found = VERSION.search(text)
    if found is None:
        raise HugoError(f"cannot read a version number in {text!r}")
    major, minor, patch = (int(part) for part in found.groups())
    return major, minor, patch


# --- Writing the site ----------------------------------------------------------------------


def write_hugo_site(
    records: list[dict[str, object]],
    folder: Path,
    *,
    version: Version | None = None,
    latest_rail: LatestRail = "where",
) -> None:
    """Write config, layouts and one content file per record into `folder`.

    `version` picks the config dialect; by default the installed hugo is asked, and Debian's
    0.111 is assumed when there is none (so the files can be written and inspected anywhere).
    `latest_rail` picks how article pages find the 10 earlier articles (see LATEST_RAILS).
    """
    if version is None:
        version = parse_version(hugo_version_text()) if hugo_available() else DEBIAN_HUGO
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hugo.toml").write_text(site_config(version))
    for relative, text in layouts(latest_rail).items():
        _write(folder / "layouts" / relative, text)
    for record in records:
        write_article(folder, record)


def write_article(folder: Path, record: dict[str, object]) -> Path:
    """One content file (and its section's index page, the first time the section is seen)."""
    section = _text(record, "section")
    index = folder / "content" / section / "_index.md"
    if not index.exists():
        _write(index, f"+++\ntitle = {toml_string(section.capitalize())}\n+++\n")
    path = folder / "content" / section / f"{_text(record, 'slug')}.md"
    _write(path, article_markdown(record))
    return path


def site_config(version: Version) -> str:
    return "\n".join(
        [
            'baseURL = "https://news.example.org/"',
            'title = "Pressrun News"',
            'languageCode = "en-gb"',
            'timeZone = "UTC"',
            "enableRobotsTXT = false",
            "disableHugoGeneratorInject = true",
            *_version_specific(version),
            "",
            "[taxonomies]",
            'tag = "tags"',
            "",
            # Pressrun writes one latest feed; Hugo would otherwise add one per list page.
            "[outputs]",
            'home = ["html", "rss"]',
            'section = ["html"]',
            'taxonomy = ["html"]',
            'term = ["html"]',
            "",
            # Bodies are plain text: print quotes and URLs as written, as pressrun does.
            "[markup.goldmark.extensions]",
            "typographer = false",
            "linkify = false",
            "",
            *RELATED_CONFIG,
            "",
        ]
    )


def _version_specific(version: Version) -> list[str]:
    lines = []
    if version < PAGINATION_TABLE:
        lines.append(f"paginate = {PAGE_SIZE}")
    if version < SERVICES_RSS:
        lines.append(f"rssLimit = {FEED_SIZE}")
    # Tables come last: a key after a table header would belong to the table.
    if version >= PAGINATION_TABLE:
        lines += ["", "[pagination]", f"pagerSize = {PAGE_SIZE}"]
    if version >= SERVICES_RSS:
        lines += ["", "[services.rss]", f"limit = {FEED_SIZE}"]
    return lines


# Tags choose, the section breaks ties. Hugo keeps a candidate when its average index weight,
# as a percentage of the largest (100), reaches threshold / matches: a shared tag (100) passes,
# a shared section alone (50 < 80) does not, and tag plus section (75 >= 40) ranks above a tag
# alone. Indices read front-matter params only, never the section Hugo derives from the
# content path (on 0.111 an index named "section" matches nothing unless front matter sets
# it), so `desk` repeats the section under a name that cannot be mistaken for `.Section`.
RELATED_CONFIG = [
    "[related]",
    "includeNewer = true",
    "threshold = 80",
    "toLower = true",
    "",
    "[[related.indices]]",
    'name = "tags"',
    "weight = 100",
    "",
    "[[related.indices]]",
    'name = "desk"',
    "weight = 50",
]


def article_markdown(record: dict[str, object]) -> str:
    published = parse_timestamp(_text(record, "published_at"))
    front_matter = [
        "+++",
        f"title = {toml_string(_text(record, 'title'))}",
        f"date = {published:%Y-%m-%dT%H:%M:%SZ}",
        f"description = {toml_string(_text(record, 'standfirst'))}",
        f"slug = {toml_string(_text(record, 'slug'))}",
        f"url = {toml_string(article_url(record))}",
        f"desk = {toml_string(_text(record, 'section'))}",
        f"tags = {toml_list(_texts(record, 'tags'))}",
        f"authors = {toml_list(_texts(record, 'authors'))}",
        "+++",
    ]
    return "\n".join(front_matter) + "\n\n" + markdown_text(_text(record, "body")) + "\n"


def article_url(record: dict[str, object]) -> str:
    published = parse_timestamp(_text(record, "published_at"))
    return f"/{_text(record, 'section')}/{published:%Y/%m/%d}/{_text(record, 'slug')}/"


def parse_timestamp(text: str) -> datetime:
    if not text.endswith("Z"):
        raise ValueError(f"published_at must be UTC ending in Z: {text!r}")
    return datetime.fromisoformat(text).astimezone(UTC)


def toml_string(text: str) -> str:
    # JSON's string escapes are valid TOML; TOML also forbids a raw DEL, which JSON allows.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(toml_string(item) for item in items) + "]"


# Backslash-escaping ASCII punctuation is always literal in CommonMark. `{` and `<` also stop
# Hugo reading `{{<` or `{{%` in an article as a shortcode call.
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#!|~&])")
BLOCK_START = re.compile(r"^([-+=]|\d+(?=[.)]))")  # bullets, setext rules, "1." lists


def markdown_text(body: str) -> str:
    """Plain text as Markdown that renders to exactly that text, one <p> per paragraph."""
    paragraphs = [part for part in re.split(r"\n\s*\n", body.strip()) if part.strip()]
    return "\n\n".join(_markdown_paragraph(paragraph) for paragraph in paragraphs)


def _markdown_paragraph(paragraph: str) -> str:
    lines = []
    # Leading spaces would make a code block and trailing ones a hard line break.
    for line in paragraph.splitlines():
        escaped = MARKDOWN_SPECIAL.sub(r"\\\1", line.strip())
        lines.append(BLOCK_START.sub(_escape_block_start, escaped))
    return "\n".join(lines)


def _escape_block_start(found: re.Match[str]) -> str:
    marker = found.group(1)
    return marker + "\\" if marker[0].isdigit() else "\\" + marker


def _text(record: dict[str, object], key: str) -> str:
    value = record[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string, not {type(value).__name__}")
    return value


def _texts(record: dict[str, object], key: str) -> list[str]:
    value = record[key]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"{key} must be a list of strings")
    return value


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# --- Layouts -------------------------------------------------------------------------------
# Markup follows pressrun's templates (templates/*.html) closely, so page sizes compare.
# html/template escapes every value by context.

BASEOF = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ block "title" . }}{{ .Site.Title }}{{ end }}</title>
<link rel="canonical" href="{{ .Permalink }}">
<link rel="stylesheet" href="/static/style.css">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="alternate" type="application/rss+xml" title="{{ .Site.Title }}: latest" \
href="{{ "index.xml" | absURL }}">
{{ block "head" . }}{{ end }}
</head>
<body>
<header class="masthead">
  <div class="wrap">
    <a class="brand" href="/">{{ .Site.Title }}</a>
  </div>
</header>
<main class="wrap" id="content">
{{ block "main" . }}{{ end }}
</main>
<footer class="footer">
  <div class="wrap">
    <a href="/">Home</a> · <a href="/index.xml">Feed</a> · <a href="/sitemap.xml">Sitemap</a>
  </div>
</footer>
</body>
</html>
"""

# Two ways to list the 10 articles published just before this one (pressrun's rail as rendered
# at publish time); both render the same links. "where" is the rail's definition written out:
# it filters the whole newest-first list on every article page, so a build costs
# O(articles²) (at 10,000 articles it dominates the build). "prev" steps ten times along
# `.Prev`, the next older page in Hugo's default order (weight, then newest first: by date
# here, as no page has a weight), which Hugo links once per build: O(1) a page.
LATEST_RAILS = {
    "where": """{{ $latest := where .Site.RegularPages.ByDate.Reverse "Date" "lt" .Date \
| first @LATEST@ }}""",
    "prev": """{{ $latest := slice }}{{ $older := . }}
    {{ range seq @LATEST@ }}{{ with $older }}{{ $older = .Prev }}{{ end }}\
{{ with $older }}{{ $latest = $latest | append . }}{{ end }}{{ end }}""",
}

SINGLE = """{{ define "title" }}{{ .Title }} — {{ .Site.Title }}{{ end }}
{{ define "head" }}
<meta name="description" content="{{ .Description }}">
<meta property="og:type" content="article">
<meta property="og:site_name" content="{{ .Site.Title }}">
<meta property="og:title" content="{{ .Title }}">
<meta property="og:description" content="{{ .Description }}">
<meta property="og:url" content="{{ .Permalink }}">
<meta property="article:published_time" content="{{ .Date.Format "2006-01-02T15:04:05Z07:00" }}">
<meta property="article:section" content="{{ .CurrentSection.Title }}">
{{ range .Params.tags }}<meta property="article:tag" content="{{ . }}">
{{ end }}<meta name="twitter:card" content="summary">
<meta name="twitter:title" content="{{ .Title }}">
<meta name="twitter:description" content="{{ .Description }}">
{{ end }}
{{ define "main" }}
{{ $section := .CurrentSection }}
<nav class="breadcrumb" aria-label="Breadcrumb">
  <ol>
    <li><a href="/">Home</a></li>
    <li><a href="{{ $section.RelPermalink }}">{{ $section.Title }}</a></li>
    <li aria-current="page">{{ .Title }}</li>
  </ol>
</nav>
<div class="article-layout">
  <article class="article">
    <header class="article-header">
      <p class="labels">
        <a class="section-label" href="{{ $section.RelPermalink }}">{{ $section.Title }}</a>
        {{ range .GetTerms "tags" }}<a class="tag-label" rel="tag" \
href="{{ .RelPermalink }}">{{ .LinkTitle }}</a>
        {{ end }}
      </p>
      <h1 class="headline">{{ .Title }}</h1>
      {{ with .Description }}<p class="standfirst">{{ . }}</p>{{ end }}
      <p class="meta">
        {{ with .Params.authors }}<span class="byline">By {{ delimit . ", " }}</span>{{ end }}
        <span class="dateline">Published on <time \
datetime="{{ .Date.Format "2006-01-02T15:04:05Z07:00" }}">{{ .Date.Format "2 January 2006" }}\
</time></span>
      </p>
    </header>
    <div class="article-body">
      {{ .Content }}
    </div>
  </article>
  <aside class="rails">
    @LATEST_RAIL@
    {{ with $latest }}
    <section class="rail" id="latest-rail" aria-labelledby="latest-heading">
      <h2 id="latest-heading">Latest articles</h2>
      {{ partial "teasers.html" . }}
    </section>
    {{ end }}
    {{ with .Site.RegularPages.Related . | first @RELATED@ }}
    <section class="rail" id="related-rail" aria-labelledby="related-heading">
      <h2 id="related-heading">More like this</h2>
      {{ partial "teasers.html" . }}
    </section>
    {{ end }}
  </aside>
</div>
{{ end }}
""".replace("@RELATED@", str(RELATED_SIZE))

TEASERS = """<ol class="teasers">
{{ range . }}
  <li>
    <a class="teaser-title" href="{{ .RelPermalink }}">{{ .Title }}</a>
    <p class="teaser-text">{{ .Description }}</p>
  </li>
{{ end }}
</ol>
"""

STORIES = """<ol class="stories">
{{ range . }}
  <li class="story">
    <p class="kicker"><a href="{{ .CurrentSection.RelPermalink }}">{{ .CurrentSection.Title }}\
</a> · <time datetime="{{ .Date.Format "2006-01-02T15:04:05Z07:00" }}">\
{{ .Date.Format "2 January 2006" }}</time></p>
    <h2 class="story-title"><a href="{{ .RelPermalink }}">{{ .Title }}</a></h2>
    <p class="story-text">{{ .Description }}</p>
  </li>
{{ end }}
</ol>
"""

# Section and term pages share one paginated body. Hugo builds a page's paginator once, on the
# first call, so both blocks ask for the same list (newest first).
PAGED = """{{ define "title" }}{{ $pager := .Paginate .Pages.ByDate.Reverse }}{{ .Title }}\
{{ if gt $pager.PageNumber 1 }} (page {{ $pager.PageNumber }}){{ end }} — {{ .Site.Title }}\
{{ end }}
{{ define "main" }}
{{ $pager := .Paginate .Pages.ByDate.Reverse }}
<nav class="breadcrumb" aria-label="Breadcrumb">
  <ol>
    <li><a href="/">Home</a></li>
    {{ if gt $pager.PageNumber 1 }}
    <li><a href="{{ .RelPermalink }}">{{ .Title }}</a></li>
    <li aria-current="page">Page {{ $pager.PageNumber }}</li>
    {{ else }}
    <li aria-current="page">{{ .Title }}</li>
    {{ end }}
  </ol>
</nav>
<h1 class="page-heading">{{ .Title }}{{ if gt $pager.PageNumber 1 }} \
<span class="page-number">page {{ $pager.PageNumber }}</span>{{ end }}</h1>
{{ partial "stories.html" $pager.Pages }}
<nav class="pagination" aria-label="Pages">
  {{ with $pager.Prev }}<a rel="prev" href="{{ .URL }}">← Newer articles</a>{{ end }}
  {{ with $pager.Next }}<a rel="next" href="{{ .URL }}">Older articles →</a>{{ end }}
</nav>
{{ end }}
"""

HOME = """{{ define "title" }}{{ .Site.Title }} — latest news{{ end }}
{{ define "main" }}
<h1 class="page-heading">Latest news</h1>
{{ with first @HOME@ .Site.RegularPages.ByDate.Reverse }}
{{ partial "stories.html" . }}
{{ else }}
<p class="empty">Nothing has been published yet.</p>
{{ end }}
{{ end }}
""".replace("@HOME@", str(HOME_SIZE))

TAGS = """{{ define "title" }}Tags — {{ .Site.Title }}{{ end }}
{{ define "main" }}
<h1 class="page-heading">Tags</h1>
<ul class="tags">
{{ range .Data.Terms.Alphabetical }}
  <li><a href="{{ .Page.RelPermalink }}">{{ .Page.LinkTitle }}</a> ({{ .Count }})</li>
{{ end }}
</ul>
{{ end }}
"""

NOT_FOUND = """{{ define "title" }}Page not found — {{ .Site.Title }}{{ end }}
{{ define "main" }}
<h1 class="page-heading">Page not found</h1>
<p><a href="/">Go to the home page</a></p>
{{ end }}
"""


def layouts(latest_rail: LatestRail) -> dict[str, str]:
    """Template text by path under layouts/."""
    rail = LATEST_RAILS[latest_rail].replace("@LATEST@", str(LATEST_SIZE))
    return {"_default/single.html": SINGLE.replace("@LATEST_RAIL@", rail), **LAYOUTS}


LAYOUTS = {
    "_default/baseof.html": BASEOF,
    "_default/list.html": PAGED,
    "_default/term.html": PAGED,
    "_default/taxonomy.html": TAGS,
    "index.html": HOME,
    "404.html": NOT_FOUND,
    "partials/teasers.html": TEASERS,
    "partials/stories.html": STORIES,
}


# --- Building ------------------------------------------------------------------------------


def build_hugo(folder: Path) -> HugoBuild:
    """One full `hugo` build of the site in `folder` into `folder/public`, measured."""
    command = [_hugo(), "--quiet", "--minify=false", "-d", str(folder / "public")]
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=folder, env=_environment(), stdout=log, stderr=subprocess.STDOUT
        )
        # wait4 reaps the child and returns its own rusage: ru_maxrss is the exact peak RSS of
        # this one process (KiB on Linux), unlike RUSAGE_CHILDREN's max over every child ever.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # already reaped: tell Popen
        if process.returncode != 0:
            log.seek(0)
            output = log.read().decode(errors="replace")[-LOG_TAIL:]
            raise HugoError(f"hugo exited with {process.returncode}:\n{output}")
    return HugoBuild(
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
        pages=count_pages(folder / "public"),
        version=hugo_version_text(),
    )


def publish_one_with_hugo(folder: Path, record: dict[str, object]) -> HugoBuild:
    """Add one article to an existing site and rebuild: Hugo's cost of publishing it."""
    write_article(folder, record)
    return build_hugo(folder)


def count_pages(public: Path) -> int:
    return sum(1 for _ in public.rglob("index.html"))


def _hugo() -> str:
    executable = shutil.which("hugo")
    if executable is None:
        raise HugoError(HUGO_INSTALL_HINT)
    return executable


def _environment() -> dict[str, str]:
    # Drop inherited HUGO_* settings so only the site's own config counts.
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUGO_")}
    env["HUGO_ENVIRONMENT"] = "production"
    return env


# --- Command line --------------------------------------------------------------------------


def measure(size: int, latest_rail: LatestRail = "where") -> tuple[HugoBuild, HugoBuild]:
    """A full build of `size` articles, then the rebuild that publishes one more."""
    records = generate_articles(size + 1)
    with tempfile.TemporaryDirectory(prefix=f"hugo-{size}-") as name:
        folder = Path(name)
        write_hugo_site(records[:size], folder, latest_rail=latest_rail)
        return build_hugo(folder), publish_one_with_hugo(folder, records[size])


def main() -> None:
    parser = argparse.ArgumentParser(description="Hugo build and publish-one cost by site size.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--latest-rail", choices=sorted(LATEST_RAILS), default="where")
    arguments = parser.parse_args()
    if not hugo_available():
        raise SystemExit(HUGO_INSTALL_HINT)
    print(hugo_version_text())
    for size in arguments.sizes:
        build, publish = measure(size, arguments.latest_rail)
        for label, result in (("build", build), ("publish one", publish)):
            print(
                f"{size:>7} articles, {label:<11}: {result.seconds:7.2f} s "
                f"({result.cpu_seconds:.2f} s CPU), "
                f"peak {result.peak_rss_mb:7.1f} MiB, {result.pages} pages"
            )


if __name__ == "__main__":
    main()
