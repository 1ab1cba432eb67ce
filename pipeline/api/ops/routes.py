"""/ops: the dashboard, an event's page, an article's history, retry, sign in and out.

Pages are HTML rendered on the server; `?fragment=live` answers only the part a page
refreshes (its script swaps it in every few seconds). Errors on these routes are HTML
pages too, and a visitor who is not signed in is sent to the login form.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, StreamingResponse
from fastapi.routing import APIRoute

from pipeline.api.auth import client_address
from pipeline.api.context import ApiContext, Context
from pipeline.api.moves import EventMove, EventMoves
from pipeline.api.ops import pages
from pipeline.api.ops.broker import BrokerWatch
from pipeline.api.ops.session import (
    COOKIE,
    COOKIE_PATH,
    COOKIE_SAMESITE,
    Conflict,
    Forbidden,
    LoginNeeded,
    NotFound,
    Operator,
    OpsError,
    TooManyRequests,
    check_form,
    check_same_site,
    identify,
    sign_in,
    sign_out,
)
from pipeline.api.ops.settings import OpsSettings
from pipeline.api.ops.templates import STATIC_TYPES, environment, static_file
from pipeline.content.sanitize import SLUG_PATTERN
from pipeline.events import outbox
from pipeline.schema import MAX_ID, utcnow

log = logging.getLogger("pressrun.ops")
# ASCII digits only: "²" is a digit to str.isdigit() but not to int().
EVENT_NUMBER = re.compile(r"[0-9]{1,10}")
EventId = Annotated[int, Path(ge=1, le=MAX_ID)]
Fragment = Annotated[str | None, Query(pattern="^live$")]
# Pages show who is signed in: never cached, never framed, no script or style but ours.
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
FORM_TYPE = "application/x-www-form-urlencoded"
# A stream of moves ends after this long and the browser opens another (EventSource does by
# itself): a server shutting down waits for it no longer than for a `?wait=`.
STREAM_SECONDS = 25.0
# A comment line this often when nothing moves, so proxies keep the stream open.
KEEPALIVE_SECONDS = 10.0


@dataclass
class OpsState:
    """Built once per app, on the first request that needs it."""

    settings: OpsSettings
    watch: BrokerWatch | None


_state_lock = threading.Lock()


def ops_state(request: Request, context: ApiContext) -> OpsState:
    app_state = request.app.state
    with _state_lock:
        if not hasattr(app_state, "pressrun_ops"):
            settings = OpsSettings.from_env()
            app_state.pressrun_ops = OpsState(settings, _watch(context, settings))
    state = app_state.pressrun_ops
    assert isinstance(state, OpsState)
    return state


def _watch(context: ApiContext, settings: OpsSettings) -> BrokerWatch | None:
    if context.services.settings.eager:
        return None
    from workers.app import CeleryDispatcher, broker_overview, create_app

    dispatcher = context.dispatcher
    celery = (
        dispatcher.app
        if isinstance(dispatcher, CeleryDispatcher)
        else create_app(context.services.settings, lambda: context.services)
    )
    return BrokerWatch(
        lambda: broker_overview(celery, context.services.settings),
        max_age=settings.broker_max_age_seconds,
    )


# -- HTML answers, errors included -----------------------------------------------------------


def page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    body = environment().get_template(template).render(request_path=request.url.path, **values)
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def _login_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    here = here.replace("fragment=live", "").rstrip("?&")
    return f"/ops/login?next={quote(here, safe='/')}"


def _error_page(request: Request, error: OpsError) -> Response:
    if isinstance(error, LoginNeeded) and request.method == "GET":
        if request.query_params.get("fragment"):
            # The page's script sends the browser to the login form.
            return Response(status_code=401, headers={"X-Ops-Login": _login_url(request)})
        return RedirectResponse(_login_url(request), status_code=303, headers=HEADERS)
    return page(request, "error.html", error.status, error=error, operator=None)


class HtmlRoute(APIRoute):
    """Turns the dashboard's errors (and bad path parameters) into HTML pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handle(request)
            except OpsError as error:
                return _error_page(request, error)
            except RequestValidationError:
                return _error_page(request, NotFound(f"no page {request.url.path}"))

        return route_handler


