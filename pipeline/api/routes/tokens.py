"""/v1/tokens: token management for `admin` tokens (`pressrun tokens` does the same from a
shell on the server)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from pipeline.api import tokens
from pipeline.api.auth import Admin
from pipeline.api.bodies import json_object, model_from_body
from pipeline.api.context import Context
from pipeline.api.models import ApiToken
from pipeline.api.params import ContentType, RawBody, json_body_doc
from pipeline.api.problems import ApiProblem, problem_responses
from pipeline.api.schemas import NewToken, NewTokenRequest, TokenView
from pipeline.db import transaction
from pipeline.models import MAX_ID

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])


def _view(token: ApiToken) -> TokenView:
    return TokenView.model_validate(token, from_attributes=True)


@router.get("", responses=problem_responses(401, 403, 429, 500, 503))
def list_tokens(caller: Admin, context: Context) -> list[TokenView]:
    """Every token (secrets are never shown again)."""
    with transaction(context.services.sessions) as session:
        return [_view(token) for token in tokens.list_tokens(session)]


@router.post(
    "",
    status_code=201,
    responses=problem_responses(400, 401, 403, 413, 415, 422, 429, 500, 503),
    openapi_extra=json_body_doc(NewTokenRequest),
)
def create_token(
    caller: Admin, context: Context, body: RawBody, content_type: ContentType = None
) -> NewToken:
    """A new token; its secret is in this answer only."""
    wanted = model_from_body(NewTokenRequest, json_object(body, content_type))
    with transaction(context.services.sessions) as session:
        made = tokens.create_token(
            session, name=wanted.name, scope=wanted.scope, sections=wanted.sections
        )
        return NewToken(**_view(made.token).model_dump(), token=made.secret)


@router.delete("/{token_id}", responses=problem_responses(401, 403, 404, 422, 429, 500, 503))
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=MAX_ID)], caller: Admin, context: Context
) -> TokenView:
    """Revoke a token: it stops working at once."""
    with transaction(context.services.sessions) as session:
        try:
            return _view(tokens.revoke_token(session, token_id))
        except tokens.TokenNotFound as error:
            raise ApiProblem("not-found", str(error)) from None
