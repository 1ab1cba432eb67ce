"""Validation of article input from every door (CLI, import, API): one model, one set of rules.

Given slugs, sections and tags are checked, never rewritten: `../x` is an error, not `x`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from pipeline.content.markup import check_markup
from pipeline.content.sanitize import MAX_SLUG_LENGTH, SECURE_SCHEMES, SLUG_PATTERN, is_safe_url

# Path segments the site itself uses: a section (or tag, or slug) with one of these names
# would collide with the site's own pages.
RESERVED_NAMES = frozenset({"api", "tags", "feeds", "sitemaps", "fragments", "page", "static"})


class InvalidInput(ValueError):
    """Input that pressrun refuses, with the offending field named."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _slug_rule(value: str) -> str:
    normalised = value.strip().lower()
    if not normalised:
        raise ValueError("must not be empty")
    if len(normalised) > MAX_SLUG_LENGTH:
        raise ValueError(f"must be at most {MAX_SLUG_LENGTH} characters")
    if not SLUG_PATTERN.fullmatch(normalised):
        raise ValueError(
            "must be lower-case letters, digits and single hyphens (^[a-z0-9]+(-[a-z0-9]+)*$)"
        )
    if normalised in RESERVED_NAMES:
        raise ValueError(f"{normalised!r} is reserved for the site's own pages")
    return normalised


def _text_rule(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be empty")
    if "\x00" in stripped:
        raise ValueError("must not contain NUL characters")
    return stripped


def _iso_datetime_rule(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("must be an ISO-8601 date-time such as 2024-11-26T09:30:00Z") from None
    return in_supported_range(parsed)


# The moments pressrun takes, in UTC. Four-digit years keep article URLs (/2024/11/26/) and
# sitemap months (2024-11) well-formed, and a year's margin below datetime.max keeps
# arithmetic on dates (schedules, recency, expiry) from overflowing.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
SUPPORTED_RANGE = "from 1900-01-01T00:00:00Z to 9998-12-31T23:59:59Z"


def in_supported_range(moment: datetime) -> datetime:
    """The moment in UTC, if it is in the supported range (ValueError otherwise)."""
    try:
        # Without an offset a time means UTC: newsroom tools in many zones agree on one clock.
        utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 is before datetime.min in UTC
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise ValueError(f"must be {SUPPORTED_RANGE}")
    return utc


Slug = Annotated[str, AfterValidator(_slug_rule)]
Text = Annotated[str, AfterValidator(_text_rule)]
IsoDateTime = Annotated[str, AfterValidator(_iso_datetime_rule)]
# Refused before the sanitiser parses it: see pipeline.content.markup for the limits and why.
BodyHtml = Annotated[Text, AfterValidator(check_markup)]


class ImageInput(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    url: Annotated[Text, Field(max_length=2000)]
    alt: str = Field(max_length=500)

    @model_validator(mode="after")
    def _safe_url(self) -> ImageInput:
        # Shown on every page that shows the article: a relative path would differ per page.
        if not is_safe_url(self.url, SECURE_SCHEMES, relative=False):
            raise ValueError(
                "image url must be https or a root-relative path (not http:, //host, /\\host)"
            )
        return self


class ArticleInput(BaseModel):
    """An article as an editorial tool sends it."""

    model_config = ConfigDict(strict=True, extra="forbid")

    id: Annotated[Text, Field(max_length=200)] | None = None
    slug: Slug | None = None
    title: Annotated[Text, Field(max_length=500)]
    standfirst: Annotated[str, Field(max_length=2000)] = ""
    body_html: BodyHtml | None = None
    body: Text | None = None
    section: Slug
    tags: Annotated[list[Slug], Field(max_length=50)] = []
    authors: Annotated[list[Annotated[Text, Field(max_length=200)]], Field(max_length=20)] = []
    image: ImageInput | None = None
    published_at: IsoDateTime | None = None

    @model_validator(mode="after")
    def _one_body(self) -> ArticleInput:
        if self.body is None and self.body_html is None:
            raise ValueError("body: give `body` (plain text) or `body_html`")
        if self.body is not None and self.body_html is not None:
            raise ValueError("body: give `body` or `body_html`, not both")
        return self

    @property
    def published_datetime(self) -> datetime | None:
        return self.published_at  # type: ignore[return-value]  # converted by its validator


ARTICLE_FIELDS = frozenset(ArticleInput.model_fields)


def parse_article(data: Any, *, ignore_unknown: bool = False) -> tuple[ArticleInput, list[str]]:
    """Validate one article; returns it with the unknown fields that were ignored (if allowed)."""
    if not isinstance(data, dict):
        raise InvalidInput("article", "must be a JSON object")
    for name, value in data.items():
        if value is None and name in ARTICLE_FIELDS:
            # An explicit null is a wrong type, not "not given": leave the field out instead.
            raise InvalidInput(name, "must not be null (leave the field out instead)")
    unknown = sorted(set(data) - ARTICLE_FIELDS)
    if unknown and ignore_unknown:
        data = {key: value for key, value in data.items() if key in ARTICLE_FIELDS}
    try:
        return ArticleInput.model_validate(data), unknown
    except ValidationError as error:
        raise _first_problem(error) from None


def _first_problem(error: ValidationError) -> InvalidInput:
    return InvalidInput(*worded(error.errors()[0], root="article"))


def worded(problem: ErrorDetails, *, root: str) -> tuple[str, str]:
    """One of pydantic's errors as (field, message), worded for people; `root` names the
    whole object (a model-level rule names its field as "field: message")."""
    field = ".".join(str(part) for part in problem["loc"]) or root
    message = str(problem["msg"]).removeprefix("Value error, ")
    if problem["type"] == "extra_forbidden":
        message = "unknown field"
    elif problem["type"] == "missing":
        message = "is required"
    if ": " in message and field == root:
        field, message = message.split(": ", 1)
    return field, message
