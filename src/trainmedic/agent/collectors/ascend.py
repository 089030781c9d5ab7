"""Huawei Ascend adapter through `npu-smi` output: the `npu-smi info` table (health, power,
temperature, AI core use, memory and HBM use, bus id) and, per card, `npu-smi info -t <kind> -i N`
key/value blocks (health, common, ecc, usages, temp, power).

The command runner is injected (`run=`), so tests feed recorded outputs (tests/data/agent/npu-smi/).
A tool that hangs hits the timeout; output that does not parse becomes an error in the Reading.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from trainmedic.agent.busid import normalize_bus_id
from trainmedic.agent.collectors.base import CardReading, Reading, register_collector
from trainmedic.model import Card

Runner = Callable[[Sequence[str], float], str]
HEALTH_LEVEL = {"OK": 0, "WARNING": 1, "ALARM": 2, "CRITICAL": 3}
_NUM = re.compile(r"^-?\d+(?:\.\d+)?$")
_PAIR = re.compile(r"(\d+)\s*/\s*(\d+)")


class NpuSmiError(RuntimeError):
    """npu-smi failed, timed out or printed something that is not its table."""


def run_command(argv: Sequence[str], timeout_s: float) -> str:
    """Run a vendor tool with a hard timeout; its stdout as text. Raises NpuSmiError."""
    try:
        done = subprocess.run(list(argv), capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise NpuSmiError(f"{' '.join(argv)} did not answer within {timeout_s:.0f}s") from None
    except OSError as exc:
        raise NpuSmiError(f"{argv[0]} could not run: {exc}") from None
    if done.returncode != 0:
        raise NpuSmiError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode(errors='replace').strip()[:200]}")
    return done.stdout.decode(errors="replace")


@dataclass(frozen=True, slots=True)
class NpuRow:
    """One NPU from the `npu-smi info` table."""

    npu: int
    chip: int
    name: str
    health: str
    bus_id: str | None
    power_w: float | None
    temp_c: float | None
    aicore_pct: float | None
    mem_used_mb: float | None
    mem_total_mb: float | None
    hbm_used_mb: float | None
    hbm_total_mb: float | None


def _num(text: str) -> float | None:
    t = text.strip()
    return float(t) if _NUM.match(t) else None


def parse_info_table(text: str) -> list[NpuRow]:
    """Parse the `npu-smi info` summary table (910 and 310P layouts). Raises NpuSmiError if none is found."""
    rows: list[NpuRow] = []
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    i = 0
    while i + 1 < len(lines):
        a = [c.strip() for c in lines[i].strip("|").split("|")]
        b = [c.strip() for c in lines[i + 1].strip("|").split("|")]
        first = a[0].split()
        if len(a) >= 3 and len(b) >= 3 and len(first) >= 2 and first[0].isdigit() and normalize_bus_id(b[1]):
            left = a[2].split()
            power, temp = (_num(left[0]) if left else None), (_num(left[1]) if len(left) > 1 else None)
            right = b[2]
            aicore = _num(right.split()[0]) if right.split() else None
            pairs = _PAIR.findall(right)
            mem = pairs[0] if pairs else None
            hbm = pairs[1] if len(pairs) > 1 else None
            rows.append(NpuRow(
                npu=int(first[0]), chip=int(b[0].split()[0]) if b[0].split() and b[0].split()[0].isdigit() else 0,
                name=" ".join(first[1:]), health=a[1], bus_id=normalize_bus_id(b[1]),
                power_w=power, temp_c=temp, aicore_pct=aicore,
                mem_used_mb=float(mem[0]) if mem else None, mem_total_mb=float(mem[1]) if mem else None,
                hbm_used_mb=float(hbm[0]) if hbm else None, hbm_total_mb=float(hbm[1]) if hbm else None,
            ))
            i += 2
            continue
        i += 1
    if not rows:
        raise NpuSmiError("npu-smi info printed no NPU table rows")
    return rows


def parse_key_values(text: str) -> dict[str, str]:
    """`  Key Name (unit)   : value` lines -> {key: value} (first occurrence wins)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key and key not in out:
            out[key] = value
    return out


