"""Simulated per-card, per-second telemetry for whole clusters, healthy or with faults that show in
telemetry (thermal runaway, clock throttling, PCIe downgrade, degraded or flapping links, NVLink
errors, a slow card, an uncorrectable ECC error), with ground truth.

Used by `trainmedic sim telemetry` (written to disk by `sim.telemetry_io`), by the agent's replay
tests and by the peer-outlier benchmarks (generated in memory, chunk by chunk, same code).
Values are [seconds, nodes, cards, metrics] float32 arrays in `detect.metrics` column order.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from trainmedic.detect.metrics import METRIC_INDEX, NUM_METRICS
from trainmedic.sim.topology import Topology

M = METRIC_INDEX
NOISE_BANK = 1 << 24

# NVML clock event reason bits (nvmlClocksEventReason*), as a real card reports them.
SW_POWER_CAP = 0x4
HW_SLOWDOWN = 0x8
SW_THERMAL = 0x20
HW_THERMAL = 0x40


class TelemetryFault(enum.StrEnum):
    """Faults the simulator can put into telemetry."""

    NONE = "none"
    THERMAL_RUNAWAY = "thermal_runaway"
    """Cooling lost: the die heats ~1 C/s to the slowdown limit, then clocks and power fall."""
    CLOCK_THROTTLE = "clock_throttle"
    """Hardware slowdown (power brake, bad VRM): clocks fall to ~60% with HW slowdown set."""
    PCIE_DOWNGRADE = "pcie_downgrade"
    """The PCIe link retrains at x8 (from x16) and replays climb."""
    LINK_DEGRADED = "link_degraded"
    """The card's NIC port runs at half rate with symbol errors (bad cable / optics)."""
    LINK_FLAP = "link_flap"
    """The card's NIC port goes down and up every few seconds."""
    NVLINK_ERRORS = "nvlink_errors"
    """NVLink CRC errors stream and NVLink throughput falls."""
    SLOW_CARD = "slow_card"
    """One card computes 1.5x slower: it stays busy while every other card waits on it."""
    ECC_DBE = "ecc_dbe"
    """An uncorrectable ECC error: DBE counter +1, a row remap that fails, Xid 48 in the kernel log."""


