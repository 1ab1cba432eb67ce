"""Bearer tokens: created with a high-entropy secret shown once, stored as its sha256,
revoked by id. Shared by the API (checking) and `pressrun tokens` (managing)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.api.models import ApiToken, Scope
from pipeline.inputs import InvalidInput, Slug
from pipeline.models import utcnow

PREFIX = "prt_"
HINT_LENGTH = len(PREFIX) + 6


class TokenNotFound(LookupError):
    def __init__(self, token_id: int) -> None:
        super().__init__(f"no token with id {token_id}")


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once; only its hash is stored


def hash_secret(secret: str) -> str:
    # A plain sha256 is enough: the secret has 256 bits of entropy, nothing to brute-force.
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def checked_sections(sections: Sequence[str] | None) -> list[str] | None:
    """Section slugs by the same rules as articles' (None or empty: every section)."""
    if not sections:
        return None
    adapter = TypeAdapter(Slug)
    checked = []
    for value in sections:
        try:
            checked.append(str(adapter.validate_python(value)))
        except ValidationError as error:
            message = error.errors()[0]["msg"].removeprefix("Value error, ")
            raise InvalidInput("sections", f"{value!r} {message}") from None
    return sorted(set(checked))


def create_token(
    session: Session, *, name: str, scope: Scope, sections: Sequence[str] | None = None
) -> NewToken:
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name.strip() or "unnamed",
        scope=scope,
        sections=checked_sections(sections),
        secret_hash=hash_secret(secret),
        hint=secret[:HINT_LENGTH],
        created_at=utcnow(),
    )
    session.add(token)
    session.flush()
    return NewToken(token, secret)


def find_active(session: Session, secret: str) -> ApiToken | None:
    token = session.scalar(select(ApiToken).where(ApiToken.secret_hash == hash_secret(secret)))
    if token is None or token.revoked_at is not None:
        return None
    return token


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(session: Session, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise TokenNotFound(token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token
