"""/healthz (the process answers) and /readyz (the database, broker and storage answer too).
Neither needs a token: load balancers and orchestrators call them."""

from __future__ import annotations

import asyncio
import re

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text

from pipeline.api.context import ApiContext, Context
from pipeline.api.problems import ApiProblem, FieldError, problem_responses
from pipeline.api.schemas import Health, Readiness

router = APIRouter(tags=["health"])
CHECK_TIMEOUT = 5.0
CREDENTIALS = re.compile(r"(://)[^/@\s]+@")


@router.get("/healthz", responses=problem_responses(500))
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", responses=problem_responses(500, 503))
async def readyz(context: Context) -> Readiness:
    """The database, the broker and the storage are reachable (503 naming any that is not)."""
    names = ("database", "broker", "storage")
    results = await asyncio.gather(*(_check(context, name) for name in names))
    checks = dict(zip(names, results, strict=True))
    failing = [FieldError(field=name, message=answer) for name, answer in checks.items()
               if not answer.startswith("ok")]  # fmt: skip
    if failing:
        detail = "; ".join(f"{error.field}: {error.message}" for error in failing)
        raise ApiProblem("unavailable", detail, errors=failing, headers={"Retry-After": "5"})
    return Readiness(status="ready", checks=checks)


async def _check(context: ApiContext, name: str) -> str:
    probe = {"database": _database, "broker": _broker, "storage": _storage}[name]
    try:
        return await asyncio.wait_for(run_in_threadpool(probe, context), CHECK_TIMEOUT)
    except TimeoutError:
        return f"no answer in {CHECK_TIMEOUT:.0f} s"
    except Exception as error:  # any failure is the answer, not a crash of the probe
        # Unauthenticated: keep credentials that an error message quotes out of the answer.
        message = CREDENTIALS.sub(r"\1***@", str(error).splitlines()[0] if str(error) else "")
        return f"{type(error).__name__}: {message}"[:300]


def _database(context: ApiContext) -> str:
    with context.services.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return "ok"


def _broker(context: ApiContext) -> str:
    if context.broker_check is None:
        return "ok (none: tasks run in the API process)"
    context.broker_check()
    return "ok"


def _storage(context: ApiContext) -> str:
    context.services.storage.check()
    return f"ok ({context.services.storage.describe()})"
