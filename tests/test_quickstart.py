"""The README's run command, as a new user runs it: no DATABASE_URL, embedded PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent


def _wait_healthy(base: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the service exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail("the service did not become healthy")


@pytest.mark.slow
def test_run_command_serves_contact_types_from_an_embedded_database(tmp_path: Path) -> None:
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "READ_DATABASE_URL", "RABBITMQ_URL"}
    }
    env |= {"PORT": str(port), "DATA_DIR": str(tmp_path / "data"), "LOG_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "serve")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process, seconds=120)
        response = httpx.post(f"{base}/graphql", json={"query": "{ contactTypes { code } }"})
        assert response.status_code == 200
        codes = {item["code"] for item in response.json()["data"]["contactTypes"]}
        assert {"email", "phone"} <= codes
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) in (0, 130)
    # Ctrl-C stops the embedded server too: its pid file is gone.
    assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists()
