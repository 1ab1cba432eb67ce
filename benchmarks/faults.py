"""The reliability issue's fault scenarios at full size, on a private production stack each
(PostgreSQL database, redis-server, moto_server, two workers, the beat), with the figures of
each: changes, faults injected, retries, time to quiet, and lost / stale / phantom /
resurrected (all must be 0). `tests/faults/` runs the same scenarios scaled down.

    .venv/bin/python -m benchmarks.faults                          # every scenario, issue sizes
    .venv/bin/python -m benchmarks.faults --scenario sigkill --changes 500
    .venv/bin/python -m benchmarks.faults --scenario s3 --scenario postgres --rate 10

Exit status 1 when any scenario finds something wrong.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.faults import scenarios
from tests.faults.harness import FaultStack, fault_stacks
from tests.realstack import MotoServer

# The sizes.
SIZES = {
    "sigkill": 500,
    "redis": 200,
    "s3": 500,
    "burst": 50,
    "order": 200,
    "poison": 200,
    "postgres": 500,
    "rolling": 500,
    "none": 500,
}


def run(name: str, make_stack: Callable[..., FaultStack], changes: int, rate: float) -> Any:
    seconds = changes / rate
    if name == "sigkill":
        return scenarios.sigkill(make_stack, changes, seconds)
    if name == "redis":
        # The outage stays 20 s, whatever the pace: the publishes go on around it.
        return scenarios.redis_outage(make_stack, changes, max(seconds, 30.0))
    if name == "s3":
        return scenarios.s3_faults(make_stack, changes, seconds)
    if name == "burst":
        return scenarios.burst_then_unpublish(make_stack, changes, 1.0)
    if name == "order":
        return scenarios.wrong_order_twice(make_stack, max(10, changes // 4), changes, seconds)
    if name == "poison":
        return scenarios.poison(make_stack, changes, seconds)
    if name == "postgres":
        return scenarios.postgres_kills(make_stack, changes, seconds)
    if name == "rolling":
        return scenarios.rolling_deploy(make_stack, changes, seconds)
    return scenarios.no_faults(make_stack, changes, seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenario", action="append", choices=[*SIZES, "all"], help="repeatable; default all"
    )
    parser.add_argument("--changes", type=int, help="changes per scenario (default: the issue's)")
    parser.add_argument("--rate", type=float, default=5.0, help="changes per second (default 5)")
    parser.add_argument("--keep", action="store_true", help="keep the worker logs' folder")
    options = parser.parse_args()
    chosen = options.scenario or ["all"]
    names = list(SIZES) if "all" in chosen else chosen
    folder = Path(tempfile.mkdtemp(prefix="pressrun-faults-"))
    moto = MotoServer()
    clean = True
    started = time.monotonic()
    try:
        for name in names:
            began = time.monotonic()
            (folder / name).mkdir()
            with fault_stacks(folder / name, moto) as make_stack:
                result = run(name, make_stack, options.changes or SIZES[name], options.rate)
                print(f"{result.line} [{time.monotonic() - began:.0f} s]", flush=True)
                if not result.findings.clean:
                    clean = False
                    print(result.findings.details(), flush=True)
    finally:
        moto.stop()
        if options.keep:
            print(f"logs in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"total {time.monotonic() - started:.0f} s: {'clean' if clean else 'FINDINGS'}")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
