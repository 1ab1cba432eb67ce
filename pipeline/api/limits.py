"""Limits that protect the API: request body size (ASGI middleware) and request rates per
token and per client address (shared through Redis when the broker is Redis)."""

from __future__ import annotations

import logging
import time

import redis
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.api.problems import ApiProblem

log = logging.getLogger("pressrun.api")
REDIS_TIMEOUT_SECONDS = 1.0
# After Redis failed, this process counts on its own this long before asking Redis again.
SHARED_RETRY_SECONDS = 5.0
# A refused request always waits a little (Retry-After is rounded up to whole seconds).
MIN_WAIT_SECONDS = 0.001


class BodyLimit:
    """A request body over `max_bytes` gets 413 before anything parses it: the declared
    Content-Length is checked first, and a chunked body is counted as it arrives. A body
    within the limit is buffered and handed on byte for byte, so the webhook's signature is
    checked against exactly what was sent."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = ApiProblem(
            "body-too-large",
            f"the request body is larger than {self.max_bytes} bytes",
            # The rest of the body is never read: the connection cannot be reused.
            headers={"Connection": "close"},
        )
        await problem.response()(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later: http.disconnect, for long polls

    return replay


class RateLimits:
    """Requests a minute per API token and, for requests that bring no valid token, per client
    address: a moving window, at most N requests in any 60 seconds, bursts included.

    With `redis_url` the counts live in Redis, so every API process spends from the same
    ones; without it (no broker, or not Redis) they live in this process. When Redis cannot
    be reached the process counts on its own for a few seconds, then asks Redis again: a
    broker outage neither stops the API nor lifts its limits."""

    def __init__(
        self,
        per_token: int,
        per_address: int,
        redis_url: str | None = None,
        key_prefix: str = "pressrun-rate",
    ) -> None:
        self.per_token = RateLimitItemPerMinute(per_token)
        self.per_address = RateLimitItemPerMinute(per_address)
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared = _redis_limiter(redis_url, key_prefix) if redis_url else None
        self._shared_down_until = 0.0

    def take_token(self, token_id: int) -> float:
        """Spend one request of a token; 0 when allowed, else the seconds until one is."""
        return self._take(self.per_token, "token", str(token_id))

    def take_address(self, address: str) -> float:
        """Spend one request without a valid token from `address`; as `take_token`."""
        return self._take(self.per_address, "address", address)

    def _take(self, limit: RateLimitItem, *key: str) -> float:
        limiter = self._limiter()
        try:
            if limiter.hit(limit, *key):
                return 0.0
            reset_at = limiter.get_window_stats(limit, *key).reset_time
        except StorageError as error:
            log.warning("rate limits counted in this process for now: Redis: %s", error)
            self._shared_down_until = time.monotonic() + SHARED_RETRY_SECONDS
            return self._take(limit, *key)
        return max(reset_at - time.time(), MIN_WAIT_SECONDS)

    def _limiter(self) -> MovingWindowRateLimiter:
        if self._shared is not None and time.monotonic() >= self._shared_down_until:
            return self._shared
        return self._local


def _redis_limiter(url: str, key_prefix: str) -> MovingWindowRateLimiter:
    # One quick try per request: redis-py's default retries back off for seconds, which a
    # request must never wait for (the local count takes over instead).
    pool = redis.ConnectionPool.from_url(
        url,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
    )
    storage = RedisStorage(url, connection_pool=pool, key_prefix=key_prefix, wrap_exceptions=True)
    return MovingWindowRateLimiter(storage)


def redis_url_of(broker_url: str | None) -> str | None:
    """The broker's URL when it is Redis (the rate limits share it), else None."""
    if broker_url and broker_url.startswith(("redis://", "rediss://")):
        return broker_url
    return None
