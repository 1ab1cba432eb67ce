"""/v1/articles: content (PUT), publish and unpublish (now or scheduled), what a change would
touch (impact), a private preview, and reading them back.

Routes with a suffix come before the bare `{slug:path}` ones, which would swallow them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from pipeline.api.auth import Caller, PublishCaller, ReadCaller
from pipeline.api.bodies import article_from_body, json_object, model_from_body
from pipeline.api.context import ApiContext, Context
from pipeline.api.params import (
    ArticleSlug,
    Cursor,
    Facts,
    IdempotencyKey,
    checked_slug,
    json_body_doc,
)
from pipeline.api.presenters import article_view, article_views
from pipeline.api.previews import as_preview
from pipeline.api.problems import ApiProblem, problem_responses
from pipeline.api.schemas import (
    ARTICLE_CONTENT_SCHEMA,
    ArticlePage,
    ArticleView,
    Impact,
    ImpactOutput,
    PreviewLink,
    PublishRequest,
    ScheduleView,
    UnpublishRequest,
    WriteResult,
)
from pipeline.api.writes import Answer, Keyed, article_answer, perform
from pipeline.content import articles, schedule
from pipeline.content.models import Article, ArticleStatus, Preview, ScheduleAction, Section
from pipeline.db import transaction
from pipeline.site import impact
from pipeline.site.outputs import url_path

router = APIRouter(prefix="/v1/articles", tags=["articles"])

READ_ERRORS = problem_responses(401, 403, 404, 422, 429, 500, 503)
WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503)


def _keyed(caller: Caller, key: str | None, facts: Facts) -> Keyed | None:
    return Keyed(caller.token_id, key, facts) if key is not None else None


def _visible(session: Session, caller: Caller, slug: str) -> Article:
    """The article, if it exists and this caller's sections cover it."""
    article = articles.article_by_slug(session, slug)
    _check_sees(caller, article)
    return article


def _check_sees(caller: Caller, article: Article) -> None:
    # Not found, word for word as an unknown slug: a 403 would confirm that the slug exists
    # (an embargoed story, say) and name its section.
    if not caller.sees(article.section.slug):
        raise articles.ArticleNotFound(article.slug)


def _result(
    session: Session,
    context: ApiContext,
    article: Article,
    status_code: int,
    event_id: int | None = None,
    scheduled: ScheduleView | None = None,
) -> Answer:
    site_url = context.services.settings.site_url
    return article_answer(session, site_url, article, status_code, event_id, scheduled)


# -- impact and preview -----------------------------------------------------------------------


@router.get("/{slug:path}/impact", responses=READ_ERRORS)
def get_impact(
    slug: ArticleSlug,
    caller: ReadCaller,
    context: Context,
    action: Annotated[
        Literal["publish", "unpublish"], Query(description="The change to ask about.")
    ] = "publish",
) -> Impact:
    """The outputs that publishing (or unpublishing) this article would re-render or delete
    right now, from the dependency table. Nothing is changed, and nothing is locked: the change
    is planned from reads, in a read-only transaction."""
    with transaction(context.services.sessions) as session:
        _visible(session, caller, slug)
    specs = impact.impact(context.services, slug, action, context.clock())
    site = context.services.settings.site_url.rstrip("/")
    group_of = context.services.kinds.group_of
    outputs = [
        ImpactOutput(
            key=spec.key, kind=spec.kind, url=site + url_path(spec.key), group=group_of(spec)
        )
        for spec in specs
    ]
    return Impact(action=action, article=slug, count=len(outputs), outputs=outputs)