router = APIRouter(prefix="/ops", route_class=HtmlRoute, include_in_schema=False)


async def _operator(context: ApiContext, request: Request) -> Operator:
    return await run_in_threadpool(identify, context, request)


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if not body:
        return {}
    if request.headers.get("content-type", "").split(";")[0].strip() != FORM_TYPE:
        raise OpsError(f"send the form as {FORM_TYPE}")
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=20)
    return {name: values[0] for name, values in fields.items()}


def _site_url(context: ApiContext) -> str:
    return context.services.settings.site_url.rstrip("/")


def _local(target: str | None) -> str:
    """Where to go next: a dashboard path only, never another site."""
    target = target or "/ops"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or not parts.path.startswith("/ops"):
        return "/ops"
    return target


# -- pages -----------------------------------------------------------------------------------


@router.get("")
async def dashboard(request: Request, context: Context, fragment: Fragment = None) -> Response:
    operator = await _operator(context, request)
    state = ops_state(request, context)
    board = await run_in_threadpool(
        pages.dashboard,
        context.services.sessions,
        context.services.settings,
        state.settings,
        state.watch,
        utcnow(),
    )
    template = "dashboard_live.html" if fragment else "dashboard.html"
    return page(
        request,
        template,
        board=board,
        operator=operator,
        refresh=state.settings.refresh_seconds,
        site_url=_site_url(context),
    )


@router.get("/events/{event_id}")
async def event_page(
    event_id: EventId, request: Request, context: Context, fragment: Fragment = None
) -> Response:
    operator = await _operator(context, request)
    state = ops_state(request, context)
    found = await run_in_threadpool(
        pages.event_page,
        context.services.sessions,
        context.services.settings,
        state.settings,
        event_id,
        utcnow(),
    )
    if found is None:
        raise NotFound(f"no event {event_id}")
    template = "event_live.html" if fragment else "event.html"
    return page(
        request,
        template,
        view=found,
        operator=operator,
        refresh=state.settings.refresh_seconds,
        retried=request.query_params.get("retried") == "1",
    )


@router.get("/articles/{article_id}")
async def article_page(
    article_id: EventId, request: Request, context: Context, fragment: Fragment = None
) -> Response:
    operator = await _operator(context, request)
    state = ops_state(request, context)
    found = await run_in_threadpool(
        pages.article_page,
        context.services.sessions,
        context.services.settings,
        article_id,
        utcnow(),
    )
    if found is None:
        raise NotFound(f"no article {article_id}")
    template = "article_live.html" if fragment else "article.html"
    return page(
        request,
        template,
        view=found,
        operator=operator,
        refresh=state.settings.refresh_seconds,
        site_url=_site_url(context),
    )


@router.get("/find")
async def find(request: Request, context: Context, q: str = "") -> Response:
    """An event id (`42` or `#42`) or an article slug, from the search box."""
    await _operator(context, request)
    wanted = q.strip().lstrip("#")
    if EVENT_NUMBER.fullmatch(wanted) and 0 < int(wanted) <= MAX_ID:
        return RedirectResponse(f"/ops/events/{int(wanted)}", status_code=303)
    article_id = None
    if SLUG_PATTERN.fullmatch(wanted):  # nothing else can be a slug (nor reach PostgreSQL: NUL)
        article_id = await run_in_threadpool(pages.find_article, context.services.sessions, wanted)
    if article_id is None:
        raise NotFound(f"no event or article {q.strip()!r}")
    return RedirectResponse(f"/ops/articles/{article_id}", status_code=303)


