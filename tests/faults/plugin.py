"""Test-only worker plugin: `python -m tests.faults.plugin worker ...` is the real `pressrun`
command line with the faults named in the environment installed first. Production code has no
hook for any of this; the plugin wraps two functions from the outside.

- `PRESSRUN_FAULTS_POISON_RAISE=slug`: rendering that article's page raises (a render bug
  that some input triggers: the task fails with the error);
- `PRESSRUN_FAULTS_POISON_CRASH=slug`: rendering that article's page kills the process that
  renders it (a segfault in a C extension, the OOM killer);
- `PRESSRUN_FAULTS_DUPLICATE=1`: every task the worker sends (list refreshes, rebuild chunks,
  relayed events) is sent twice.

No input to the real renderer is known to crash it (the one that did, an article dated
December 9999, is fixed in `pipeline.site.lists`), hence the hook: the test is about what the
fleet does with such an article, not about how it arises.
"""

from __future__ import annotations

import os
from typing import Any


class PoisonError(RuntimeError):
    """The render of a poison article failed."""


def install() -> None:
    raising = os.environ.get("PRESSRUN_FAULTS_POISON_RAISE")
    crashing = os.environ.get("PRESSRUN_FAULTS_POISON_CRASH")
    if raising or crashing:
        from pipeline.render.renderer import Renderer

        original = Renderer.article_page

        def article_page(self: Renderer, session: Any, article: Any, key: str) -> Any:
            if article.slug == crashing:
                os._exit(70)
            if article.slug == raising:
                raise PoisonError(f"cannot render {article.slug}: poisoned by the fault test")
            return original(self, session, article, key)

        Renderer.article_page = article_page  # type: ignore[method-assign]
    if os.environ.get("PRESSRUN_FAULTS_DUPLICATE"):
        from workers.app import CeleryDispatcher

        for name in ("dispatch", "dispatch_lists", "dispatch_chunk"):
            send = getattr(CeleryDispatcher, name)

            def twice(self: CeleryDispatcher, argument: Any, _send: Any = send) -> None:
                _send(self, argument)
                _send(self, argument)

            setattr(CeleryDispatcher, name, twice)


if __name__ == "__main__":
    install()
    from pipeline.cli.main import main

    main(prog_name="pressrun")