@router.post(
    "/{slug:path}/preview",
    status_code=201,
    responses=WRITE_ERRORS,
    response_model=PreviewLink,
)
def create_preview(
    slug: ArticleSlug,
    caller: PublishCaller,
    context: Context,
    facts: Facts,
    key: IdempotencyKey = None,
) -> Response:
    """Render the article page from its current content, as it would look live now, into
    private storage, and return a link that expires. Previews never reach the manifest, so
    no list, feed or sitemap shows them."""
    with transaction(context.services.sessions) as session:
        _visible(session, caller, slug)
    page = as_preview(
        impact.render_as_live(context.services, slug, context.clock()),
        context.services.settings.site_url,
    )
    store, seconds = context.previews, context.api_settings.preview_seconds

    def change(session: Session, now: datetime) -> Answer:
        storage_key = store.key(store.new_name())
        expires_at = now + timedelta(seconds=seconds)
        article = articles.article_by_slug(session, slug)
        row = Preview(
            storage_key=storage_key, article_id=article.id, created_at=now, expires_at=expires_at
        )
        session.add(row)
        session.flush()
        store.put(storage_key, page)
        return Answer(201, PreviewLink(url=store.url(storage_key, seconds), expires_at=expires_at))

    return perform(context, change, _keyed(caller, key, facts))


# -- publishing -------------------------------------------------------------------------------


@router.post(
    "/{slug:path}/publish",
    status_code=202,
    responses=WRITE_ERRORS,
    response_model=WriteResult,
    openapi_extra=json_body_doc(PublishRequest, required=False),
)
def publish(
    slug: ArticleSlug,
    caller: PublishCaller,
    context: Context,
    facts: Facts,
    request: Request,
    key: IdempotencyKey = None,
) -> Response:
    """Publish the article as saved: now (an event follows it to live), or at `publish_at`
    (an embargo: the article shows as `scheduled` until the periodic job publishes it)."""
    data = json_object(facts.body, request.headers.get("content-type"), required=False)
    wanted = model_from_body(PublishRequest, data)
    at = wanted.publish_at

    def change(session: Session, now: datetime) -> Answer:
        article = _visible(session, caller, slug)
        if at is None:
            done = schedule.publish_now(session, slug, actor=caller.actor, now=now)
            return _result(session, context, article, 202, done.event_id)
        row = schedule.schedule_publish(session, article, _moment(at), actor=caller.actor, now=now)
        return _result(session, context, article, 202, None, _scheduled(row.action, row.due_at))

    return perform(context, change, _keyed(caller, key, facts))


@router.post(
    "/{slug:path}/unpublish",
    status_code=202,
    responses=WRITE_ERRORS,
    response_model=WriteResult,
    openapi_extra=json_body_doc(UnpublishRequest, required=False),
)
def unpublish(
    slug: ArticleSlug,
    caller: PublishCaller,
    context: Context,
    facts: Facts,
    request: Request,
    key: IdempotencyKey = None,
) -> Response:
    """Take the article down everywhere now (whatever was scheduled is cancelled), or at
    `unpublish_at` (an expiry)."""
    data = json_object(facts.body, request.headers.get("content-type"), required=False)
    at = model_from_body(UnpublishRequest, data).unpublish_at

    def change(session: Session, now: datetime) -> Answer:
        article = _visible(session, caller, slug)
        if at is None:
            done = schedule.unpublish_now(session, slug, actor=caller.actor, now=now)
            return _result(session, context, article, 202, done.event_id)
        row = schedule.schedule_unpublish(
            session, article, _moment(at), actor=caller.actor, now=now
        )
        return _result(session, context, article, 202, None, _scheduled(row.action, row.due_at))

    return perform(context, change, _keyed(caller, key, facts))


@router.delete(
    "/{slug:path}/schedule", responses=problem_responses(401, 403, 404, 422, 429, 500, 503)
)
def cancel_schedule(
    slug: ArticleSlug,
    caller: PublishCaller,
    context: Context,
    action: Annotated[
        ScheduleAction | None, Query(description="Cancel only this one (default: both).")
    ] = None,
) -> Response:
    """Cancel a scheduled publish and/or unpublish. A cancelled publish gives the article back
    the status it had (draft or unpublished). 404 when nothing was scheduled."""

    def change(session: Session, now: datetime) -> Answer:
        article = _visible(session, caller, slug)
        try:
            schedule.cancel(session, article, action, now=now)
        except schedule.NothingScheduled as error:
            raise ApiProblem("not-found", str(error)) from None
        return _result(session, context, article, 200)

    return perform(context, change)


def _moment(value: object) -> datetime:
    assert isinstance(value, datetime)  # IsoDateTime's validator made it one
    return value


