"""Who may see the dashboard, and forms that cannot be forged from another site.

A login is an API token (`pressrun tokens create --scope read|admin`) pasted once into the
login form. It is kept in an HttpOnly, SameSite=Strict cookie scoped to /ops and checked
against the database on every request, so revoking the token ends the session at once, and
API processes behind a load balancer need no shared session store or secret. Scripts may
send the token as `Authorization: Bearer …` instead.

Every form that changes something (retry, sign out) carries a CSRF token: an HMAC of the
session cookie, which another site can neither read nor compute. The browser's own
Sec-Fetch-Site and Origin headers are checked as well, when it sends them.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request

from pipeline.api.auth import client_address
from pipeline.api.context import ApiContext
from pipeline.api.models import Scope
from pipeline.api.tokens import find_active
from pipeline.db import transaction

COOKIE = "pressrun_ops"
COOKIE_PATH = "/ops"
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
    # The cookie's value when signed in through the form; None with a bearer header.
    cookie: str | None

    @property
    def can_retry(self) -> bool:
        return self.scope.includes(Scope.ADMIN)

    @property
    def csrf(self) -> str:
        if self.cookie is None:
            return ""
        return hmac.new(self.cookie.encode(), CSRF_PURPOSE, hashlib.sha256).hexdigest()


def authenticate(context: ApiContext, secret: str, *, cookie: bool, address: str) -> Operator:
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
        operator = Operator(token.id, token.name, Scope(token.scope), secret if cookie else None)
    wait = context.limits.take_token(operator.token_id)
    if wait > 0:
        raise TooManyRequests(f"too many requests with this token: retry in {math.ceil(wait)} s")
    return operator


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
        return authenticate(context, credentials.strip(), cookie=False, address=address)
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise LoginNeeded("sign in with an API token")
    return authenticate(context, cookie, cookie=True, address=address)


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
