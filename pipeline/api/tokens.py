"""Bearer tokens: created with a high-entropy secret shown once, stored as its sha256,
revoked by id. Shared by the API (checking) and `pressrun tokens` (managing).

Managing takes `within`: the sections of the token that manages (None: every section, as
for `pressrun tokens` on the server). A token limited to sections creates, lists and revokes
only tokens limited to some of its own sections, so it can never hand out more than it has.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pipeline.api.models import ApiToken, OpsSession, Scope
from pipeline.content.inputs import InvalidInput, Slug
from pipeline.schema import utcnow

PREFIX = "prt_"
HINT_LENGTH = len(PREFIX) + 6


class TokenNotFound(LookupError):
    def __init__(self, token_id: int) -> None:
        super().__init__(f"no token with id {token_id}")


class OutsideSections(PermissionError):
    def __init__(self, within: Collection[str]) -> None:
        super().__init__(
            f"this token is limited to the sections {', '.join(sorted(within))}; "
            "it may only create tokens limited to some of them"
        )


@dataclass(frozen=True)
class IssuedToken:
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


def covers(within: Collection[str] | None, sections: Collection[str] | None) -> bool:
    """Whether a manager limited to `within` may manage a token limited to `sections`: an
    unlimited one (None) manages every token, a limited one only tokens limited to some of
    its own sections (never an unlimited token)."""
    if within is None:
        return True
    return sections is not None and set(sections) <= set(within)


def granted_sections(
    sections: Sequence[str] | None, within: Collection[str] | None
) -> list[str] | None:
    """The sections a new token gets: those asked for, checked; a limited manager that asks
    for none gives its own, and one that asks for more than it has is refused."""
    if within is not None and sections is None:
        sections = sorted(within)
    checked = checked_sections(sections)
    if not covers(within, checked):
        assert within is not None
        raise OutsideSections(within)
    return checked


def create_token(
    session: Session,
    *,
    name: str,
    scope: Scope,
    sections: Sequence[str] | None = None,
    within: Collection[str] | None = None,
) -> IssuedToken:
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name.strip() or "unnamed",
        scope=scope,
        sections=granted_sections(sections, within),
        secret_hash=hash_secret(secret),
        hint=secret[:HINT_LENGTH],
        created_at=utcnow(),
    )
    session.add(token)
    session.flush()
    return IssuedToken(token, secret)


def find_active(session: Session, secret: str) -> ApiToken | None:
    token = session.scalar(select(ApiToken).where(ApiToken.secret_hash == hash_secret(secret)))
    if token is None or token.revoked_at is not None:
        return None
    return token


def list_tokens(session: Session, within: Collection[str] | None = None) -> list[ApiToken]:
    # Filtered here, not in SQL: `sections` is a JSON list, and there are few tokens.
    every = session.scalars(select(ApiToken).order_by(ApiToken.id))
    return [token for token in every if covers(within, token.sections)]


def revoke_token(
    session: Session, token_id: int, within: Collection[str] | None = None
) -> ApiToken:
    """Revoke a token; one the manager may not see is not found, exactly like an unknown id."""
    token = session.get(ApiToken, token_id)
    if token is None or not covers(within, token.sections):
        raise TokenNotFound(token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    # Its dashboard sessions end with it (they are refused anyway once it is revoked).
    session.execute(delete(OpsSession).where(OpsSession.token_id == token.id))
    return token