def _scheduled(action: ScheduleAction, due_at: datetime) -> ScheduleView:
    return ScheduleView(action=action, due_at=due_at)


# -- the list ---------------------------------------------------------------------------------


@router.get("", responses=problem_responses(401, 403, 422, 429, 500, 503))
def list_articles(
    caller: ReadCaller,
    context: Context,
    section: Annotated[str | None, Query(max_length=200)] = None,
    status: ArticleStatus | None = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Words in the title or slug.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ArticlePage:
    """Articles, newest first, in pages of `limit`; filter by section, status and words."""
    query = select(Article).join(Section)
    if section is not None:
        section = checked_slug(section, "section")
        caller.check_section(section)
        query = query.where(Section.slug == section)
    if caller.sections is not None:
        query = query.where(Section.slug.in_(caller.sections))
    if status is not None:
        query = query.where(Article.status == status)
    if q is not None and q.strip():
        query = _matching(query, q)
    if cursor is not None:
        after = Cursor.decode(cursor)
        query = query.where(
            or_(
                Article.published_at < after.published_at,
                and_(Article.published_at == after.published_at, Article.id < after.article_id),
            )
        )
    query = query.order_by(Article.published_at.desc(), Article.id.desc()).limit(limit + 1)
    with transaction(context.services.sessions) as session:
        found = list(session.scalars(query))
        page = found[:limit]
        items = article_views(session, page, context.services.settings.site_url)
    more = len(found) > limit
    next_cursor = Cursor(page[-1].published_at, page[-1].id).encode() if more else None
    return ArticlePage(items=items, next_cursor=next_cursor)


def _matching(query: Select[Article], q: str) -> Select[Article]:
    if any(ord(char) < 32 for char in q):
        raise ApiProblem.invalid("q", "must not contain control characters")
    words = q.lower().split()
    return query.where(
        *(
            or_(
                func.lower(Article.title).contains(word, autoescape=True),
                Article.slug.contains(word, autoescape=True),
            )
            for word in words
        )
    )


# -- one article ------------------------------------------------------------------------------


@router.get("/{slug:path}", responses=READ_ERRORS)
def get_article(slug: ArticleSlug, caller: ReadCaller, context: Context) -> ArticleView:
    """Status, version, live URL, schedules and last event of one article."""
    with transaction(context.services.sessions) as session:
        article = _visible(session, caller, slug)
        return article_view(session, article, context.services.settings.site_url)


@router.put(
    "/{slug:path}",
    responses={
        200: {"description": "A draft updated.", "model": WriteResult},
        201: {"description": "A draft created.", "model": WriteResult},
        202: {
            "description": "A published article republished: `event` follows it.",
            "model": WriteResult,
        },
        **WRITE_ERRORS,
    },
    response_model=WriteResult,
    openapi_extra=json_body_doc(ARTICLE_CONTENT_SCHEMA),
)
def put_article(
    slug: ArticleSlug,
    caller: PublishCaller,
    context: Context,
    facts: Facts,
    request: Request,
    key: IdempotencyKey = None,
    publish: Annotated[
        bool, Query(description="Also publish it now, in the same change (one event).")
    ] = False,
) -> Response:
    """Create or update an article's content. It stays a draft until published; a published
    article is republished (the same write path as the CLI, with its event)."""
    data = article_from_body(json_object(facts.body, request.headers.get("content-type")), slug)
    caller.check_section(data.section)

    def change(session: Session, now: datetime) -> Answer:
        existing = articles.find(session, data)
        if existing is not None:
            _check_sees(caller, existing)
        if publish:
            done = schedule.save_and_publish(session, data, actor=caller.actor, now=now)
            article = session.get(Article, done.article_id)
            assert article is not None
            return _result(session, context, article, 202, done.event_id)
        saved = schedule.save(session, data, actor=caller.actor, now=now)
        article = session.get(Article, saved.article_id)
        assert article is not None
        if saved.change is not None:
            return _result(session, context, article, 202, saved.change.event_id)
        return _result(session, context, article, 201 if saved.created else 200)

    return perform(context, change, _keyed(caller, key, facts))
