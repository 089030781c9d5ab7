"""/metrics in Prometheus text format and /health JSON, served over real HTTP."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path

import pynvml
from prometheus_client.parser import text_string_to_metric_families

from trainmedic.agent.collectors.nvidia import NvidiaCollector
from trainmedic.agent.collectors.nvml_replay import RecordedNvml
from trainmedic.agent.exporter import render_metrics, serve
from trainmedic.agent.runner import NodeAgent


def _agent(agent_data: Path, clock) -> tuple[NodeAgent, RecordedNvml]:
    nvml = RecordedNvml.load(agent_data / "nvml_h100x8.json")
    return NodeAgent("gpu-07", [NvidiaCollector("gpu-07", nvml=nvml, clock=clock)], clock=clock), nvml


def test_metrics_use_conventional_names_units_and_card_labels(agent_data: Path, clock) -> None:
    agent, nvml = _agent(agent_data, clock)
    agent.tick()
    fams = {f.name: f for f in text_string_to_metric_families(render_metrics(agent).decode())}
    temp = fams["trainmedic_gpu_temperature_celsius"]
    s = next(x for x in temp.samples if x.labels["card"] == "3")
    assert s.labels == {"node": "gpu-07", "card": "3", "bus_id": "0000:5d:00.0", "serial": nvml.devices[3]["serial"]}
    assert s.value == nvml.devices[3]["temperature_c"]
    used = next(x for x in fams["trainmedic_gpu_memory_used_bytes"].samples if x.labels["card"] == "0")
    assert used.value == nvml.devices[0]["memory"]["used"]
    assert fams["trainmedic_gpu_ecc_uncorrected_errors"].type == "counter"
    assert {x.value for x in fams["trainmedic_gpu_up"].samples} == {1.0}


def test_health_is_served_as_json_and_says_what_could_not_be_read(agent_data: Path, clock) -> None:
    agent, nvml = _agent(agent_data, clock)
    agent.tick()
    nvml.devices[2]["errors"] = {"*": pynvml.NVML_ERROR_GPU_IS_LOST}
    agent.tick()
    server = serve(agent, "127.0.0.1", 0, threading.Lock())
    try:
        port = server.server_address[1]
        health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read())
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert health["status"] == "degraded" and health["unreadable"] == ["nvidia/card2"]
    assert health["findings"]["by_severity"] == {"critical": 1}
    assert 'trainmedic_gpu_up{bus_id="0000:3a:00.0",card="2",node="gpu-07"' in metrics
    up = [ln for ln in metrics.splitlines() if ln.startswith("trainmedic_gpu_up{") and 'card="2"' in ln]
    assert up[0].endswith(" 0.0")
