"""Who may see the dashboard, and forms that cannot be forged from another site.

Signing in takes an API token with no section limit (`pressrun tokens create --scope
read|admin`), pasted once into the login form. The browser gets a session: a random id in an
HttpOnly, SameSite=Lax cookie scoped to /ops, while the database keeps only the id's sha256
with the token and an expiry. Signing out deletes the session, so a copy of the cookie stops
working too; revoking the token deletes its sessions, and every request checks both against
the database, so API processes behind a load balancer share no session store or secret.
Scripts send the token itself as `Authorization: Bearer …` instead.

Lax rather than Strict: a link to an event page from chat or mail opens signed in. That is
safe because nothing changes on a GET, and Lax cookies are not sent with another site's
POST. Every form that changes something (retry, sign out) carries a CSRF token as well: an
HMAC of the session cookie, which another site can neither read nor compute; and the
browser's own Sec-Fetch-Site and Origin headers are checked, when it sends them.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from fastapi import Request
from sqlalchemy import delete, select

from pipeline.api.auth import client_address
from pipeline.api.context import ApiContext
from pipeline.api.models import ApiToken, OpsSession, Scope
from pipeline.api.tokens import find_active, hash_secret
from pipeline.db import transaction
from pipeline.schema import utcnow

COOKIE = "pressrun_ops"
COOKIE_PATH = "/ops"
COOKIE_SAMESITE: Literal["lax", "strict"] = "lax"  # why: the module's docstring
CSRF_FIELD = "csrf"
CSRF_PURPOSE = b"pressrun ops csrf v1"


class OpsError(Exception):
    """Answered as an HTML page (see routes.HtmlRoute), not as problem+json."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class LoginNeeded(OpsError):
    status, title = 401, "Sign in"


class Forbidden(OpsError):
    status, title = 403, "Forbidden"


class NotFound(OpsError):
    status, title = 404, "Not found"


class Conflict(OpsError):
    status, title = 409, "Conflict"


class TooManyRequests(OpsError):
    status, title = 429, "Too many requests"


@dataclass(frozen=True)
class Operator:
    token_id: int
    name: str
    scope: Scope
    # The cookie's value (the session id) when signed in through the form; None with a
    # bearer header.
    cookie: str | None

    @property
    def can_retry(self) -> bool:
        return self.scope.includes(Scope.ADMIN)

    @property
    def csrf(self) -> str:
        if self.cookie is None:
            return ""
        return hmac.new(self.cookie.encode(), CSRF_PURPOSE, hashlib.sha256).hexdigest()


def authenticate(context: ApiContext, secret: str, *, address: str) -> Operator:
    """The operator a token names, if it is active, unrestricted and within its rate. A
    client `address` that keeps sending unknown tokens is refused for a while."""
    with transaction(context.services.sessions) as session:
        token = find_active(session, secret) if secret else None
        if token is None:
            _check_address(context, address)
            raise LoginNeeded("unknown or revoked token")
        if token.sections is not None:
            raise Forbidden(
                "this token is limited to sections; the dashboard shows the whole fleet, "
                "so it needs a token for every section"
            )
        operator = Operator(token.id, token.name, Scope(token.scope), None)
    _check_rate(context, operator)
    return operator


def sign_in(context: ApiContext, secret: str, *, address: str, seconds: int) -> str:
    """Open a session for the token `secret`, lasting `seconds`: its id, for the cookie."""
    operator = authenticate(context, secret, address=address)
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    with transaction(context.services.sessions) as session:
        session.add(
            OpsSession(
                cookie_hash=hash_secret(session_id),
                token_id=operator.token_id,
                created_at=now,
                expires_at=now + timedelta(seconds=seconds),
            )
        )
    return session_id


def resume(context: ApiContext, session_id: str, *, address: str) -> Operator:
    """The operator of the session a cookie names, while it lasts and its token is active."""
    with transaction(context.services.sessions) as session:
        token = session.scalar(
            select(ApiToken)
            .join(OpsSession, OpsSession.token_id == ApiToken.id)
            .where(
                OpsSession.cookie_hash == hash_secret(session_id),
                OpsSession.expires_at > utcnow(),
                ApiToken.revoked_at.is_(None),
            )
        )
        if token is None:
            _check_address(context, address)
            raise LoginNeeded("your session has ended: sign in again")
        operator = Operator(token.id, token.name, Scope(token.scope), session_id)
    _check_rate(context, operator)
    return operator


def sign_out(context: ApiContext, operator: Operator) -> None:
    """End the session the operator's cookie names (a bearer header has none)."""
    if operator.cookie is None:
        return
    with transaction(context.services.sessions) as session:
        session.execute(
            delete(OpsSession).where(OpsSession.cookie_hash == hash_secret(operator.cookie))
        )


def _check_rate(context: ApiContext, operator: Operator) -> None:
    wait = context.limits.take_token(operator.token_id)
    if wait > 0:
        raise TooManyRequests(f"too many requests with this token: retry in {math.ceil(wait)} s")


def _check_address(context: ApiContext, address: str) -> None:
    wait = context.limits.take_address(address)
    if wait > 0:
        raise TooManyRequests(
            f"too many requests without a valid token from here: retry in {math.ceil(wait)} s"
        )


def identify(context: ApiContext, request: Request) -> Operator:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    address = client_address(request)
    if scheme.lower() == "bearer" and credentials.strip():
        return authenticate(context, credentials.strip(), address=address)
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise LoginNeeded("sign in with an API token")
    return resume(context, cookie, address=address)


def check_same_site(request: Request) -> None:
    """A browser says where a request comes from: refuse what another site sent."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise Forbidden("this form was sent from another site")
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise Forbidden("this form was sent from another site")


def check_form(operator: Operator, request: Request, form: dict[str, str]) -> None:
    """A form that changes something: the CSRF token must match the session cookie."""
    if operator.cookie is None:
        return  # a bearer header is no ambient authority: no other site can send it
    check_same_site(request)
    sent = form.get(CSRF_FIELD, "")
    if not sent or not hmac.compare_digest(sent, operator.csrf):
        raise Forbidden("the form's CSRF token does not match your session: reload the page")
