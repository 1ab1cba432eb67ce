"""Objects written per publish against site size (embedded default, through the real CLI).

For each size: import a generated newsroom of that many articles (one rebuild), then publish
new articles one at a time with `pressrun publish` and read the counts it prints.

    .venv/bin/python benchmarks/publish_cost.py --sizes 300 3000 --publishes 15
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipeline.cli.demo_content import generate_articles

PRINTED = re.compile(r"objects: (\d+) written, (\d+) unchanged, (\d+) deleted")


def pressrun(folder: Path, *args: str) -> str:
    executable = shutil.which("pressrun", path=str(Path(sys.executable).parent))
    assert executable is not None, "install the project first (make install)"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PRESSRUN_")}
    env["PRESSRUN_DATABASE_URL"] = f"sqlite:///{folder / 'pressrun.db'}"
    env["PRESSRUN_STORAGE_URL"] = f"file://{folder / 'site'}"
    done = subprocess.run(
        [executable, *args], cwd=folder, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def measure(size: int, publishes: int) -> dict[str, float]:
    records = generate_articles(size + publishes)
    with tempfile.TemporaryDirectory(prefix=f"pressrun-{size}-") as name:
        folder = Path(name)
        corpus = folder / "site.jsonl"
        # The oldest `size` articles make the site; the newest ones are published on top.
        with corpus.open("w") as stream:
            for record in records[:size]:
                stream.write(json.dumps({"id": record["slug"], **record}) + "\n")
        started = time.perf_counter()
        pressrun(folder, "import", str(corpus))
        build_seconds = time.perf_counter() - started
        objects, seconds = [], []
        for record in records[size:]:
            article = folder / "article.json"
            article.write_text(json.dumps(record))
            started = time.perf_counter()
            printed = pressrun(folder, "publish", str(article))
            seconds.append(time.perf_counter() - started)
            match = PRINTED.search(printed)
            assert match is not None, printed
            objects.append(int(match[1]) + int(match[3]))
    return {
        "build": build_seconds,
        "median": statistics.median(objects),
        "max": max(objects),
        "min": min(objects),
        "seconds": statistics.median(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 3000])
    parser.add_argument("--publishes", type=int, default=15)
    options = parser.parse_args()
    table = Table(title="Objects written (added, changed or deleted) per publish")
    for column in ("articles", "import+rebuild s", "objects median", "min", "max", "CLI s/publish"):
        table.add_column(column, justify="right")
    for size in options.sizes:
        row = measure(size, options.publishes)
        table.add_row(
            str(size),
            f"{row['build']:.1f}",
            f"{row['median']:.0f}",
            f"{row['min']:.0f}",
            f"{row['max']:.0f}",
            f"{row['seconds']:.2f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
