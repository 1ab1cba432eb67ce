"""The app factory: settings -> services -> a FastAPI app (`pressrun api` serves it with
uvicorn). Every route answers JSON; every error is problem+json."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from importlib.metadata import version
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from pipeline.api import ops
from pipeline.api.context import ApiContext
from pipeline.api.housekeeping import purge_expired
from pipeline.api.limits import BodyLimit, RateLimits, redis_url_of
from pipeline.api.moves import EventMoves
from pipeline.api.previews import open_preview_store
from pipeline.api.problems import DESCRIPTIONS, KINDS, ApiProblem, Problem, install_problem_handlers
from pipeline.api.routes import articles, events, health, tokens, webhook
from pipeline.api.settings import ApiSettings
from pipeline.config import Settings
from pipeline.content.schedule import run_due
from pipeline.events.processing import finish_unfinished
from pipeline.publish.news import AGE_NEWS_EVERY_SECONDS, refresh_aged_news
from pipeline.services import Services, create_services

log = logging.getLogger("pressrun.api")
# Without a broker there is no beat: the API process runs the periodic job itself.
EMBEDDED_JOB_EVERY_SECONDS = 2.0

DESCRIPTION = """\
The editorial API of pressrun: save an article's content, publish it now or at a set time,
unpublish it, follow the change until it is live, see what a change would touch, preview a
draft, and receive signed webhooks from a CMS.

Every route but `/healthz`, `/readyz` and the webhook needs `Authorization: Bearer <token>`
(`pressrun tokens create --scope read|publish|admin [--sections a,b]`). POST and PUT take an
`Idempotency-Key`. Errors are RFC 9457 `application/problem+json` with `errors` naming the
offending fields.
"""


def create_app(
    settings: Settings | None = None,
    api_settings: ApiSettings | None = None,
    *,
    services: Services | None = None,
    embedded_jobs: bool | None = None,
) -> FastAPI:
    """The API over `settings` (default: the environment). `embedded_jobs` (default: when
    no broker is configured) finishes what a crashed process left and runs the periodic job
    (due schedules, expired previews) in this process."""
    settings = settings or Settings.from_env()
    api_settings = api_settings or ApiSettings.from_env()
    owned = services is None
    built = services or create_services(settings)
    context = _context(built, api_settings)
    run_jobs = settings.eager if embedded_jobs is None else embedded_jobs
    app = FastAPI(
        title="pressrun editorial API",
        version=version("pressrun"),
        description=DESCRIPTION,
        lifespan=_lifespan(context, run_jobs, owned),
    )
    app.state.pressrun = context
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=api_settings.max_body_bytes)
    for module in (articles, events, webhook, tokens, health, ops):
        app.include_router(module.router)
    app.add_api_route("/problems/{kind}", _problem_type, include_in_schema=False)
    app.openapi = _openapi_of(app)  # type: ignore[method-assign]
    return app


def _context(services: Services, api_settings: ApiSettings) -> ApiContext:
    from workers.app import CeleryDispatcher
    from workers.app import create_app as create_celery_app

    celery = create_celery_app(services.settings, lambda: services)

    def broker_check() -> None:
        with celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=3)

    context = ApiContext(
        services=services,
        dispatcher=CeleryDispatcher(celery),
        api_settings=api_settings,
        limits=RateLimits(
            api_settings.rate_per_minute,
            api_settings.anonymous_rate_per_minute,
            redis_url_of(services.settings.broker_url),
            # Sites that share a Redis (told apart by their queue prefix) count apart too.
            key_prefix=f"{services.settings.queue_prefix}pressrun-rate",
        ),
        previews=open_preview_store(services.settings, services.storage),
        moves=EventMoves.of(services.engine),
        broker_check=None if services.settings.eager else broker_check,
    )
    # The API's own sessions: their transactions dispatch the events they commit.
    context.services = services.dispatching(context.dispatch)
    return context


def _lifespan(
    context: ApiContext, run_jobs: bool, owned: bool
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        job = None
        # Listening first: a waiter that comes while the jobs below run is woken too.
        await context.moves.start()
        try:
            if run_jobs:
                # Nothing committed is lost: finish what a crashed process left behind first.
                await run_in_threadpool(finish_unfinished, context.services, context.dispatcher)
                job = asyncio.create_task(_periodic_job(context))
            yield
        finally:
            await context.moves.stop()
            if job is not None:
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job
            if owned:
                context.services.engine.dispose()

    return lifespan


async def _periodic_job(context: ApiContext) -> None:
    news_checked = time.monotonic()
    while True:
        await asyncio.sleep(EMBEDDED_JOB_EVERY_SECONDS)
        try:
            await run_in_threadpool(run_due, context.services)
            await run_in_threadpool(purge_expired, context.services, context.clock())
            if time.monotonic() - news_checked >= AGE_NEWS_EVERY_SECONDS:
                # The beat's job where there is no beat: articles age out of the news sitemap.
                news_checked = time.monotonic()
                await run_in_threadpool(refresh_aged_news, context.services, context.dispatcher)
        except Exception:  # logged; the next round tries again
            log.exception("the periodic job failed")


async def _problem_type(kind: str) -> JSONResponse:
    """What a problem `type` means (its URI resolves here)."""
    if kind not in KINDS:
        raise ApiProblem("not-found", f"no problem type {kind!r}")
    status, title = KINDS[kind]
    return JSONResponse({"type": f"/problems/{kind}", "title": title, "status": status,
                         "description": DESCRIPTIONS[status]})  # fmt: skip


def _openapi_of(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(problem.pop("$defs", {}))
            schemas["Problem"] = problem
            app.openapi_schema = document
        return app.openapi_schema

    return openapi
