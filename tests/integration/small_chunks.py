"""Test-only worker entry point: `python -m tests.integration.small_chunks worker ...` is the real
`pressrun` command line with a rebuild's chunks made small (`PRESSRUN_TEST_CHUNK_ARTICLES`
articles in an index or rails chunk, `PRESSRUN_TEST_CHUNK_OUTPUTS` outputs in a render chunk),
so the rebuild of a site small enough for a test has enough chunks to be stopped halfway.
Production code has no hook for this: the sizes are set from the outside before it starts."""

from __future__ import annotations

import os


def install() -> None:
    from pipeline.publish import rebuild

    articles = os.environ.get("PRESSRUN_TEST_CHUNK_ARTICLES")
    outputs = os.environ.get("PRESSRUN_TEST_CHUNK_OUTPUTS")
    if articles:
        rebuild.CHUNK_ARTICLES = int(articles)
    if outputs:
        rebuild.CHUNK_OUTPUTS = int(outputs)


if __name__ == "__main__":
    install()
    from pipeline.cli.main import main

    main(prog_name="pressrun")
