"""benchmarks/scale.py's report: one table puts pressrun's whole build beside Hugo's, and the
peak memory of every process is read from the kernel's own high-water mark."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
from rich.console import Console

from benchmarks.scale import (
    BUILD_COLUMNS,
    CEILING_COLUMNS,
    PeakMemory,
    Row,
    build_table,
    high_water_mb,
)


def rendered(rows: list[Row], hugos: dict[int, dict[str, float] | None]) -> str:
    console = Console(width=400, record=True)
    console.print(build_table(rows, hugos))
    return console.export_text()


def real_row() -> Row:
    return Row(
        size=10_000,
        setup="real stack (folder)",
        import_s=58.0,
        rebuild_s=203.0,
        phase_s=[30.0, 6.0, 151.0, 16.0],
        render_s=16.0,
        written=11_712,
        rss_mb={
            "import": 412.0,
            "worker 1": 95.0,
            "worker 1 pool": 310.0,
            "worker 2": 96.0,
            "worker 2 pool": 305.0,
            "beat": 81.0,
        },
        during_ms={"index": 1200.0, "rails": 8400.0, "render": 2500.0},
        force_s=31.0,
        force_phase_s=[3.0, 0.0, 1.0, 27.0],
    )


def test_the_table_has_every_column_of_the_comparison() -> None:
    text = rendered([real_row()], {10_000: {"build_s": 14.9, "peak_mb": 631.0}})
    header = text.splitlines()[1:4]
    for column in BUILD_COLUMNS:
        # rich wraps a header over lines when its column is narrow: its first word is there.
        assert any(column.split()[0] in line for line in header), column
    assert not any(column in text for column in CEILING_COLUMNS)


def test_a_real_stack_row_shows_phases_rates_the_ratio_to_hugo_and_memory() -> None:
    text = rendered([real_row()], {10_000: {"build_s": 14.9, "peak_mb": 631.0}})
    cells = [cell.strip() for cell in text.splitlines()[-2].split("│")[1:-1]]
    assert cells == [
        "10,000",
        "real stack (folder)",
        "58.0",
        "30.0 / 6.0 / 151.0 / 16.0",
        "732",  # 11,712 objects over the 16 s render phase
        "261.0",  # import + index + weigh + rails + render
        "14.9",
        "17.5",
        "31.0 (3.0 / 0.0 / 1.0 / 27.0)",
        "1.2 / - / 8.4 / 2.5",  # no publish was made in the short weigh phase
        "412",
        "95 / 310, 96 / 305",
        "81",
        "631",
    ]


def test_a_size_without_hugo_or_a_build_shows_dashes_and_s3_adds_the_ceiling() -> None:
    unbuilt = Row(size=100_000, setup="real stack (s3)", index_only=True, index_s=311.0)
    unbuilt.put_ceiling = 900.0
    text = rendered([unbuilt], {100_000: None})
    cells = [cell.strip() for cell in text.splitlines()[-2].split("│")[1:-1]]
    assert cells[:6] == ["100,000", "real stack (s3), index only", "0.0", "index 311.0", "-", "-"]
    assert cells[6:8] == ["-", "-"]
    assert cells[-2:] == ["900", "0%"]


def test_peak_memory_is_the_high_water_mark_of_a_process_and_its_children() -> None:
    # A parent that starts a child, which grows to about 64 MiB and then frees it: the peak
    # stays in VmHWM, under "<name> pool" for the child.
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import time; b = bytearray(64 * 2**20); del b; time.sleep(30)'])\n"
        "time.sleep(30)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        with PeakMemory(interval=0.05) as memory:
            memory.watch("worker 1", parent.pid)
            deadline = time.monotonic() + 20
            while memory.peaks.get("worker 1 pool", 0) < 64 and time.monotonic() < deadline:
                time.sleep(0.05)
        assert memory.peaks["worker 1 pool"] >= 64
        assert memory.peaks["worker 1"] < 64
        assert high_water_mb(parent.pid) == memory.peaks["worker 1"]
    finally:
        for child in psutil.Process(parent.pid).children(recursive=True):
            child.kill()
        parent.kill()
        parent.wait()
