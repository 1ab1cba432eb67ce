"""Webhook signatures: HMAC-SHA256 over `{timestamp}.{raw body}` with a shared secret, sent
as `X-Pressrun-Timestamp: <unix seconds>` and `X-Pressrun-Signature: sha256=<hex>`."""

from __future__ import annotations

import hashlib
import hmac
import re

TIMESTAMP_HEADER = "X-Pressrun-Timestamp"
SIGNATURE_HEADER = "X-Pressrun-Signature"
_SIGNATURE = re.compile(r"sha256=([0-9a-f]{64})")


class BadSignature(ValueError):
    """Missing, malformed or wrong: the delivery is refused (401)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value a sender computes (and the receiver recomputes)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    now: float,
    window_seconds: int,
) -> tuple[int, str]:
    """The delivery's timestamp and signature digest, once both are good."""
    if not timestamp or not signature:
        raise BadSignature(f"send both {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}")
    if not re.fullmatch(r"[0-9]{1,12}", timestamp):
        raise BadSignature(f"{TIMESTAMP_HEADER} must be Unix seconds")
    match = _SIGNATURE.fullmatch(signature.strip().lower())
    if match is None:
        raise BadSignature(f"{SIGNATURE_HEADER} must be sha256=<64 hex digits>")
    expected = sign(secret, int(timestamp), body).removeprefix("sha256=")
    # Compared in constant time, before anything else is said about the delivery.
    if not hmac.compare_digest(expected, match[1]):
        raise BadSignature("the signature does not match the body")
    if abs(now - int(timestamp)) > window_seconds:
        raise BadSignature(
            f"{TIMESTAMP_HEADER} is more than {window_seconds // 60} minutes from now"
        )
    return int(timestamp), match[1]
