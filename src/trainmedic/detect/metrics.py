"""The per-card telemetry schema: metric names, units and kinds, in one fixed column order.

Shared by the node agent's collectors, the simulator's telemetry writer, the replay reader and
the detectors (thresholds, peer outlier), so a column index means the same thing everywhere.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.StrEnum):
    """How a metric behaves over time."""

    GAUGE = "gauge"
    """A level (temperature, utilization); compared as is."""
    COUNTER = "counter"
    """A monotonically increasing count; detectors use its per-second rate (resets and wraps give 0)."""
    STATE = "state"
    """A discrete state or bitmask (link width, throttle reasons); compared as is, never averaged away."""


@dataclass(frozen=True, slots=True)
class Metric:
    """One per-card metric: its column name, unit, kind and a one-line meaning."""

    name: str
    unit: str
    kind: Kind
    help: str


METRICS: tuple[Metric, ...] = (
    Metric("gpu_util_pct", "percent", Kind.GAUGE, "Compute (SM / AI core) utilization"),
    Metric("mem_util_pct", "percent", Kind.GAUGE, "Memory controller utilization"),
    Metric("power_w", "watts", Kind.GAUGE, "Board power draw"),
    Metric("temp_c", "celsius", Kind.GAUGE, "Die temperature"),
    Metric("mem_temp_c", "celsius", Kind.GAUGE, "HBM temperature"),
    Metric("mem_used_mib", "mebibytes", Kind.GAUGE, "Device memory in use"),
    Metric("sm_clock_mhz", "megahertz", Kind.GAUGE, "Compute clock"),
    Metric("throttle_reasons", "bitmask", Kind.STATE, "NVML clock event reasons (0 = none)"),
    Metric("pcie_gen", "generation", Kind.STATE, "Current PCIe link generation"),
    Metric("pcie_width", "lanes", Kind.STATE, "Current PCIe link width"),
    Metric("pcie_replay_total", "events", Kind.COUNTER, "PCIe replay counter"),
    Metric("ecc_sbe_total", "errors", Kind.COUNTER, "Corrected (single-bit) ECC errors, volatile"),
    Metric("ecc_dbe_total", "errors", Kind.COUNTER, "Uncorrected (double-bit) ECC errors, volatile"),
    Metric("remap_failure", "bool", Kind.STATE, "Row remapping failed (1) or not (0)"),
    Metric("nvlink_tx_mbps", "megabytes_per_second", Kind.GAUGE, "NVLink / HCCS transmit throughput"),
    Metric("nvlink_err_total", "errors", Kind.COUNTER, "NVLink CRC / replay / recovery errors"),
    Metric("ib_tx_mbps", "megabytes_per_second", Kind.GAUGE, "The card's InfiniBand / RoCE NIC transmit throughput"),
    Metric("ib_err_total", "errors", Kind.COUNTER, "NIC symbol + receive errors"),
    Metric("ib_link_downed_total", "events", Kind.COUNTER, "NIC link went down (link_downed)"),
    Metric("ib_rate_gbps", "gigabits_per_second", Kind.STATE, "NIC port rate (drops on a degraded link)"),
)
"""Column order of every telemetry array: values[..., METRIC_INDEX[name]]."""

METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
METRIC_INDEX: dict[str, int] = {m.name: i for i, m in enumerate(METRICS)}
COUNTER_COLUMNS: tuple[int, ...] = tuple(i for i, m in enumerate(METRICS) if m.kind is Kind.COUNTER)
NUM_METRICS = len(METRICS)
