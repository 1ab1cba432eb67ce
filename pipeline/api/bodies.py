"""Request bodies: read raw (the webhook signs the exact bytes), then checked in order:
media type (415), JSON syntax (400), text every database can store (422), and the article
rules shared with the CLI (`parse_article`, 422 naming every offending field)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from pipeline.api.problems import ApiProblem, FieldError
from pipeline.content.inputs import (
    ARTICLE_FIELDS,
    ArticleInput,
    InvalidInput,
    parse_article,
    worded,
)

M = TypeVar("M", bound=BaseModel)


async def raw_body(request: Request) -> bytes:
    """A dependency: the body's bytes (already size-checked by the BodyLimit middleware)."""
    return await request.body()


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and
                                           media.endswith("+json"))  # fmt: skip


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_body(body: bytes, content_type: str | None, *, required: bool = True) -> Any:
    """The parsed body, or None when it is empty and not required."""
    if not body.strip():
        if required:
            raise ApiProblem.invalid("body", "a JSON object is required")
        return None
    if not _is_json(content_type):
        raise ApiProblem(
            "unsupported-media-type",
            f"send the body as application/json (not {content_type or 'no Content-Type'})",
        )
    try:
        text = body.decode("utf-8")
        return json.loads(text, parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise ApiProblem("malformed-json", "the body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ApiProblem(
            "malformed-json",
            f"malformed JSON at line {error.lineno} column {error.colno}: {error.msg}",
        ) from None
    except (ValueError, RecursionError) as error:
        message = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise ApiProblem("malformed-json", f"malformed JSON: {message}") from None


def json_object(body: bytes, content_type: str | None, *, required: bool = True) -> dict[str, Any]:
    data = json_body(body, content_type, required=required)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ApiProblem.invalid("body", "must be a JSON object")
    problems = list(_untextual(data, ""))
    if problems:
        raise _problem(problems)
    return data


def _untextual(value: Any, path: str) -> list[FieldError]:
    """Strings no database column can hold: NUL (PostgreSQL refuses it) and lone surrogates
    (not encodable as UTF-8). Checked everywhere, keys included, before any rule."""
    found: list[FieldError] = []
    if isinstance(value, str):
        if "\x00" in value:
            found.append(FieldError(field=path or "body", message="must not contain NUL"))
        elif not _encodable(value):
            found.append(FieldError(field=path or "body", message="must be valid Unicode"))
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if "\x00" in key or not _encodable(key):
                found.append(FieldError(field=repr(key), message="is not a usable field name"))
            else:
                found += _untextual(item, name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _untextual(item, f"{path}.{index}")
    return found


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _problem(errors: list[FieldError]) -> ApiProblem:
    detail = "; ".join(f"{error.field}: {error.message}" for error in errors)
    return ApiProblem("invalid-input", detail, errors=errors)


# -- articles ---------------------------------------------------------------------------------

URL_NAMED = {
    "slug": "give the slug in the URL, not in the body",
    "id": "not taken here: the URL's slug names the article (CMSes with their own ids use "
    "the webhook)",
}


def article_from_body(data: dict[str, Any], slug: str) -> ArticleInput:
    """The article a PUT body describes, by the CLI's rules, with every offending field."""
    named = [name for name in URL_NAMED if name in data]
    problems = [FieldError(field=name, message=URL_NAMED[name]) for name in named]
    if problems:
        raise _problem(problems)
    return parse_article_reporting_all({**data, "slug": slug})


def parse_article_reporting_all(data: dict[str, Any]) -> ArticleInput:
    """`parse_article`, whose first problem leads; the others follow, so a tool can fix them
    all at once."""
    try:
        article, _ = parse_article(data)
    except InvalidInput as first:
        errors = [FieldError(field=first.field, message=first.message)]
        for error in _all_problems(data):
            if error.field not in {known.field for known in errors}:
                errors.append(error)
        raise _problem(errors) from None
    return article


def _all_problems(data: dict[str, Any]) -> list[FieldError]:
    nulls = [name for name, value in data.items() if value is None and name in ARTICLE_FIELDS]
    errors = [FieldError(field=name, message="must not be null") for name in nulls]
    try:
        ArticleInput.model_validate({k: v for k, v in data.items() if k not in nulls})
    except ValidationError as error:
        errors += field_errors(error)
    return errors


def field_errors(error: ValidationError) -> list[FieldError]:
    """Pydantic's errors as field errors, worded as the CLI words them."""
    return [
        FieldError(field=field, message=message)
        for field, message in (worded(problem, root="body") for problem in error.errors())
    ]


def model_from_body(model: type[M], data: dict[str, Any]) -> M:
    """A small request body (publish, unpublish...), every offending field named."""
    nulls = [name for name, value in data.items() if value is None]
    if nulls:
        raise _problem([FieldError(field=name, message="must not be null") for name in nulls])
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise _problem(field_errors(error)) from None
