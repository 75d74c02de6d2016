"""compose.yaml starts the whole stack (issue 15, part 3).

No Docker daemon runs where the tests do: the file is checked by `docker compose
config` (or `docker-compose config`) where either is installed, and its topology
by reading it. tests/test_stack.py runs the same topology with processes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SERVICE_REPLICAS = ("accounts-1", "accounts-2")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def service_environment() -> dict[str, str]:
    """The environment of a service replica, ${VAR:-default} taken as its default."""
    environment: dict[str, str] = services()[SERVICE_REPLICAS[0]]["environment"]
    return {
        key: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))
        for key, value in environment.items()
    }


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_accepts_the_file() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    done = subprocess.run(
        [*command, "-f", str(ROOT / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=os.environ | {"JWT_SECRET": "s" * 40},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    refused = subprocess.run(
        [*command, "-f", str(ROOT / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "JWT_SECRET"},
        timeout=60,
    )
    assert refused.returncode != 0, "no stack without a signing secret"
    assert "JWT_SECRET" in refused.stderr


def test_the_stack_is_a_primary_a_standby_a_broker_two_replicas_and_a_balancer() -> None:
    found = services()
    assert set(found) == {
        "postgres",
        "postgres-replica",
        "rabbitmq",
        *SERVICE_REPLICAS,
        "load-balancer",
    }
    for name in SERVICE_REPLICAS:
        assert found[name]["build"] == "."
        assert found[name]["environment"] == found[SERVICE_REPLICAS[0]]["environment"]
    hosts = {
        key: urlsplit(value).hostname
        for key, value in service_environment().items()
        if key.endswith("_URL")
    }
    assert hosts == {
        "DATABASE_URL": "postgres",
        "READ_DATABASE_URL": "postgres-replica",
        "RABBITMQ_URL": "rabbitmq",
    }
    # The standby is cloned from the primary and streams from it.
    standby = (ROOT / "deploy" / "postgres" / "standby.sh").read_text()
    assert "pg_basebackup" in standby
    assert " -R " in standby
    assert found["postgres-replica"]["environment"]["PRIMARY_HOST"] == "postgres"
    primary = found["postgres"]["command"]
    assert "wal_level=replica" in primary
    init = (ROOT / "deploy" / "postgres" / "init-replication.sh").read_text()
    assert "REPLICATION" in init
    assert "host replication" in init
    # The balancer sends to both replicas and is the only way in, on 127.0.0.1.
    balancer = (ROOT / "deploy" / "nginx" / "accounts.conf").read_text()
    for name in SERVICE_REPLICAS:
        assert f"server {name}:8000" in balancer
    published = {name: spec.get("ports", []) for name, spec in found.items()}
    assert published == {name: [] for name in found} | {"load-balancer": ["127.0.0.1:8000:80"]}


def test_official_pinned_images_health_checks_and_a_volume_per_database() -> None:
    found = services()
    for name, spec in found.items():
        if "build" in spec:
            continue
        image = spec["image"]
        assert "/" not in image.split(":")[0], f"{name}: an official image, not {image}"
        # A release, not a moving major tag (PostgreSQL's releases are major.minor).
        assert re.search(r":\d+\.\d+", image), f"{name}: pinned, not {image}"
    for name, spec in found.items():
        test = spec["healthcheck"]["test"]
        assert test[0] == "CMD", f"{name}: exec form"
        assert spec.get("depends_on") is None or all(
            dependency["condition"] == "service_healthy"
            for dependency in spec["depends_on"].values()
        ), name
    volumes = {
        name: [v.split(":")[0] for v in spec.get("volumes", []) if not v.startswith("./")]
        for name, spec in found.items()
    }
    assert volumes["postgres"] == ["primary-data"]
    assert volumes["postgres-replica"] == ["replica-data"]
    assert volumes["rabbitmq"] == ["rabbitmq-data"]
    assert set(compose()["volumes"]) == {"primary-data", "replica-data", "rabbitmq-data"}
    for name in SERVICE_REPLICAS:
        assert volumes[name] == [], "stateless"
