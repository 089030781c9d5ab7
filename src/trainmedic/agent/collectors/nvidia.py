"""NVIDIA adapter through NVML (the `nvidia-ml-py` package, imported as `pynvml`).

Reads utilization, memory, temperatures, power, clocks and clock event (throttle) reasons, ECC
counters, retired pages and remapped rows, PCIe generation/width/replays, NVLink state and errors,
the GPU recovery action field, Xid events (an NVML event set), and card identity (bus id, UUID,
serial). The NVML module is injected (`nvml=`) so tests replay recorded responses; here it has only
been checked against recorded responses (see docs/agent.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from trainmedic.agent.busid import normalize_bus_id
from trainmedic.agent.collectors.base import CardReading, DeviceEvent, Reading, register_collector
from trainmedic.model import Card

RECOVERY_ACTIONS = {0: "none", 1: "gpu_reset", 2: "node_reboot", 3: "drain_p2p", 4: "drain_and_reset", 5: "recover_imex_domain", 6: "bus_reset", 7: "system_reboot"}
XID_EVENT = 0x8  # nvmlEventTypeXidCriticalError


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


@register_collector("nvidia")
class NvidiaCollector:
    """All NVIDIA cards of one node through NVML; each metric read on its own so one failure loses one value."""

    name = "nvidia"

    def __init__(self, node: str, nvml: Any = None, clock: Callable[[], float] = time.time, nvlinks: int = 18) -> None:
        self.node = node
        self.clock = clock
        self.nvlinks = nvlinks
        self._nvml = nvml
        self._handles: list[Any] = []
        self._cards: list[Card] = []
        self._events: Any = None
        self._ready = False
        self._init_error = ""

    def _nv(self) -> Any:
        if self._nvml is None:
            import pynvml  # only the agent imports NVML, and only when the nvidia collector runs

            self._nvml = pynvml
        return self._nvml

    def _start(self) -> None:
        nv = self._nv()
        nv.nvmlInit()
        count = nv.nvmlDeviceGetCount()
        self._handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        self._cards = [self._identity(i, h) for i, h in enumerate(self._handles)]
        try:
            self._events = nv.nvmlEventSetCreate()
            for h in self._handles:
                nv.nvmlDeviceRegisterEvents(h, XID_EVENT, self._events)
        except Exception as exc:  # events are optional: some drivers or containers refuse them
            self._events = None
            self._init_error = f"NVML Xid events unavailable: {exc}"
        self._ready = True

    def _identity(self, index: int, h: Any) -> Card:
        nv = self._nv()

        def get(fn: str) -> str | None:
            try:
                return _text(getattr(nv, fn)(h))
            except Exception:
                return None

        bus = None
        try:
            bus = normalize_bus_id(_text(nv.nvmlDeviceGetPciInfo(h).busId))
        except Exception:
            bus = None
        return Card(node=self.node, index=index, bus_id=bus, uuid=get("nvmlDeviceGetUUID"),
                    serial=get("nvmlDeviceGetSerial"), vendor="nvidia", model=get("nvmlDeviceGetName"))

    @property
    def cards(self) -> list[Card]:
        return list(self._cards)

    def collect(self) -> Reading:
        at = self.clock()
        if not self._ready:
            try:
                self._start()
            except Exception as exc:
                return Reading(self.name, at, errors=(f"NVML could not start: {exc}; is the NVIDIA driver loaded?",))
        cards = tuple(self._read(i, h) for i, h in enumerate(self._handles))
        events = self._drain_events(at)
        errors = tuple(e for e in (self._init_error,) if e)
        return Reading(self.name, at, cards=cards, events=events, errors=errors)

    def _read(self, i: int, h: Any) -> CardReading:
        nv = self._nv()
        vals: dict[str, float] = {}
        extra: dict[str, float] = {}
        errors: list[str] = []
        lost = False

        def read(label: str, fn: Callable[[], Any]) -> Any:
            nonlocal lost
            if lost:
                return None
            try:
                return fn()
            except Exception as exc:
                code = getattr(exc, "value", None)
                if code == getattr(nv, "NVML_ERROR_NOT_SUPPORTED", 3):
                    return None
                if code == getattr(nv, "NVML_ERROR_GPU_IS_LOST", 15):
                    lost = True
                errors.append(f"{label}: {exc}")
                return None

        util = read("utilization", lambda: nv.nvmlDeviceGetUtilizationRates(h))
        if util is not None:
            vals["gpu_util_pct"], vals["mem_util_pct"] = float(util.gpu), float(util.memory)
        mem = read("memory", lambda: nv.nvmlDeviceGetMemoryInfo(h))
        if mem is not None:
            vals["mem_used_mib"] = mem.used / 2**20
            extra["mem_total_mib"] = mem.total / 2**20
        self._put(vals, "power_w", read("power", lambda: nv.nvmlDeviceGetPowerUsage(h)), 1e-3)
        self._put(vals, "temp_c", read("temperature", lambda: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)))
        self._put(vals, "sm_clock_mhz", read("sm clock", lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM)))
        self._put(extra, "mem_clock_mhz", read("mem clock", lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM)))
        self._put(vals, "throttle_reasons", read("clock event reasons", lambda: nv.nvmlDeviceGetCurrentClocksEventReasons(h)))
        self._put(vals, "pcie_gen", read("pcie gen", lambda: nv.nvmlDeviceGetCurrPcieLinkGeneration(h)))
        self._put(vals, "pcie_width", read("pcie width", lambda: nv.nvmlDeviceGetCurrPcieLinkWidth(h)))
        self._put(extra, "pcie_gen_max", read("pcie max gen", lambda: nv.nvmlDeviceGetMaxPcieLinkGeneration(h)))
        self._put(extra, "pcie_width_max", read("pcie max width", lambda: nv.nvmlDeviceGetMaxPcieLinkWidth(h)))
        self._put(vals, "pcie_replay_total", read("pcie replays", lambda: nv.nvmlDeviceGetPcieReplayCounter(h)))
        self._put(vals, "ecc_sbe_total", read("ecc corrected", lambda: nv.nvmlDeviceGetTotalEccErrors(
            h, nv.NVML_MEMORY_ERROR_TYPE_CORRECTED, nv.NVML_VOLATILE_ECC)))
        self._put(vals, "ecc_dbe_total", read("ecc uncorrected", lambda: nv.nvmlDeviceGetTotalEccErrors(
            h, nv.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nv.NVML_VOLATILE_ECC)))
        rows = read("remapped rows", lambda: nv.nvmlDeviceGetRemappedRows(h))
        if rows is not None:
            corr, unc, pending, failure = rows
            extra.update(remapped_rows_correctable=corr, remapped_rows_uncorrectable=unc, remap_pending=pending)
            vals["remap_failure"] = float(failure)
        pages = read("retired pages", lambda: nv.nvmlDeviceGetRetiredPages(h, nv.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR))
        if pages is not None:
            extra["retired_pages_dbe"] = float(len(pages))
        fields = read("field values", lambda: nv.nvmlDeviceGetFieldValues(
            h, [nv.NVML_FI_DEV_GET_GPU_RECOVERY_ACTION, nv.NVML_FI_DEV_MEMORY_TEMP]))
        if fields is not None:
            for key, fv in zip(("recovery_action", "mem_temp_c"), fields, strict=False):
                if getattr(fv, "nvmlReturn", 1) == 0:
                    (extra if key == "recovery_action" else vals)[key] = float(fv.value.uiVal)
        self._nvlink(h, vals, extra, read)
        return CardReading(card=self._cards[i], values=vals, extra=extra, errors=tuple(errors), lost=lost)

    def _nvlink(self, h: Any, vals: dict[str, float], extra: dict[str, float], read: Callable[[str, Callable[[], Any]], Any]) -> None:
        nv = self._nv()
        up = errs = 0
        seen = False
        for link in range(self.nvlinks):
            state = read(f"nvlink {link} state", partial(nv.nvmlDeviceGetNvLinkState, h, link))
            if state is None:
                break  # links are numbered from 0: the first unsupported one ends the list
            seen = True
            up += int(state == 1)
            for counter in (nv.NVML_NVLINK_ERROR_DL_CRC_FLIT, nv.NVML_NVLINK_ERROR_DL_REPLAY, nv.NVML_NVLINK_ERROR_DL_RECOVERY):
                n = read(f"nvlink {link} errors", partial(nv.nvmlDeviceGetNvLinkErrorCounter, h, link, counter))
                errs += int(n or 0)
        if seen:
            extra["nvlink_links_up"] = float(up)
            vals["nvlink_err_total"] = float(errs)

    @staticmethod
    def _put(d: dict[str, float], key: str, value: Any, scale: float = 1.0) -> None:
        if value is not None:
            d[key] = float(value) * scale

    def _drain_events(self, at: float) -> tuple[DeviceEvent, ...]:
        """Pending Xid events, without waiting (timeout 0): NVML raises Timeout when there are none."""
        if self._events is None:
            return ()
        nv = self._nv()
        out = []
        for _ in range(1000):  # bounded: an Xid storm must not stall sampling
            try:
                data = nv.nvmlEventSetWait_v2(self._events, 0)
            except Exception:
                break
            index = next((i for i, h in enumerate(self._handles) if h == data.device), None)
            bus = self._cards[index].bus_id if index is not None else None
            xid = int(data.eventData)
            out.append(DeviceEvent(card_index=index, bus_id=bus, code=xid, text=f"Xid {xid} reported through NVML", at=at))
        return tuple(out)


def recovery_action_name(value: float | None) -> str | None:
    """The NVML GPU recovery action code as a word (none, gpu_reset, node_reboot, ...)."""
    if value is None:
        return None
    return RECOVERY_ACTIONS.get(int(value), f"unknown({int(value)})")
