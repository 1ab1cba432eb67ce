"""Errors as RFC 9457 problem details (`application/problem+json`): every error the API
returns is a `Problem`, with `errors` naming the offending fields, and every route declares
the ones it can return in the OpenAPI document."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from pipeline.content.articles import ArticleNotFound
from pipeline.content.inputs import InvalidInput
from pipeline.content.schedule import ScheduleConflict

log = logging.getLogger("pressrun.api")
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "/problems/"


class FieldError(BaseModel):
    field: str = Field(description="The offending field: `title`, `tags.0`, `slug`, `limit`…")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="A URI reference naming the kind of problem.")
    title: str
    status: int
    detail: str
    errors: list[FieldError] = Field(default_factory=list)


# kind -> (status, title, when it happens): the catalogue shown in the OpenAPI document.
KINDS: dict[str, tuple[int, str]] = {
    "malformed-json": (400, "Malformed JSON"),
    "unauthorized": (401, "Unauthorized"),
    "webhook-signature": (401, "Bad webhook signature"),
    "forbidden": (403, "Forbidden"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "conflict": (409, "Conflict"),
    "idempotency-key-reused": (409, "Idempotency key reused"),
    "webhook-replayed": (409, "Webhook replayed"),
    "body-too-large": (413, "Request body too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "invalid-input": (422, "Invalid input"),
    "rate-limited": (429, "Too many requests"),
    "internal": (500, "Internal error"),
    "unavailable": (503, "Service unavailable"),
}
DESCRIPTIONS = {
    400: "The body is not well-formed JSON (or not UTF-8).",
    401: "No token, an unknown or revoked token (or, on the webhook, a bad signature or a "
    "timestamp outside the 5-minute window).",
    403: "The token's scope does not cover this, or the request names a section its "
    "sections do not cover.",
    404: "No such article, event, schedule or route (an article or event in a section the "
    "token does not cover is not found either).",
    405: "The route does not take this method.",
    409: "A conflict: an idempotency key reused with another request, a replayed webhook, "
    "or a schedule that contradicts the article's state.",
    413: "The body is larger than PRESSRUN_API_MAX_BODY_BYTES (1 MB by default).",
    415: "The body is not `application/json`.",
    422: "A field is missing, empty, of the wrong type, unknown, or breaks a rule; `errors` "
    "names each one.",
    429: "The token made too many requests; retry after `Retry-After` seconds.",
    500: "A bug: the change was not made.",
    503: "The database (or, on /readyz, the broker or storage) is unreachable; retry later.",
}


class ApiProblem(Exception):
    def __init__(
        self,
        kind: str,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.status, self.title = KINDS[kind]
        self.detail = detail
        self.errors = errors or []
        self.headers = dict(headers or {})

    @classmethod
    def invalid(cls, field: str, message: str) -> ApiProblem:
        return cls("invalid-input", f"{field}: {message}", errors=[FieldError(field=field,
                   message=message)])  # fmt: skip

    def response(self) -> JSONResponse:
        body = Problem(
            type=TYPE_BASE + self.kind,
            title=self.title,
            status=self.status,
            detail=self.detail,
            errors=self.errors,
        )
        return JSONResponse(
            body.model_dump(),
            status_code=self.status,
            media_type=MEDIA_TYPE,
            headers=self.headers,
        )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route: each error status it can return, as problem+json."""
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        status: {"description": DESCRIPTIONS[status], "content": {MEDIA_TYPE: {"schema": schema}}}
        for status in sorted(statuses)
    }


# -- handlers: every exception that leaves a route becomes a problem ---------------------------

HTTP_KINDS = {401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed"}


def _field_of(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in ("path", "query", "header", "body"):
        if parts[0] == "header" and len(parts) > 1:
            return "-".join(word.capitalize() for word in parts[1].split("-"))
        parts = parts[1:]
    return ".".join(parts) or "request"


def _validation_errors(error: RequestValidationError) -> list[FieldError]:
    return [
        FieldError(
            field=_field_of(item.get("loc", ())),
            message=str(item.get("msg", "is invalid")).removeprefix("Value error, "),
        )
        for item in error.errors()
    ]


async def _on_api_problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiProblem)
    return error.response()


async def _on_validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = _validation_errors(error)
    detail = "; ".join(f"{item.field}: {item.message}" for item in errors)
    return ApiProblem("invalid-input", detail, errors=errors).response()


async def _on_invalid_input(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, InvalidInput)
    return ApiProblem.invalid(error.field, error.message).response()


async def _on_not_found(request: Request, error: Exception) -> JSONResponse:
    return ApiProblem("not-found", str(error)).response()


async def _on_conflict(request: Request, error: Exception) -> JSONResponse:
    return ApiProblem("conflict", str(error)).response()


async def _on_http(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    kind = HTTP_KINDS.get(error.status_code, "not-found")
    detail = error.detail if isinstance(error.detail, str) else str(error.detail)
    if error.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}"
    return ApiProblem(kind, detail, headers=error.headers).response()


async def _on_database_down(request: Request, error: Exception) -> JSONResponse:
    log.warning("database unreachable: %s", error)
    detail = "the database is unreachable; retry later"
    return ApiProblem("unavailable", detail, headers={"Retry-After": "5"}).response()


async def _on_anything(request: Request, error: Exception) -> JSONResponse:
    # The server logs the traceback (Starlette re-raises after this answer).
    log.error("unhandled %s on %s %s", type(error).__name__, request.method, request.url.path)
    return ApiProblem("internal", "an internal error (logged on the server)").response()


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiProblem, _on_api_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(InvalidInput, _on_invalid_input)
    app.add_exception_handler(ArticleNotFound, _on_not_found)
    app.add_exception_handler(ScheduleConflict, _on_conflict)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(OperationalError, _on_database_down)
    app.add_exception_handler(Exception, _on_anything)
