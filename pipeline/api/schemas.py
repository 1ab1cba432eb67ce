"""What the API takes and returns, as Pydantic models (and so the OpenAPI document).

Article bodies are validated by `pipeline.content.inputs.parse_article`, the one set of rules every
door shares; `ARTICLE_CONTENT_SCHEMA` only describes them for the documentation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.api.models import Scope
from pipeline.content.inputs import LATEST, RESERVED_NAMES, SUPPORTED_RANGE, IsoDateTime
from pipeline.content.models import ArticleStatus, ScheduleAction
from pipeline.content.sanitize import MAX_SLUG_LENGTH
from pipeline.events.models import EventKind, EventStatus

# -- requests ---------------------------------------------------------------------------------

SLUG_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$",
    "maxLength": MAX_SLUG_LENGTH,
    "description": "Lower-case letters, digits and single hyphens (trimmed and lower-cased "
    f"first); not one of {', '.join(sorted(RESERVED_NAMES))}.",
}
# The CLI's article file minus `slug` (the URL names the article) and `id`, as
# `parse_article` checks it: written out, because explicit nulls are refused there.
ARTICLE_CONTENT_SCHEMA: dict[str, Any] = {
    "title": "ArticleContent",
    "description": "An article's content: the CLI's article JSON without `slug` (the URL "
    "names the article). Give `body` (plain text; blank lines split paragraphs) or "
    "`body_html` (sanitised with an allow-list), not both. Leave a field out rather than "
    "send null.",
    "type": "object",
    "additionalProperties": False,
    "required": ["title", "section"],
    "oneOf": [{"required": ["body"]}, {"required": ["body_html"]}],
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 500},
        "standfirst": {"type": "string", "maxLength": 2000},
        "body": {"type": "string", "minLength": 1},
        "body_html": {"type": "string", "minLength": 1},
        "section": SLUG_SCHEMA,
        "tags": {"type": "array", "items": SLUG_SCHEMA, "maxItems": 50},
        "authors": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 200},
            "maxItems": 20,
        },
        "image": {
            "type": "object",
            "additionalProperties": False,
            "required": ["url", "alt"],
            "properties": {
                "url": {"type": "string", "maxLength": 2000, "description": "http(s) or /path"},
                "alt": {"type": "string", "maxLength": 500},
            },
        },
        "published_at": {
            "type": "string",
            "format": "date-time",
            "description": "ISO-8601; without an offset it means UTC; "
            f"{SUPPORTED_RANGE} once in UTC. Left out: the moment the article first goes live.",
        },
    },
    "example": {
        "title": "Allies resume talks",
        "standfirst": "Negotiators return to Geneva.",
        "body": "First paragraph.\n\nSecond paragraph.",
        "section": "politics",
        "tags": ["diplomacy"],
        "authors": ["Ann Writer"],
    },
}


WEBHOOK_SCHEMA: dict[str, Any] = {
    "title": "WebhookPayload",
    "type": "object",
    "additionalProperties": False,
    "required": ["action", "article"],
    "properties": {
        "action": {"type": "string", "enum": ["publish", "update", "unpublish"]},
        "article": {
            **ARTICLE_CONTENT_SCHEMA,
            "title": "WebhookArticle",
            "description": "The CLI's article JSON: `slug` (or `id`, the CMS's own) names the "
            "article. For `unpublish`, `slug` or `id` alone is enough.",
            "required": ["title", "section"],
            "properties": {
                **ARTICLE_CONTENT_SCHEMA["properties"],
                "slug": SLUG_SCHEMA,
                "id": {"type": "string", "minLength": 1, "maxLength": 200},
            },
        },
    },
}


class PublishRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    publish_at: IsoDateTime | None = Field(
        default=None,
        description="Publish at this moment (an embargo) instead of now. ISO-8601; without an "
        f"offset it means UTC. Must be in the future, and at most {LATEST:%Y-%m-%dT%H:%M:%SZ}.",
        examples=["2030-01-01T09:00:00Z"],
    )


class UnpublishRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    unpublish_at: IsoDateTime | None = Field(
        default=None,
        description="Unpublish at this moment (an expiry) instead of now. Must be in the "
        f"future, after a scheduled publish, and at most {LATEST:%Y-%m-%dT%H:%M:%SZ}.",
    )


class WebhookPayload(BaseModel):
    """What a CMS pushes. `article` is the CLI's article JSON (for `unpublish`, `slug` or `id`
    alone is enough)."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["publish", "update", "unpublish"]
    article: dict[str, Any]


class NewTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    scope: Scope
    sections: list[str] | None = Field(default=None, max_length=100)


# -- responses --------------------------------------------------------------------------------


class Image(BaseModel):
    url: str
    alt: str


class EventLink(BaseModel):
    id: int
    kind: EventKind
    status: EventStatus
    url: str = Field(description="Follow it (with `?wait=`) to see when the change is live.")


class ScheduleView(BaseModel):
    action: ScheduleAction
    due_at: datetime
    attempts: int = Field(0, description="Tries that failed (each next one waits longer).")
    error: str | None = Field(None, description="Why the last try failed.")
    failed_at: datetime | None = Field(
        None,
        description="When it gave up after its last failed try: cancel it, or schedule "
        "the action again for a fresh start.",
    )


class ArticleView(BaseModel):
    slug: str
    title: str
    standfirst: str
    body_html: str
    section: str
    tags: list[str]
    authors: list[str]
    image: Image | None
    status: ArticleStatus
    version: int
    published_at: datetime | None = Field(
        description="Null for a draft saved without a date: it takes the moment it goes live."
    )
    updated_at: datetime
    url: str | None = Field(description="The live URL, while the article is published.")
    key: str | None = Field(description="Its storage key (null while undated).")
    schedules: list[ScheduleView]
    last_event: EventLink | None


class ArticlePage(BaseModel):
    items: list[ArticleView]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class WriteResult(BaseModel):
    """What a change did: the article as it now stands, and the event that carries the change
    to the site (none for a saved draft, a schedule or a cancellation)."""

    article: ArticleView
    event: EventLink | None
    schedule: ScheduleView | None = None


class Stages(BaseModel):
    accepted: datetime
    dispatched: datetime | None
    started: datetime | None
    page_live: datetime | None = Field(
        description="The article's own page live; its other pages and lists follow."
    )
    rendered: datetime | None = Field(description="Every page of the event written.")
    live: datetime | None = Field(description="Every list it enters written too.")


class Timings(BaseModel):
    """Milliseconds after `accepted`."""

    dispatched: float | None
    started: float | None
    page_live: float | None
    rendered: float | None
    live: float | None


class OutputCounts(BaseModel):
    written: int
    deleted: int
    unchanged: int


class EventView(BaseModel):
    id: int
    kind: EventKind
    status: EventStatus
    done: bool = Field(description="Live or failed: nothing more will happen.")
    article: str | None = Field(description="The article's slug.")
    article_version: int
    actor: str
    attempts: int
    error: str | None
    stages: Stages
    timings_ms: Timings
    outputs: OutputCounts | None
    pending_lists: list[str]


class EventPage(BaseModel):
    items: list[EventView]


class ImpactOutput(BaseModel):
    key: str
    kind: str
    url: str
    group: str | None = Field(description="The coalesced list refresh it belongs to, if any.")


class Impact(BaseModel):
    action: Literal["publish", "unpublish"]
    article: str
    count: int
    outputs: list[ImpactOutput]


class PreviewLink(BaseModel):
    url: str = Field(description="Where the rendered draft can be read until `expires_at`.")
    expires_at: datetime


class TokenView(BaseModel):
    id: int
    name: str
    scope: Scope
    sections: list[str] | None
    hint: str
    created_at: datetime
    revoked_at: datetime | None


class NewToken(TokenView):
    token: str = Field(description="The secret, shown only this once.")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str] = Field(description="Each dependency checked, and how it answered.")
