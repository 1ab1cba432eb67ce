"""/v1/tokens: token management for `admin` tokens (`pressrun tokens` does the same from a
shell on the server). An admin token limited to sections manages only tokens limited to
some of its own sections (see `pipeline.api.tokens`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from pipeline.api import tokens
from pipeline.api.auth import AdminCaller
from pipeline.api.bodies import json_object, model_from_body
from pipeline.api.context import Context
from pipeline.api.models import ApiToken
from pipeline.api.params import ContentType, RawBody, json_body_doc
from pipeline.api.problems import ApiProblem, FieldError, problem_responses
from pipeline.api.schemas import NewToken, NewTokenRequest, TokenView
from pipeline.db import transaction
from pipeline.schema import MAX_ID

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])


def _view(token: ApiToken) -> TokenView:
    return TokenView.model_validate(token, from_attributes=True)


@router.get("", responses=problem_responses(401, 403, 429, 500, 503))
def list_tokens(caller: AdminCaller, context: Context) -> list[TokenView]:
    """Every token this one may manage (secrets are never shown again)."""
    with transaction(context.services.sessions) as session:
        return [_view(token) for token in tokens.list_tokens(session, caller.sections)]


@router.post(
    "",
    status_code=201,
    responses=problem_responses(400, 401, 403, 413, 415, 422, 429, 500, 503),
    openapi_extra=json_body_doc(NewTokenRequest),
)
def create_token(
    caller: AdminCaller, context: Context, body: RawBody, content_type: ContentType = None
) -> NewToken:
    """A new token; its secret is in this answer only. A token limited to sections creates
    tokens limited to some of them (its own when `sections` is left out)."""
    wanted = model_from_body(NewTokenRequest, json_object(body, content_type))
    with transaction(context.services.sessions) as session:
        try:
            made = tokens.create_token(
                session,
                name=wanted.name,
                scope=wanted.scope,
                sections=wanted.sections,
                within=caller.sections,
            )
        except tokens.OutsideSections as error:
            raise ApiProblem(
                "forbidden", str(error), errors=[FieldError(field="sections", message=str(error))]
            ) from None
        return NewToken(**_view(made.token).model_dump(), token=made.secret)


@router.delete("/{token_id}", responses=problem_responses(401, 403, 404, 422, 429, 500, 503))
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=MAX_ID)], caller: AdminCaller, context: Context
) -> TokenView:
    """Revoke a token: it stops working at once. A token this one may not manage is not
    found, as an unknown id is."""
    with transaction(context.services.sessions) as session:
        try:
            return _view(tokens.revoke_token(session, token_id, caller.sections))
        except tokens.TokenNotFound as error:
            raise ApiProblem("not-found", str(error)) from None
