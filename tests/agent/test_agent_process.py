"""The live agent as a real process: serves /metrics and /health from fixtures, then stops."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.e2e
def test_the_agent_process_serves_metrics_and_health(agent_data: Path, tmp_path: Path) -> None:
    port = _free_port()
    kmsg = tmp_path / "kmsg"
    kmsg.write_text((agent_data / "kmsg" / "rfe-002-xid79.kmsg").read_text().replace("0000:09:00", "0000:5d:00"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainmedic", "agent", "run", "--node", "gpu-07", "--nvml-fixture", str(agent_data / "nvml_h100x8.json"),
         "--sys-root", str(agent_data / "sys"), "--kmsg", str(kmsg), "--interval-s", "0.2", "--duration-s", "30",
         "--port", str(port), "--host", "127.0.0.1", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    try:
        health = None
        deadline = time.monotonic() + 30  # start-up imports can be slow on a loaded CI machine
        while time.monotonic() < deadline:
            try:
                health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read())
                if health["ticks"] >= 2:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert health is not None and health["status"] == "ok" and len(health["cards"]) == 8
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
        assert 'trainmedic_gpu_power_watts{bus_id="0000:5d:00.0",card="3",node="gpu-07"' in metrics
    finally:
        proc.terminate()  # SIGTERM: the agent finishes its tick and exits cleanly
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()
    findings = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    roots = [(f["rule"], f["card_index"]) for f in findings if f["role"] == "root"]
    assert roots[0] == ("nvidia.xid.79", 3)
    assert {card for _, card in roots} == {3}
