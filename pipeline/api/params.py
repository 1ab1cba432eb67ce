"""Parameters shared by routes: slugs by the articles' own rules, idempotency keys, the list
cursor, and the body as the OpenAPI document describes it."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request
from pydantic import BaseModel, TypeAdapter, ValidationError

from pipeline.api.bodies import raw_body
from pipeline.api.idempotency import HEADER, RequestFacts
from pipeline.api.problems import ApiProblem
from pipeline.api.schemas import SLUG_SCHEMA
from pipeline.content.inputs import Slug, in_supported_range
from pipeline.content.sanitize import MAX_SLUG_LENGTH
from pipeline.schema import MAX_ID

_SLUG = TypeAdapter(Slug)


def checked_slug(value: str, field: str = "slug") -> str:
    """A slug, section or tag by the same rules as the article body's (trimmed, lower-cased;
    `../x`, `%2e%2e%2f`, NUL, U+202E... refused with 422 naming the field)."""
    try:
        return str(_SLUG.validate_python(value))
    except ValidationError as error:
        message = str(error.errors()[0]["msg"]).removeprefix("Value error, ")
        raise ApiProblem.invalid(field, message) from None


def _slug_from_path(
    slug: Annotated[
        str,
        Path(
            description="The article's slug: lower-case letters, digits and single hyphens.",
            examples=["allies-resume-talks"],
            # Documented, not enforced here: checked_slug gives the rule's own message.
            json_schema_extra={"pattern": SLUG_SCHEMA["pattern"], "maxLength": MAX_SLUG_LENGTH},
        ),
    ],
) -> str:
    return checked_slug(slug)


# The routes capture the rest of the path (`{slug:path}`), so that `a/../../b` or an encoded
# slash reaches this check and is answered 422 naming `slug`, not a bare 404.
ArticleSlug = Annotated[str, Depends(_slug_from_path)]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Makes a retry safe: the same key with the same request gets the stored "
        "answer and no second event; with another request, 409. Keys are per token and kept "
        "24 hours.",
    ),
]
RawBody = Annotated[bytes, Depends(raw_body)]
# Read by the body checks (415 unless JSON), not by FastAPI: hidden from the documentation.
ContentType = Annotated[str | None, Header(alias="Content-Type", include_in_schema=False)]


def request_facts(request: Request, body: RawBody) -> RequestFacts:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RequestFacts(request.method, target, body)


Facts = Annotated[RequestFacts, Depends(request_facts)]


def json_body_doc(
    schema: dict[str, Any] | type[BaseModel], *, required: bool = True
) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its body raw (to check it by the domain's rules,
    or its signature) but documents its shape."""
    if not isinstance(schema, dict):
        schema = body_schema(schema)
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": schema}},
        }
    }


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema as the body checks read it: self-contained (its `$defs` inlined,
    since the document has no `$defs`), and without `null` alternatives (an explicit null is
    refused: leave the field out)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})
    tidied = _tidy(schema, definitions)
    assert isinstance(tidied, dict)
    return tidied


def _tidy(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_tidy(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _tidy(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
    node = {key: _tidy(value, definitions) for key, value in node.items()}
    choices = [choice for choice in node.get("anyOf", []) if choice != {"type": "null"}]
    if "anyOf" in node and len(choices) == 1:
        del node["anyOf"]
        node = {**choices[0], **node}
        if node.get("default", ...) is None:
            del node["default"]
    return node


# -- the list cursor --------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: keyset pagination on (published_at, id), newest first."""

    published_at: datetime
    article_id: int

    def encode(self) -> str:
        raw = json.dumps([self.published_at.isoformat(), self.article_id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            moment, article_id = json.loads(raw)
            parsed = datetime.fromisoformat(moment)
            # Only what encode() writes: an aware moment in the supported range, and an id
            # the database can compare (a bool is an int to Python, not to PostgreSQL).
            if parsed.tzinfo is None or type(article_id) is not int:
                raise ValueError("incomplete")
            if not 1 <= article_id <= MAX_ID:
                raise ValueError("no such id")
            parsed = in_supported_range(parsed)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise ApiProblem.invalid("cursor", "is not a cursor this API gave out") from None
        return cls(parsed, article_id)
