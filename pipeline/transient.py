"""Which errors a retry can cure: shared by events, list refreshes and the workers."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError

from pipeline.storage import TransientStorageError


def is_transient(error: BaseException) -> bool:
    """Errors a retry can cure: the store or the database was briefly unreachable."""
    if isinstance(error, TransientStorageError | OSError):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    # OperationalError covers syntax errors too: only a lost or busy connection is transient.
    message = str(error.orig).lower()
    return isinstance(error, OperationalError) and any(
        marker in message for marker in TRANSIENT_DATABASE_ERRORS
    )


TRANSIENT_DATABASE_ERRORS = (
    "server closed the connection",
    "terminating connection",
    "connection refused",
    "could not connect",
    "connection reset",
    "database is locked",
    "deadlock detected",
    "could not serialize access",
    "the database system is",
)
