"""Which errors a retry can cure: shared by events, list refreshes and the workers."""

from __future__ import annotations

import errno

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from pipeline.storage import TransientStorageError


def is_transient(error: BaseException) -> bool:
    """Errors a retry can cure: the store or the database was briefly unreachable."""
    if isinstance(error, OSError):
        # Connections reset or refused, timeouts (no errno at all) may pass; a full disk or a
        # refused permission stays until somebody acts, so the task fails with it at once.
        return error.errno not in PERMANENT_OS_ERRORS
    if isinstance(error, TransientStorageError):
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


def is_unique_violation(error: IntegrityError) -> bool:
    """A unique constraint broken by a row another transaction committed first: the race a
    retry settles. NOT NULL, foreign key and CHECK failures are bugs a retry repeats."""
    sqlstate = getattr(error.orig, "sqlstate", None)  # psycopg
    if sqlstate is not None:
        return bool(sqlstate == UNIQUE_VIOLATION)
    message = str(error.orig)  # sqlite3 names the constraint in its message
    return message.startswith(("UNIQUE constraint failed", "PRIMARY KEY must be unique"))


UNIQUE_VIOLATION = "23505"
PERMANENT_OS_ERRORS = frozenset(
    {
        errno.ENOSPC,  # no space left on the device
        errno.EDQUOT,  # disk quota exceeded
        errno.EFBIG,  # file too large
        errno.EACCES,  # permission denied
        errno.EPERM,  # operation not permitted
        errno.EROFS,  # read-only file system
        errno.ENAMETOOLONG,
        errno.ENOTDIR,  # a file where a folder should be
        errno.EISDIR,  # a folder where a file should be
    }
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