@router.get("/moves")
async def moves(request: Request, context: Context) -> Response:
    """Server-sent events for the pages' script: `moved` (data: {"id", "status",
    "article"}) whenever an event is written or changes stage, `resync` when some moves may
    have been missed, `hello` when the stream opens. 204 where the database cannot notify
    (SQLite): the script then refreshes on its timer alone."""
    await _operator(context, request)
    hub = context.moves
    if hub.conninfo is None:
        return Response(status_code=204, headers=HEADERS)
    return StreamingResponse(
        _stream_of(hub, STREAM_SECONDS),
        media_type="text/event-stream",
        # Not buffered by a proxy in front (nginx): a move must reach the browser at once.
        headers={**HEADERS, "X-Accel-Buffering": "no"},
    )


async def _stream_of(hub: EventMoves, seconds: float) -> AsyncIterator[str]:
    end = time.monotonic() + seconds
    async with hub.follow() as queue:
        # The browser opens the stream again a second after it ends (or breaks).
        yield f"retry: 1000\n{_message('hello', {'listening': hub.listening})}"
        while (left := end - time.monotonic()) > 0:
            try:
                move = await asyncio.wait_for(queue.get(), min(KEEPALIVE_SECONDS, left))
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            yield _message_of(move)


def _message_of(move: EventMove) -> str:
    if move.resync:
        return _message("resync", {})
    return _message("moved", {"id": move.event_id, "status": move.status,
                              "article": move.article_id})  # fmt: skip


def _message(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"


# -- actions ---------------------------------------------------------------------------------


@router.post("/events/{event_id}/retry")
async def retry(event_id: EventId, request: Request, context: Context) -> Response:
    """What `pressrun events retry` does: back to accepted with a fresh count of tries, then
    dispatched (to the broker, or processed here when there is none)."""
    operator = await _operator(context, request)
    check_form(operator, request, await _form(request))
    if not operator.can_retry:
        raise Forbidden(f"retrying needs an admin token (yours has scope '{operator.scope}')")
    await run_in_threadpool(_retry, context, event_id, operator)
    return RedirectResponse(f"/ops/events/{event_id}?retried=1", status_code=303)


def _retry(context: ApiContext, event_id: int, operator: Operator) -> None:
    try:
        with outbox.writing(context.services.sessions, later=True) as written:
            outbox.send_again(written.session, event_id)
    except outbox.NoSuchEvent as error:
        raise NotFound(str(error)) from None
    except outbox.AlreadyLive as error:
        raise Conflict(str(error)) from None
    log.info("event %s retried from the dashboard by token %s", event_id, operator.name)
    written.dispatch()


# -- signing in and out ----------------------------------------------------------------------


@router.get("/login")
async def login_form(request: Request, context: Context, next: str = "/ops") -> Response:
    if request.cookies.get(COOKIE):
        try:
            await _operator(context, request)
            return RedirectResponse(_local(next), status_code=303)
        except OpsError:
            pass  # an old or revoked cookie: sign in again
    return page(request, "login.html", next=_local(next), error=None, operator=None)


@router.post("/login")
async def login(request: Request, context: Context) -> Response:
    check_same_site(request)
    form = await _form(request)
    target = _local(form.get("next"))
    secret = form.get("token", "").strip()
    state = ops_state(request, context)
    try:
        session_id = await run_in_threadpool(
            sign_in,
            context,
            secret,
            address=client_address(request),
            seconds=state.settings.session_seconds,
        )
    except (LoginNeeded, Forbidden, TooManyRequests) as error:
        return page(request, "login.html", error.status, next=target, error=error, operator=None)
    response = RedirectResponse(target, status_code=303, headers=HEADERS)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=state.settings.session_seconds,
        path=COOKIE_PATH,
        httponly=True,
        samesite=COOKIE_SAMESITE,
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout(request: Request, context: Context) -> Response:
    operator = await _operator(context, request)
    check_form(operator, request, await _form(request))
    await run_in_threadpool(sign_out, context, operator)
    response = RedirectResponse("/ops/login", status_code=303, headers=HEADERS)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite=COOKIE_SAMESITE)
    return response


@router.get("/static/{name}")
async def static(name: str) -> Response:
    path = static_file(name)
    if path is None:
        raise NotFound(f"no file {name}")
    return FileResponse(
        path,
        media_type=STATIC_TYPES[path.suffix],
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
