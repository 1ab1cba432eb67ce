"""POST /v1/webhooks/cms: a CMS pushes publish, update and unpublish events, signed with the
shared secret (no bearer token). Each delivery is carried out once: its signature is
remembered, in the same transaction as the change, for as long as it could pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.api.bodies import json_object, model_from_body, parse_article_reporting_all
from pipeline.api.context import ApiContext, Context
from pipeline.api.models import WebhookDelivery
from pipeline.api.params import RawBody, checked_slug, json_body_doc
from pipeline.api.problems import ApiProblem, FieldError, problem_responses
from pipeline.api.schemas import WEBHOOK_SCHEMA, WebhookPayload, WriteResult
from pipeline.api.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, BadSignature, verify
from pipeline.api.writes import Answer, article_answer, perform
from pipeline.content import schedule
from pipeline.content.articles import ArticleNotFound
from pipeline.content.inputs import ArticleInput, InvalidInput
from pipeline.content.models import Article

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
ACTOR = "webhook:cms"
# Deliveries whose timestamp is this far ahead are refused too; their signatures are kept
# until the window has passed for them, plus this margin for clock drift.
KEEP_MARGIN = timedelta(minutes=1)


@router.post(
    "/cms",
    status_code=202,
    response_model=WriteResult,
    responses={
        200: {"description": "`update` of a draft: saved, nothing to publish.",
              "model": WriteResult},
        201: {"description": "`update` of a new article: saved as a draft.",
              "model": WriteResult},
        **problem_responses(400, 401, 404, 409, 413, 415, 422, 500, 503),
    },
    openapi_extra=json_body_doc(WEBHOOK_SCHEMA),
)  # fmt: skip
def cms_webhook(
    context: Context,
    request: Request,
    body: RawBody,
    timestamp: Annotated[str | None, Header(alias=TIMESTAMP_HEADER)] = None,
    signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER)] = None,
) -> Response:
    """`{"action": "publish" | "update" | "unpublish", "article": {...}}`, signed:
    `X-Pressrun-Signature: sha256=HMAC_SHA256(secret, "{timestamp}.{raw body}")` with
    `X-Pressrun-Timestamp` in Unix seconds. 401 for a bad signature or a timestamp more than
    5 minutes away; 409 for a signature already seen (a replay)."""
    secret = context.api_settings.webhook_secret
    if not secret:
        raise ApiProblem(
            "unavailable", "the webhook is not configured: set PRESSRUN_WEBHOOK_SECRET"
        )
    now = context.clock()
    window = context.api_settings.webhook_window_seconds
    try:
        sent_at, digest = verify(
            secret, timestamp, signature, body, now=now.timestamp(), window_seconds=window
        )
    except BadSignature as error:
        raise ApiProblem(
            "webhook-signature", str(error), headers={"WWW-Authenticate": "Signature"}
        ) from None
    payload = model_from_body(
        WebhookPayload, json_object(body, request.headers.get("content-type"))
    )
    keep_until = datetime.fromtimestamp(sent_at, UTC) + timedelta(seconds=window) + KEEP_MARGIN

    def change(session: Session, now: datetime) -> Answer:
        if session.get(WebhookDelivery, digest) is not None:
            raise ApiProblem("webhook-replayed", "this delivery was already received")
        session.add(WebhookDelivery(signature=digest, received_at=now, expires_at=keep_until))
        session.flush()
        return _carry_out(session, context, payload, now)

    return perform(context, change)


def _carry_out(
    session: Session, context: ApiContext, payload: WebhookPayload, now: datetime
) -> Answer:
    try:
        return _act(session, context, payload, now)
    except InvalidInput as error:  # the domain's refusals (a slug taken) name the article's field
        raise ApiProblem.invalid(f"article.{error.field}", error.message) from None


def _act(session: Session, context: ApiContext, payload: WebhookPayload, now: datetime) -> Answer:
    if payload.action == "unpublish":
        done = schedule.unpublish_now(session, _slug_to_unpublish(session, payload.article),
                                      actor=ACTOR, now=now)  # fmt: skip
        return _answer(session, context, done.article_id, 202, done.event_id)
    data = _article(payload.article)
    if payload.action == "publish":
        done = schedule.save_and_publish(session, data, actor=ACTOR, now=now)
        return _answer(session, context, done.article_id, 202, done.event_id)
    saved = schedule.save(session, data, actor=ACTOR, now=now)
    if saved.change is not None:
        return _answer(session, context, saved.article_id, 202, saved.change.event_id)
    return _answer(session, context, saved.article_id, 201 if saved.created else 200, None)


def _article(data: dict[str, Any]) -> ArticleInput:
    try:
        return parse_article_reporting_all(data)
    except ApiProblem as problem:
        raise _within_article(problem) from None


def _within_article(problem: ApiProblem) -> ApiProblem:
    errors = [FieldError(field=f"article.{e.field}", message=e.message) for e in problem.errors]
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return ApiProblem(problem.kind, detail, errors=errors)


def _slug_to_unpublish(session: Session, data: dict[str, Any]) -> str:
    """`unpublish` names the article by `id` (the CMS's) or by `slug`."""
    external_id = data.get("id")
    if external_id is not None:
        if not isinstance(external_id, str) or not external_id.strip():
            raise ApiProblem.invalid("article.id", "must be a non-empty string")
        slug = session.scalar(select(Article.slug).where(Article.external_id == external_id))
        if slug is None:
            raise ArticleNotFound(external_id)
        return slug
    if not isinstance(data.get("slug"), str):
        raise ApiProblem.invalid("article.slug", "give the article's `slug` (or `id`)")
    return checked_slug(data["slug"], "article.slug")


def _answer(
    session: Session, context: ApiContext, article_id: int, status: int, event_id: int | None
) -> Answer:
    article = session.get(Article, article_id)
    assert article is not None
    return article_answer(session, context.services.settings.site_url, article, status, event_id)
