"""The compose file, checked without a Docker engine: every pressrun service runs a real
`pressrun` command with valid options, and every PRESSRUN_* variable is one pressrun reads."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import fields
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from pipeline.cli.main import main
from pipeline.config import Settings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
OURS = sorted(name for name, service in SERVICES.items() if service.get("build"))
SETTINGS = {f"PRESSRUN_{field.name.upper()}" for field in fields(Settings)}


def test_the_fleet_is_all_there() -> None:
    expected = {"redis", "postgres", "minio", "minio-setup", "migrate", "worker", "rebuilder"}
    assert expected | {"beat", "site", "flower"} <= set(SERVICES)
    assert SERVICES["flower"]["profiles"] == ["ops"]
    # --scale worker=N needs a worker with no fixed name and no published port.
    assert "container_name" not in SERVICES["worker"]
    assert "ports" not in SERVICES["worker"]
    # A rebuild never delays a publish: its queue has workers of its own.
    assert "rebuild" not in SERVICES["worker"]["command"][2]
    assert SERVICES["rebuilder"]["command"][1:3] == ["--queues", "rebuild"]


@pytest.mark.parametrize("name", OURS)
def test_each_command_is_a_real_pressrun_command(name: str) -> None:
    command = SERVICES[name]["command"]
    subcommand = main.commands[command[0]]
    arguments = command[1:]
    if isinstance(subcommand, click.Group):
        subcommand = subcommand.commands[arguments[0]]
        arguments = arguments[1:]
    # Parsing validates every option and value without running the command.
    subcommand.make_context(command[0], list(arguments))


@pytest.mark.parametrize("name", OURS)
def test_every_pressrun_variable_is_read(name: str) -> None:
    environment = SERVICES[name]["environment"]
    names = {key for key in environment if key.startswith("PRESSRUN_")}
    assert names, name
    assert names <= SETTINGS, names - SETTINGS
    Settings.from_env({key: str(value) for key, value in environment.items()})


def test_start_order_follows_health() -> None:
    for name in ("redis", "postgres", "minio"):
        assert "healthcheck" in SERVICES[name], name
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    worker = SERVICES["worker"]["depends_on"]
    assert worker["migrate"]["condition"] == "service_completed_successfully"
    assert worker["minio-setup"]["condition"] == "service_completed_successfully"


def test_only_the_site_prefix_is_public() -> None:
    setup = " ".join(SERVICES["minio-setup"]["command"])
    assert "mc anonymous set download local/pressrun/site" in setup
    assert "local/pressrun " not in setup.replace("mc mb --ignore-existing local/pressrun", "")
    storage = SERVICES["worker"]["environment"]["PRESSRUN_STORAGE_URL"]
    assert storage == "s3://pressrun/site"


def test_the_image_runs_pressrun_as_a_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["pressrun"]' in dockerfile
    assert "\nUSER pressrun" in dockerfile


def test_docker_compose_validates_the_file_offline() -> None:
    executable = shutil.which("docker-compose")
    assert executable, "Debian's docker-compose is missing (make test installs it)"
    result = subprocess.run(
        [executable, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
