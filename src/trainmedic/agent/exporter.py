"""Prometheus /metrics and JSON /health for the node agent.

Metric names follow dcgm-exporter's habits in Prometheus form (`trainmedic_gpu_temperature_celsius`
for DCGM_FI_DEV_GPU_TEMP, `..._power_watts` for DCGM_FI_DEV_POWER_USAGE); labels are node, card,
bus_id and serial. A custom collector reads the agent's latest sample at scrape time, so a scrape
never waits on NVML. Served from a daemon thread by `serve()`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from trainmedic.agent.runner import NodeAgent
from trainmedic.detect.metrics import METRIC_INDEX

CARD_LABELS = ["node", "card", "bus_id", "serial"]

# metric column -> (prometheus name, help, scale, is counter)
CARD_METRICS: dict[str, tuple[str, str, float, bool]] = {
    "gpu_util_pct": ("trainmedic_gpu_utilization_percent", "Compute utilization (DCGM_FI_DEV_GPU_UTIL).", 1.0, False),
    "mem_util_pct": ("trainmedic_gpu_memory_utilization_percent", "Memory controller utilization (DCGM_FI_DEV_MEM_COPY_UTIL).", 1.0, False),
    "power_w": ("trainmedic_gpu_power_watts", "Board power draw (DCGM_FI_DEV_POWER_USAGE).", 1.0, False),
    "temp_c": ("trainmedic_gpu_temperature_celsius", "Die temperature (DCGM_FI_DEV_GPU_TEMP).", 1.0, False),
    "mem_temp_c": ("trainmedic_gpu_memory_temperature_celsius", "HBM temperature (DCGM_FI_DEV_MEMORY_TEMP).", 1.0, False),
    "mem_used_mib": ("trainmedic_gpu_memory_used_bytes", "Device memory in use (DCGM_FI_DEV_FB_USED, in bytes).", 2**20, False),
    "sm_clock_mhz": ("trainmedic_gpu_sm_clock_hertz", "Compute clock (DCGM_FI_DEV_SM_CLOCK, in hertz).", 1e6, False),
    "throttle_reasons": ("trainmedic_gpu_clock_event_reasons", "NVML clock event (throttle) reason bitmask (DCGM_FI_DEV_CLOCK_THROTTLE_REASONS).", 1.0, False),
    "pcie_gen": ("trainmedic_gpu_pcie_link_generation", "Current PCIe link generation.", 1.0, False),
    "pcie_width": ("trainmedic_gpu_pcie_link_width", "Current PCIe link width in lanes.", 1.0, False),
    "pcie_replay_total": ("trainmedic_gpu_pcie_replays", "PCIe replays (DCGM_FI_DEV_PCIE_REPLAY_COUNTER).", 1.0, True),
    "ecc_sbe_total": ("trainmedic_gpu_ecc_corrected_errors", "Corrected ECC errors, volatile (DCGM_FI_DEV_ECC_SBE_VOL_TOTAL).", 1.0, True),
    "ecc_dbe_total": ("trainmedic_gpu_ecc_uncorrected_errors", "Uncorrected ECC errors, volatile (DCGM_FI_DEV_ECC_DBE_VOL_TOTAL).", 1.0, True),
    "remap_failure": ("trainmedic_gpu_row_remap_failure", "1 when row remapping failed (DCGM_FI_DEV_ROW_REMAP_FAILURE).", 1.0, False),
    "nvlink_tx_mbps": ("trainmedic_gpu_nvlink_transmit_bytes_per_second", "NVLink transmit throughput.", 1e6, False),
    "nvlink_err_total": ("trainmedic_gpu_nvlink_errors", "NVLink CRC, replay and recovery errors.", 1.0, True),
    "ib_tx_mbps": ("trainmedic_nic_transmit_bytes_per_second", "The card's NIC transmit throughput.", 1e6, False),
    "ib_err_total": ("trainmedic_nic_errors", "NIC symbol and receive errors.", 1.0, True),
    "ib_link_downed_total": ("trainmedic_nic_link_downed", "NIC link-down events.", 1.0, True),
    "ib_rate_gbps": ("trainmedic_nic_rate_bits_per_second", "NIC port rate.", 1e9, False),
}
EXTRA_METRICS: dict[str, tuple[str, str]] = {
    "recovery_action": ("trainmedic_gpu_recovery_action", "NVML GPU recovery action (0 none, 1 GPU reset, 2 node reboot, 3 drain P2P, 4 drain and reset)."),
    "retired_pages_dbe": ("trainmedic_gpu_retired_pages_dbe", "Pages retired after double-bit ECC errors."),
    "remapped_rows_uncorrectable": ("trainmedic_gpu_remapped_rows_uncorrectable", "Rows remapped after uncorrectable errors."),
    "remap_pending": ("trainmedic_gpu_row_remap_pending", "1 when a row remap waits for a GPU reset."),
    "nvlink_links_up": ("trainmedic_gpu_nvlink_links_up", "NVLinks in the active state."),
    "health_level": ("trainmedic_npu_health_level", "npu-smi health (0 OK, 1 Warning, 2 Alarm, 3 Critical)."),
}
HOST_METRICS: dict[str, tuple[str, str]] = {
    "cpu_util_pct": ("trainmedic_host_cpu_utilization_percent", "Host CPU use."),
    "mem_used_pct": ("trainmedic_host_memory_used_percent", "Host memory in use."),
    "load1": ("trainmedic_host_load1", "Host 1-minute load average."),
}


class AgentCollector:
    """prometheus_client custom collector over a NodeAgent's latest sample."""

    def __init__(self, agent: NodeAgent) -> None:
        self.agent = agent

    def collect(self) -> Iterator[Metric]:
        a = self.agent
        labels = [[a.node, str(c.index), c.bus_id or "", c.serial or ""] for c in a.cards]
        for col, (name, doc, scale, counter) in CARD_METRICS.items():
            fam: GaugeMetricFamily | CounterMetricFamily = (
                CounterMetricFamily(name, doc, labels=CARD_LABELS) if counter else GaugeMetricFamily(name, doc, labels=CARD_LABELS)
            )
            any_value = False
            for j, lab in enumerate(labels):
                v = a.card_values[j, METRIC_INDEX[col]] if j < len(a.card_values) else np.nan
                if not np.isnan(v):
                    fam.add_metric(lab, float(v) * scale)
                    any_value = True
            if any_value:
                yield fam
        for key, (name, doc) in EXTRA_METRICS.items():
            g = GaugeMetricFamily(name, doc, labels=CARD_LABELS)
            rows = [(lab, ex[key]) for lab, ex in zip(labels, a.card_extra, strict=False) if key in ex]
            for lab, v in rows:
                g.add_metric(lab, float(v))
            if rows:
                yield g
        up = GaugeMetricFamily("trainmedic_gpu_up", "1 when the card answered its last read.", labels=CARD_LABELS)
        for j, lab in enumerate(labels):
            up.add_metric(lab, 0.0 if j >= len(a.card_values) or np.isnan(a.card_values[j]).all() else 1.0)
        yield up
        host = {k: v for r in a.last.values() for k, v in r.host.items()}
        for key, (name, doc) in HOST_METRICS.items():
            if key in host:
                g = GaugeMetricFamily(name, doc, labels=["node"])
                g.add_metric([a.node], host[key])
                yield g
        found = CounterMetricFamily("trainmedic_agent_findings", "Findings raised by this agent.", labels=["node", "severity"])
        for sev, n in sorted(a.findings_by_severity.items()):
            found.add_metric([a.node, sev], n)
        yield found
        errs = CounterMetricFamily("trainmedic_agent_read_errors", "Reads that failed, per source.", labels=["node", "source"])
        for src, h in a.health_by_source.items():
            errs.add_metric([a.node, src], h.failed)
        yield errs
        if a.pusher is not None:
            g = GaugeMetricFamily("trainmedic_agent_push_pending_findings", "Findings spooled, not yet accepted by the controller.", labels=["node"])
            g.add_metric([a.node], a.pusher.pending())
            yield g


def registry_for(agent: NodeAgent) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(AgentCollector(agent))  # type: ignore[arg-type]
    return reg


def render_metrics(agent: NodeAgent) -> bytes:
    """The /metrics body (Prometheus text format)."""
    return generate_latest(registry_for(agent))


class _Handler(BaseHTTPRequestHandler):
    agent: NodeAgent
    lock: threading.Lock

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            with self.lock:
                body, ctype, code = render_metrics(self.agent), CONTENT_TYPE_LATEST, 200
        elif path == "/health":
            with self.lock:
                doc: dict[str, Any] = self.agent.health()
            body, ctype, code = json.dumps(doc, default=str).encode(), "application/json", 200
        else:
            body, ctype, code = b'{"error": "not found; try /metrics or /health"}', "application/json", 404
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # scrapes every few seconds: keep stderr quiet
        pass


def serve(agent: NodeAgent, host: str, port: int, lock: threading.Lock) -> ThreadingHTTPServer:
    """Start the HTTP server on a daemon thread; `lock` is held by the agent loop while it ticks."""
    handler = type("AgentHandler", (_Handler,), {"agent": agent, "lock": lock})
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, name="trainmedic-exporter", daemon=True).start()
    return server
