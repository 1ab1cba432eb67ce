"""What the API takes and returns, as Pydantic models (and so the OpenAPI document).

Article bodies are validated by `pipeline.inputs.parse_article`, the one set of rules every
door shares; `ArticleContent` only describes them for the documentation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from pipeline.api.models import Scope, ScheduleAction
from pipeline.inputs import ArticleInput, IsoDateTime
from pipeline.models import ArticleStatus, EventKind, EventStatus

# -- requests ---------------------------------------------------------------------------------

# The CLI's article file minus `slug` (the URL names the article) and `id`.
ArticleContent: type[BaseModel] = create_model(
    "ArticleContent",
    __config__=ConfigDict(extra="forbid"),
    __doc__="An article's content: the CLI's article JSON without `slug` (it is in the URL). "
    "Give `body` (plain text) or `body_html` (sanitised with an allow-list), not both.",
    **{
        name: (field.annotation, field)
        for name, field in ArticleInput.model_fields.items()
        if name not in ("slug", "id")
    },
)


class PublishRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    publish_at: IsoDateTime | None = Field(
        default=None,
        description="Publish at this moment (an embargo) instead of now. ISO-8601; without an "
        "offset it means UTC. Must be in the future.",
        examples=["2030-01-01T09:00:00Z"],
    )


class UnpublishRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    unpublish_at: IsoDateTime | None = Field(
        default=None,
        description="Unpublish at this moment (an expiry) instead of now. Must be in the "
        "future, and after a scheduled publish.",
    )


class WebhookPayload(BaseModel):
    """What a CMS pushes. `article` is the CLI's article JSON (for `unpublish`, `slug` or `id`
    alone is enough)."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["publish", "update", "unpublish"]
    article: dict[str, Any]


class NewTokenRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
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
    rendered: datetime | None
    live: datetime | None


class Timings(BaseModel):
    """Milliseconds after `accepted`."""

    dispatched: float | None
    started: float | None
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
    path: str | None = Field(description="The file, on the folder backend.")


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
    status: Literal["ready", "unavailable"]
    checks: dict[str, str]