@register_collector("ascend")
class AscendCollector:
    """All NPUs of one node through npu-smi; `details=True` adds the per-card `-t` queries (ECC, clock)."""

    name = "ascend"

    def __init__(self, node: str, run: Runner = run_command, npu_smi: str = "npu-smi", timeout_s: float = 5.0,
                 details: bool = True, clock: Callable[[], float] = time.time) -> None:
        self.node = node
        self.run = run
        self.npu_smi = npu_smi
        self.timeout_s = timeout_s
        self.details = details
        self.clock = clock

    def collect(self) -> Reading:
        at = self.clock()
        try:
            rows = parse_info_table(self.run([self.npu_smi, "info"], self.timeout_s))
        except NpuSmiError as exc:
            return Reading(self.name, at, errors=(str(exc),))
        except Exception as exc:  # a runner that fails in an unforeseen way must not stop the agent
            return Reading(self.name, at, errors=(f"npu-smi info: {exc}",))
        cards = []
        for idx, row in enumerate(rows):
            vals: dict[str, float] = {}
            extra: dict[str, float] = {"health_level": float(HEALTH_LEVEL.get(row.health.upper(), 3))}
            errors: list[str] = []
            for key, value in (("power_w", row.power_w), ("temp_c", row.temp_c), ("gpu_util_pct", row.aicore_pct)):
                if value is not None:
                    vals[key] = value
            used = row.hbm_used_mb if row.hbm_used_mb is not None else row.mem_used_mb
            if used is not None:
                vals["mem_used_mib"] = used
            if self.details:
                self._details(row.npu, vals, extra, errors)
            card = Card(node=self.node, index=idx, bus_id=row.bus_id, vendor="huawei", model=row.name or None)
            cards.append(CardReading(card=card, values=vals, extra=extra, errors=tuple(errors),
                                     lost=row.health.upper() not in HEALTH_LEVEL))
        return Reading(self.name, at, cards=tuple(cards))

    def _details(self, npu: int, vals: dict[str, float], extra: dict[str, float], errors: list[str]) -> None:
        queries = {
            "health": [self.npu_smi, "info", "-t", "health", "-i", str(npu), "-c", "0"],
            "common": [self.npu_smi, "info", "-t", "common", "-i", str(npu)],
            "ecc": [self.npu_smi, "info", "-t", "ecc", "-i", str(npu)],
        }
        for kind, argv in queries.items():
            try:
                kv = parse_key_values(self.run(argv, self.timeout_s))
            except Exception as exc:
                errors.append(f"npu-smi -t {kind} -i {npu}: {exc}")
                continue
            if kind == "health":
                status = kv.get("Health Status", "").upper()
                if status:
                    extra["health_level"] = float(HEALTH_LEVEL.get(status, 3))
                code = kv.get("Error Code", "NA")
                if code not in ("NA", ""):
                    extra["error_code"] = float(int(code, 16)) if re.fullmatch(r"(0x)?[0-9A-Fa-f]+", code) else -1.0
            elif kind == "common":
                for key, name in (("Aicore curFreq(MHZ)", "sm_clock_mhz"), ("Temperature(C)", "temp_c"),
                                  ("NPU Real-time Power(W)", "power_w"), ("Aicore Usage Rate(%)", "gpu_util_pct")):
                    value = _num(kv.get(key, ""))
                    if value is not None:
                        vals[name] = value
                rated = _num(kv.get("Aicore Freq(MHZ)", ""))
                if rated is not None:
                    extra["aicore_rated_mhz"] = rated
            elif kind == "ecc":
                sbe = _num(kv.get("HBM Single Bit Error Count", ""))
                dbe = _num(kv.get("HBM Double Bit Error Count", ""))
                if sbe is None and dbe is None:
                    errors.append(f"npu-smi -t ecc -i {npu}: no HBM error counts in the output")
                if sbe is not None:
                    vals["ecc_sbe_total"] = sbe
                if dbe is not None:
                    vals["ecc_dbe_total"] = dbe
                pages = _num(kv.get("HBM Double Bit Isolated Pages Count", ""))
                if pages is not None:
                    extra["isolated_pages_dbe"] = pages
