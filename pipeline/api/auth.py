"""Bearer tokens with scopes (read < publish < admin) and, optionally, sections: a sport desk
token can neither see nor touch a politics article (to it, one is not found, like an unknown
slug). Rate limits are per token, and per client address for requests without a valid
one."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pipeline.api.context import ApiContext, Context
from pipeline.api.models import Scope
from pipeline.api.problems import ApiProblem
from pipeline.api.tokens import find_active
from pipeline.db import transaction

bearer = HTTPBearer(
    auto_error=False,
    description="A token from `pressrun tokens create --scope read|publish|admin`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@dataclass(frozen=True)
class Caller:
    token_id: int
    name: str
    scope: Scope
    sections: tuple[str, ...] | None

    @property
    def actor(self) -> str:
        return f"api:{self.name}"

    def sees(self, section: str) -> bool:
        return self.sections is None or section in self.sections

    def check_section(self, section: str) -> None:
        """For a section the request names itself (a body's, a filter's): refusing it tells
        nothing about any article. An article the token may not see is not found instead."""
        if not self.sees(section):
            raise ApiProblem(
                "forbidden",
                f"this token is limited to the sections {', '.join(self.sections or ())}, "
                f"not {section!r}",
            )


def _unauthorized(detail: str, error: str | None = None) -> ApiProblem:
    challenge = 'Bearer realm="pressrun"' + (f', error="{error}"' if error else "")
    return ApiProblem("unauthorized", detail, headers={"WWW-Authenticate": challenge})


def rate_limited(wait: float, detail: str) -> ApiProblem:
    return ApiProblem("rate-limited", detail, headers={"Retry-After": str(math.ceil(wait))})


def client_address(request: Request) -> str:
    # Behind a proxy, uvicorn puts the address it forwarded here (from the proxies listed in
    # FORWARDED_ALLOW_IPS), so each client is counted, not the proxy.
    return request.client.host if request.client is not None else "unknown"


def refused(context: ApiContext, request: Request, problem: ApiProblem) -> ApiProblem:
    """What a request without a valid token gets: `problem`, or 429 once its address has sent
    too many such requests (valid tokens are counted per token, never per address)."""
    wait = context.limits.take_address(client_address(request))
    if wait > 0:
        per_minute = context.api_settings.anonymous_rate_per_minute
        return rate_limited(
            wait, f"more than {per_minute} requests a minute without a valid token from here"
        )
    return problem


def _find_caller(context: ApiContext, secret: str) -> Caller | None:
    with transaction(context.services.sessions) as session:
        token = find_active(session, secret)
        if token is None:
            return None
        sections = tuple(token.sections) if token.sections is not None else None
        return Caller(token.id, token.name, Scope(token.scope), sections)


def require(scope: Scope) -> Callable[[Context, Credentials, Request], Caller]:
    """A dependency: the caller, once its token is known, active, within its rate and wide
    enough for `scope`."""

    def caller(context: Context, credentials: Credentials, request: Request) -> Caller:
        if credentials is None:
            missing = _unauthorized("give a token: `Authorization: Bearer <token>`")
            raise refused(context, request, missing)
        found = _find_caller(context, credentials.credentials)
        if found is None:
            unknown = _unauthorized("unknown or revoked token", "invalid_token")
            raise refused(context, request, unknown)
        wait = context.limits.take_token(found.token_id)
        if wait > 0:
            per_minute = context.api_settings.rate_per_minute
            raise rate_limited(wait, f"more than {per_minute} requests a minute with this token")
        if not found.scope.includes(scope):
            detail = f"this needs a token with scope '{scope}' (this one has '{found.scope}')"
            raise ApiProblem("forbidden", detail)
        return found

    return caller


ReadCaller = Annotated[Caller, Depends(require(Scope.READ))]
PublishCaller = Annotated[Caller, Depends(require(Scope.PUBLISH))]
AdminCaller = Annotated[Caller, Depends(require(Scope.ADMIN))]