PEER_VISIBLE = (
    TelemetryFault.THERMAL_RUNAWAY,
    TelemetryFault.CLOCK_THROTTLE,
    TelemetryFault.PCIE_DOWNGRADE,
    TelemetryFault.LINK_DEGRADED,
    TelemetryFault.LINK_FLAP,
    TelemetryFault.NVLINK_ERRORS,
    TelemetryFault.SLOW_CARD,
)
"""Faults that make the culprit machine differ from its peers in gauges or counter rates."""


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One injected fault: what, on which card, from which second of the run."""

    kind: TelemetryFault
    node: int
    card: int
    start_s: int
    severity: float = 1.0
    """Scales the fault's continuous effects (heating rate, clock drop, error rates, slowdown);
    1.0 is the default magnitude, 0.3 a subtle fault. Link width/rate changes stay as they are."""

    def to_dict(self, topo: Topology, start_epoch: float) -> dict[str, object]:
        card = topo.card(self.node, self.card)
        return {
            "kind": str(self.kind),
            "node": card.node,
            "node_index": self.node,
            "card": self.card,
            "bus_id": card.bus_id,
            "uuid": card.uuid,
            "serial": card.serial,
            "start_s": self.start_s,
            "start_at": start_epoch + self.start_s,
            "severity": self.severity,
        }


@dataclass(frozen=True, slots=True)
class NoiseModel:
    """Healthy-cluster variation: static per-card spread, per-second noise, shared events, glitches."""

    step_s: float = 6.0
    """Training step period; all cards move in step (synchronous training)."""
    checkpoint_every_s: int = 1800
    checkpoint_s: int = 60
    skew_s: float = 2.0
    """Per-node clock/phase skew of shared events (seconds)."""
    transients_per_node_hour: float = 2.0
    """Short benign dips on one card (data-loader stall, GC, a noisy neighbour)."""
    transient_max_s: int = 15
    missing_per_card_hour: float = 1.0
    """Samples that could not be read (NaN)."""


class TelemetrySim:
    """Generates telemetry chunk by chunk; chunks must be asked for in time order."""

    def __init__(
        self,
        topology: Topology,
        faults: tuple[FaultSpec, ...] = (),
        seed: int = 0,
        start_epoch: float = 1_767_225_600.0,
        noise: NoiseModel | None = None,
    ) -> None:
        self.topo = topology
        self.faults = faults
        self.seed = seed
        self.start_epoch = start_epoch
        self.noise = noise or NoiseModel()
        for f in faults:
            if not (0 <= f.node < topology.nodes and 0 <= f.card < topology.cards_per_node):
                raise ValueError(f"fault {f.kind} on node {f.node} card {f.card}: outside the topology")
        n, k = topology.nodes, topology.cards_per_node
        rng = np.random.default_rng(seed)
        self._rng = rng
        # Static per-card character: some cards run hotter or draw more power all their life.
        self.temp_off = rng.normal(0.0, 3.0, (n, k)).astype(np.float32)
        self.power_off = rng.normal(0.0, 15.0, (n, k)).astype(np.float32)
        self.clock_off = rng.normal(0.0, 8.0, (n, k)).astype(np.float32)
        self.memtemp_off = rng.normal(5.0, 2.0, (n, k)).astype(np.float32)
        stage = (np.arange(n) * topology.pp // n)[:, None]
        self.mem_used = (60000.0 + 1500.0 * stage + rng.normal(0.0, 150.0, (n, k))).astype(np.float32)
        self.node_skew = rng.uniform(-self.noise.skew_s, self.noise.skew_s, (n, 1))
        self.counters = np.zeros((n, k, NUM_METRICS))
        self.temp = 60.0 + self.temp_off
        self.t = 0
        self._transients: list[tuple[int, int, int, int]] = []  # node, card, start, end
        self._bank: np.ndarray | None = None

    # -- shared, cluster-wide signal -------------------------------------------------------------

    def _phase(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Compute and communication activity in [0, 1] per (second, node): step pattern + checkpoints."""
        nz = self.noise
        t = ts[:, None] + self.node_skew.T  # [T, n]
        x = (t % nz.step_s) / nz.step_s
        compute = 0.85 + 0.15 * np.sin(2 * math.pi * x)
        comm = 0.55 + 0.45 * np.cos(2 * math.pi * x)
        in_ckpt = (t % nz.checkpoint_every_s) >= (nz.checkpoint_every_s - nz.checkpoint_s)
        compute = np.where(in_ckpt, 0.05, compute)
        comm = np.where(in_ckpt, 0.02, comm)
        return compute.astype(np.float32), comm.astype(np.float32)

    def _new_transients(self, t0: int, length: int) -> None:
        nz, n, k = self.noise, self.topo.nodes, self.topo.cards_per_node
        count = self._rng.poisson(nz.transients_per_node_hour * n * length / 3600.0)
        for _ in range(count):
            start = t0 + int(self._rng.integers(0, length))
            dur = int(self._rng.integers(2, nz.transient_max_s + 1))
            self._transients.append((int(self._rng.integers(0, n)), int(self._rng.integers(0, k)), start, start + dur))
        self._transients = [tr for tr in self._transients if tr[3] > t0]

    # -- one chunk ---------------------------------------------------------------------------------

    def chunk(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        """The next `length` seconds: (epoch seconds [T], values [T, nodes, cards, metrics] float32)."""
        n, k, rng, t0 = self.topo.nodes, self.topo.cards_per_node, self._rng, self.t
        ts = np.arange(t0, t0 + length, dtype=np.float64)
        compute, comm = self._phase(ts)
        util = 100.0 * compute[:, :, None] + self._noise(2.0, (length, n, k))
        comm3 = np.broadcast_to(comm[:, :, None], (length, n, k))
        # Faults that change the job's pace change every card: apply slow-card pacing first.
        slow = [f for f in self.faults if f.kind is TelemetryFault.SLOW_CARD]
        fault_mask = {}
        for f in self.faults:
            fault_mask[f] = ts >= f.start_s
        for f in slow:
            on = fault_mask[f]
            util[on] *= 1.0 / (1.0 + 0.5 * f.severity)
            util[on, f.node, f.card] = 98.0 + rng.normal(0.0, 0.7, int(on.sum()))
        self._new_transients(t0, length)
        for node, card, a, b in self._transients:
            sel = (ts >= a) & (ts < b)
            util[sel, node, card] *= 0.35
        util = np.clip(util, 0.0, 100.0)
        power = 120.0 + 5.2 * util + self.power_off + self._noise(8.0, (length, n, k))
        clock = np.broadcast_to(1980.0 + self.clock_off, (length, n, k)).copy()
        clock -= np.clip(power - 690.0, 0.0, None) * 2.0
        throttle = np.where(power > 690.0, SW_POWER_CAP, 0).astype(np.float32)
        nvlink = 150000.0 * comm3 * (util / 100.0) + self._noise(1500.0, (length, n, k))
        ib = 22000.0 * comm3 * (util / 100.0) + self._noise(300.0, (length, n, k))
        width = np.full((length, n, k), 16.0, dtype=np.float32)
        gen = np.full((length, n, k), 5.0, dtype=np.float32)
        rate = np.full((length, n, k), 400.0, dtype=np.float32)
        incr = {
            c: np.zeros((length, n, k), dtype=np.float32)
            for c in ("pcie_replay_total", "ecc_sbe_total", "nvlink_err_total", "ib_err_total", "ib_link_downed_total", "ecc_dbe_total")
        }
        # Rare benign counter ticks: a replay or a corrected error now and then, on random cards.
        for name, per_hour in (("pcie_replay_total", 0.05), ("ecc_sbe_total", 0.02), ("nvlink_err_total", 0.02), ("ib_err_total", 0.1)):
            count = rng.poisson(per_hour / 3600.0 * length * n * k)
            if count:
                np.add.at(incr[name], (rng.integers(0, length, count), rng.integers(0, n, count), rng.integers(0, k, count)), 1.0)
        remap_fail = np.zeros((length, n, k), dtype=np.float32)
        heat = np.zeros((length, n, k), dtype=np.float32)
        for f in self.faults:
            on = fault_mask[f]
            if not on.any():
                continue
            i, j = f.node, f.card
            since = ts[on] - f.start_s
            kind, sev = f.kind, f.severity
            if kind is TelemetryFault.THERMAL_RUNAWAY:
                heat[on, i, j] = np.minimum(since * 1.2 * sev, 40.0 * sev)
            elif kind is TelemetryFault.CLOCK_THROTTLE:
                ramp = np.minimum(since / 5.0, 1.0)
                clock[on, i, j] -= 800.0 * sev * ramp
                power[on, i, j] -= 200.0 * sev * ramp
                throttle[on, i, j] = HW_SLOWDOWN
            elif kind is TelemetryFault.PCIE_DOWNGRADE:
                width[on, i, j] = 8.0
                incr["pcie_replay_total"][on, i, j] += rng.poisson(20.0 * sev, int(on.sum()))
            elif kind is TelemetryFault.LINK_DEGRADED:
                rate[on, i, j] = 200.0
                ib[on, i, j] *= 0.5
                incr["ib_err_total"][on, i, j] += rng.poisson(40.0 * sev, int(on.sum()))
            elif kind is TelemetryFault.LINK_FLAP:
                down = (since % 8.0) < 3.0
                ib[np.flatnonzero(on)[down], i, j] = 0.0
                flips = (since % 8.0) == 0.0
                incr["ib_link_downed_total"][np.flatnonzero(on)[flips], i, j] += 1
                incr["ib_err_total"][on, i, j] += rng.poisson(10.0 * sev, int(on.sum()))
            elif kind is TelemetryFault.NVLINK_ERRORS:
                nvlink[on, i, j] *= 1.0 - 0.4 * sev
                incr["nvlink_err_total"][on, i, j] += rng.poisson(30.0 * sev, int(on.sum()))
            elif kind is TelemetryFault.ECC_DBE:
                first = np.flatnonzero(on)[:1]
                if first.size and since[0] == 0.0:
                    incr["ecc_dbe_total"][first, i, j] += 1
                remap_fail[on, i, j] = 1.0
        temp_target = 32.0 + 0.055 * power + self.temp_off
        temps = np.empty((length, n, k), dtype=np.float32)
        cur = self.temp
        for s in range(length):
            # First-order thermal lag (~10 s time constant) plus the runaway's extra heat.
            cur = cur + (temp_target[s] - cur) * 0.1
            temps[s] = cur + heat[s]
        self.temp = cur
        hot = temps >= 87.0
        if hot.any():
            clock[hot] -= 500.0
            power[hot] -= 150.0
            throttle[hot] = SW_THERMAL + HW_THERMAL
        cols: list[np.ndarray | float | None] = [None] * NUM_METRICS
        cols[M["gpu_util_pct"]] = util
        cols[M["mem_util_pct"]] = np.clip(util * 0.6 + self._noise(2.0, (length, n, k)), 0, 100)
        cols[M["power_w"]] = power
        cols[M["temp_c"]] = temps + self._noise(0.4, (length, n, k))
        cols[M["mem_temp_c"]] = temps + self.memtemp_off + self._noise(0.4, (length, n, k))
        cols[M["mem_used_mib"]] = self.mem_used
        cols[M["sm_clock_mhz"]] = np.round(clock / 15.0) * 15.0
        cols[M["throttle_reasons"]] = throttle
        cols[M["pcie_gen"]] = gen
        cols[M["pcie_width"]] = width
        cols[M["remap_failure"]] = remap_fail
        cols[M["nvlink_tx_mbps"]] = np.clip(nvlink, 0, None)
        cols[M["ib_tx_mbps"]] = np.clip(ib, 0, None)
        cols[M["ib_rate_gbps"]] = rate
        for name, inc in incr.items():
            c = M[name]
            if inc.any():
                cum = self.counters[:, :, c] + np.cumsum(inc, axis=0)
                self.counters[:, :, c] = cum[-1]
                cols[c] = cum
            else:  # most seconds nothing ticks: the counter stays where it was
                cols[c] = self.counters[:, :, c]
        v = np.stack([np.broadcast_to(np.asarray(col, dtype=np.float32), (length, n, k)) for col in cols], axis=-1)
        self._glitch(v, length)
        self.t += length
        return self.start_epoch + ts, v

    def _noise(self, sigma: float, shape: tuple[int, ...]) -> np.ndarray:
        """Gaussian noise. Large requests take a random window of a pre-drawn bank of normals: drawing
        fresh normals for 18,432 cards x 8 signals every second is most of the simulator's cost, and
        within one window the values are still independent standard normals."""
        size = int(np.prod(shape))
        if size > NOISE_BANK // 4:
            return self._rng.standard_normal(shape, dtype=np.float32) * np.float32(sigma)
        if self._bank is None:
            self._bank = self._rng.standard_normal(NOISE_BANK, dtype=np.float32)
        start = int(self._rng.integers(0, NOISE_BANK - size))
        return self._bank[start:start + size].reshape(shape) * np.float32(sigma)

    def _glitch(self, v: np.ndarray, length: int) -> None:
        """Readings that failed: NaN for a whole card sample, as an agent records an NVML error."""
        n, k = self.topo.nodes, self.topo.cards_per_node
        count = self._rng.poisson(self.noise.missing_per_card_hour * n * k * length / 3600.0)
        if count:
            s = self._rng.integers(0, length, count)
            i = self._rng.integers(0, n, count)
            j = self._rng.integers(0, k, count)
            v[s, i, j, :] = np.nan

    def kernel_lines(self, node: int, t_from: float, t_to: float) -> list[tuple[float, str]]:
        """Kernel-log lines the faults on `node` write in [t_from, t_to) (run seconds), as (t, text)."""
        out: list[tuple[float, str]] = []
        for f in self.faults:
            if f.node != node or not (t_from <= f.start_s < t_to):
                continue
            # NVRM prints the bus id as dddd:bb:dd in lower case (0000:09:00), not NVML's 00000000:09:00.0.
            parts = (self.topo.card(f.node, f.card).bus_id or "0:0:0.0").lower().split(":")
            short = f"{parts[0][-4:]:0>4}:{parts[1]}:{parts[2].split('.')[0]}"
            if f.kind is TelemetryFault.ECC_DBE:
                out.append((f.start_s, f"NVRM: Xid (PCI:{short}): 48, pid=2841, name=python, An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer at partition 6, subpartition 0."))
                out.append((f.start_s + 1, f"NVRM: Xid (PCI:{short}): 64, pid='<unknown>', name=<unknown>, Row Remapper Error: (0x00000000005bdd36) - All reserved rows for bank are remapped"))
            elif f.kind is TelemetryFault.PCIE_DOWNGRADE:
                out.append((f.start_s, f"pcieport {short[:5]}{int(parts[1], 16) - 1:02x}:01.0: AER: Corrected error received: {short}.0"))
        return sorted(out)
