"""The tools ops already run: the Prometheus scrape config, the Grafana dashboard and its
provisioning, and their compose services, checked without Docker: every metric a panel
asks for is one /metrics serves."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.conftest import broker_answer, with_broker

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = json.loads((ROOT / "deploy/grafana/pressrun-dashboard.json").read_text())
PROMETHEUS = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


def served_names(app: FastAPI) -> set[str]:
    """Every series name /metrics serves (families with no samples yet included)."""
    with TestClient(app) as client:
        text = client.get("/metrics").text
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def expressions() -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in DASHBOARD["panels"]
            for target in panel["targets"]]  # fmt: skip


def test_every_panel_asks_for_a_served_metric(brokered: FastAPI) -> None:
    with_broker(brokered, broker_answer())
    served = served_names(brokered)
    for title, expr in expressions():
        wanted = set(re.findall(r"\bpressrun_[a-z_]+\b", expr))
        assert wanted, (title, expr)
        assert wanted <= served, (title, wanted - served)


def test_the_panels_ops_asked_for() -> None:
    exprs = " ".join(expr for _, expr in expressions())
    for quantile in ("0.5", "0.95", "0.99"):
        assert (
            f"histogram_quantile({quantile}, sum by (le) "
            "(rate(pressrun_publish_to_live_seconds_bucket" in exprs
        )
    for needed in ("sum by (status)", "pressrun_failed_events", "pressrun_stuck_events",
                   "by (queue) (pressrun_queue_depth)", "rate(pressrun_outputs_uploaded_total",
                   "by (finding) (pressrun_reconcile_findings)"):  # fmt: skip
        assert needed in exprs, needed


def test_the_dashboard_is_well_formed() -> None:
    panels: list[dict[str, Any]] = DASHBOARD["panels"]
    assert DASHBOARD["uid"] == "pressrun-pipeline"
    assert len({panel["id"] for panel in panels}) == len(panels)
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                 for y in range(grid["y"], grid["y"] + grid["h"])}  # fmt: skip
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
        assert panel["datasource"]["uid"] == "${datasource}"
    [variable] = DASHBOARD["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == (
        "datasource", "datasource", "prometheus")  # fmt: skip


def test_prometheus_scrapes_the_api_service() -> None:
    [job] = PROMETHEUS["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    [target] = job["static_configs"][0]["targets"]
    host, port = target.split(":")
    api = COMPOSE["services"][host]
    assert api["command"][0] == "api"
    assert api["command"][api["command"].index("--port") + 1] == port
    assert int(job.get("scrape_timeout", "10s").removesuffix("s")) >= 10


def test_compose_runs_them_under_the_ops_profile() -> None:
    services = COMPOSE["services"]
    for name in ("flower", "prometheus", "grafana"):
        assert services[name]["profiles"] == ["ops"], name
    mounts = [volume.split(":")[:2] for name in ("prometheus", "grafana")
              for volume in services[name]["volumes"] if volume.startswith("./")]  # fmt: skip
    for source, _ in mounts:
        assert (ROOT / source).exists(), source
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/pressrun.yml").read_text()
    )
    folder = provider["providers"][0]["options"]["path"]
    assert any(target.startswith(folder + "/") and source.endswith(".json")
               for source, target in mounts)  # fmt: skip
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    assert "9090:9090" in services["prometheus"]["ports"]
