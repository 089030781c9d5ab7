"""A stand-in for the `pynvml` module that answers from recorded responses (a JSON file).

Used where no NVIDIA driver exists (this development machine, CI, the agent's CPU benchmark):
`trainmedic agent run --nvml-fixture FILE`, tests and benchmarks inject it as `NvidiaCollector(nvml=...)`.
It implements only the NVML calls the collector makes, with the real constants and error classes of
`pynvml`, so an error path here is the error path against a real driver. Mutate `devices[i]` (e.g.
`errors = {"*": 15}`, GPU is lost) to script a card that disappears mid-run.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml

# The constants the collector reads off the module.
_CONSTANTS = (
    "NVML_TEMPERATURE_GPU", "NVML_CLOCK_SM", "NVML_CLOCK_MEM", "NVML_MEMORY_ERROR_TYPE_CORRECTED",
    "NVML_MEMORY_ERROR_TYPE_UNCORRECTED", "NVML_VOLATILE_ECC", "NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR",
    "NVML_FI_DEV_GET_GPU_RECOVERY_ACTION", "NVML_FI_DEV_MEMORY_TEMP", "NVML_NVLINK_ERROR_DL_CRC_FLIT",
    "NVML_NVLINK_ERROR_DL_REPLAY", "NVML_NVLINK_ERROR_DL_RECOVERY", "NVML_ERROR_NOT_SUPPORTED",
    "NVML_ERROR_GPU_IS_LOST", "NVML_ERROR_TIMEOUT",
)


class RecordedNvml:
    """Module-like object: `nvmlDeviceGet...(handle)` answered from `devices[handle]`."""

    NVMLError = pynvml.NVMLError

    def __init__(self, data: dict[str, Any]) -> None:
        for name in _CONSTANTS:
            setattr(self, name, getattr(pynvml, name))
        self.data = data
        self.devices: list[dict[str, Any]] = data["devices"]
        self.pending_xids: list[dict[str, int]] = list(data.get("xid_events", []))
        self.calls = 0
        self.init_error: int | None = data.get("init_error")

    @classmethod
    def load(cls, path: Path) -> RecordedNvml:
        return cls(json.loads(Path(path).read_text()))

    def _dev(self, h: int, fn: str) -> dict[str, Any]:
        self.calls += 1
        dev = self.devices[h]
        errs = dev.get("errors", {})
        code = errs.get(fn, errs.get("*"))
        if code is not None:
            raise pynvml.NVMLError(int(code))
        return dev

    def _field(self, h: int, fn: str, key: str) -> Any:
        dev = self._dev(h, fn)
        if key not in dev:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return dev[key]

    # -- library ---------------------------------------------------------------------------------
    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise pynvml.NVMLError(int(self.init_error))

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        if not 0 <= i < len(self.devices):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return i

    # -- identity ----------------------------------------------------------------------------------
    def nvmlDeviceGetPciInfo(self, h: int) -> Any:
        return SimpleNamespace(busId=self._field(h, "nvmlDeviceGetPciInfo", "bus_id").encode())

    def nvmlDeviceGetUUID(self, h: int) -> str:
        return str(self._field(h, "nvmlDeviceGetUUID", "uuid"))

    def nvmlDeviceGetSerial(self, h: int) -> str:
        return str(self._field(h, "nvmlDeviceGetSerial", "serial"))

    def nvmlDeviceGetName(self, h: int) -> str:
        return str(self._field(h, "nvmlDeviceGetName", "name"))

    # -- metrics -----------------------------------------------------------------------------------
    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
        u = self._field(h, "nvmlDeviceGetUtilizationRates", "utilization")
        return SimpleNamespace(gpu=u["gpu"], memory=u["memory"])

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        m = self._field(h, "nvmlDeviceGetMemoryInfo", "memory")
        return SimpleNamespace(total=m["total"], used=m["used"], free=m["total"] - m["used"])

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        return int(self._field(h, "nvmlDeviceGetPowerUsage", "power_mw"))

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        return int(self._field(h, "nvmlDeviceGetTemperature", "temperature_c"))

    def nvmlDeviceGetClockInfo(self, h: int, clock: int) -> int:
        c = self._field(h, "nvmlDeviceGetClockInfo", "clocks")
        return int(c["sm"] if clock == pynvml.NVML_CLOCK_SM else c["mem"])

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: int) -> int:
        return int(self._field(h, "nvmlDeviceGetCurrentClocksEventReasons", "clock_event_reasons"))

    def nvmlDeviceGetCurrPcieLinkGeneration(self, h: int) -> int:
        return int(self._field(h, "nvmlDeviceGetCurrPcieLinkGeneration", "pcie")["gen"])

    def nvmlDeviceGetCurrPcieLinkWidth(self, h: int) -> int:
        return int(self._field(h, "nvmlDeviceGetCurrPcieLinkWidth", "pcie")["width"])

    def nvmlDeviceGetMaxPcieLinkGeneration(self, h: int) -> int:
        return int(self._field(h, "nvmlDeviceGetMaxPcieLinkGeneration", "pcie")["max_gen"])

    def nvmlDeviceGetMaxPcieLinkWidth(self, h: int) -> int:
        return int(self._field(h, "nvmlDeviceGetMaxPcieLinkWidth", "pcie")["max_width"])

    def nvmlDeviceGetPcieReplayCounter(self, h: int) -> int:
        return int(self._field(h, "nvmlDeviceGetPcieReplayCounter", "pcie")["replay"])

    def nvmlDeviceGetTotalEccErrors(self, h: int, kind: int, counter: int) -> int:
        e = self._field(h, "nvmlDeviceGetTotalEccErrors", "ecc")
        return int(e["corrected_volatile"] if kind == pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED else e["uncorrected_volatile"])

    def nvmlDeviceGetRemappedRows(self, h: int) -> tuple[int, int, int, int]:
        r = self._field(h, "nvmlDeviceGetRemappedRows", "remapped_rows")
        return (int(r[0]), int(r[1]), int(r[2]), int(r[3]))

    def nvmlDeviceGetRetiredPages(self, h: int, cause: int) -> list[int]:
        return list(self._field(h, "nvmlDeviceGetRetiredPages", "retired_pages_dbe"))

    def nvmlDeviceGetFieldValues(self, h: int, field_ids: list[int]) -> list[Any]:
        dev = self._dev(h, "nvmlDeviceGetFieldValues")
        out = []
        for fid in field_ids:
            key = {pynvml.NVML_FI_DEV_GET_GPU_RECOVERY_ACTION: "recovery_action", pynvml.NVML_FI_DEV_MEMORY_TEMP: "mem_temp_c"}.get(fid)
            value = dev.get(key) if key is not None else None
            out.append(SimpleNamespace(
                fieldId=fid,
                nvmlReturn=0 if value is not None else pynvml.NVML_ERROR_NOT_SUPPORTED,
                value=SimpleNamespace(uiVal=int(value) if value is not None else 0),
            ))
        return out

    def nvmlDeviceGetNvLinkState(self, h: int, link: int) -> int:
        nv = self._field(h, "nvmlDeviceGetNvLinkState", "nvlink")
        if link >= nv["links"]:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return int(nv.get("state", [1] * nv["links"])[link])

    def nvmlDeviceGetNvLinkErrorCounter(self, h: int, link: int, counter: int) -> int:
        nv = self._field(h, "nvmlDeviceGetNvLinkErrorCounter", "nvlink")
        name = {pynvml.NVML_NVLINK_ERROR_DL_CRC_FLIT: "crc_flit", pynvml.NVML_NVLINK_ERROR_DL_REPLAY: "replay",
                pynvml.NVML_NVLINK_ERROR_DL_RECOVERY: "recovery"}[counter]
        per_link = nv.get("errors", {}).get(name, 0)
        return int(per_link[link] if isinstance(per_link, list) else (per_link if link == 0 else 0))

    # -- events ------------------------------------------------------------------------------------
    def nvmlEventSetCreate(self) -> str:
        return "eventset"

    def nvmlDeviceRegisterEvents(self, h: int, mask: int, event_set: Any) -> None:
        self._dev(h, "nvmlDeviceRegisterEvents")

    def nvmlEventSetWait_v2(self, event_set: Any, timeout_ms: int) -> Any:
        if not self.pending_xids:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_TIMEOUT)
        ev = self.pending_xids.pop(0)
        return SimpleNamespace(device=int(ev["device"]), eventType=0x8, eventData=int(ev["xid"]))
