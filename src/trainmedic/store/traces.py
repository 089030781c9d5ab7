"""Readers for the real fault traces the store imports and the escalation replay evaluates:
InfiniteHBD (per-node fault episodes on a 400-server LLM cluster) and ORNL Titan (per-GPU lives and
their DBE/off-the-bus failures). Both become `Trace`: episodes (device, node, start, end, class) and,
for Titan, card installations.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from trainmedic.model import Component
from trainmedic.store.errors import StoreError

# The InfiniteHBD README: "348 days of fault data starting from March 30, 2024"; times are days from then.
HBD_EPOCH = datetime(2024, 3, 30, tzinfo=UTC).timestamp()
HBD_FLEET_NODES = 400
TITAN_MODEL = "Tesla K20X"
DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Episode:
    """One fault of a device: it went down at `start` and came back at `end` (None: not in the trace)."""

    device: str
    node: str
    start: float
    end: float | None
    component: Component
    fault: str
    title: str


@dataclass(frozen=True, slots=True)
class Install:
    """A card's life in one slot (Titan): installed at `at`, removed at `removed` (None: still there)."""

    serial: str
    node: str
    at: float
    removed: float | None
    failed: bool
    bursts: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Trace:
    """A real fault trace: `devices` is 'node' (InfiniteHBD) or 'card' (Titan)."""

    name: str
    devices: str
    episodes: tuple[Episode, ...]
    installs: tuple[Install, ...]
    start: float
    end: float
    fleet_nodes: int


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def hbd_component(cls: str, desc: str) -> Component:
    """Map an InfiniteHBD operator class/description to a trainmedic component."""
    d = desc.lower()
    if cls == "GPU":
        if "ecc" in d:
            return Component.MEMORY
        if "pci" in d:
            return Component.PCIE
        if "p2p" in d:
            return Component.INTERCONNECT
        return Component.ACCELERATOR
    return {
        "Parameter Plane Cable": Component.NETWORK,
        "NIC": Component.NIC,
        "Power Supply": Component.HOST,
        "Fan": Component.HOST,
        "Motherboard": Component.HOST,
        "Motherboard Battery": Component.HOST,
        "CPU": Component.HOST,
        "RAID Card": Component.STORAGE,
        "Riser Card": Component.PCIE,
        "File System": Component.STORAGE,
        "Software Tool": Component.SOFTWARE,
        "Operating System": Component.SOFTWARE,
        "Firmware": Component.DRIVER,
        "System Crash": Component.HOST,
    }.get(cls, Component.UNKNOWN)


def read_infinitehbd(path: Path) -> Trace:
    """Episodes from InfiniteHBD's fault_trace*.json (a file, or the folder holding one)."""
    if path.is_dir():
        files = sorted(path.glob("fault_trace*.json"))
        if not files:
            raise StoreError(f"no fault_trace*.json in {path}", "point at the InfiniteHBD trace folder or file")
        path = files[0]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise StoreError(f"cannot read the InfiniteHBD trace {path}: {e}") from e
    open_: dict[str, tuple[float, dict[str, str]]] = {}
    episodes: list[Episode] = []
    last = 0.0

    def episode(node: str, start: float, end: float | None, ft: dict[str, str]) -> Episode:
        comp = hbd_component(ft.get("Class", ""), ft.get("Desc", ""))
        title = f"{ft.get('Class', '?')}: {ft.get('Desc', '?')}"
        return Episode(node, node, start, end, comp, f"hbd.{_slug(ft.get('Class', ''))}.{_slug(ft.get('Desc', ''))}", title)

    for i, item in enumerate(data, start=1):
        try:
            node = "hbd-" + str(item["node_id"])[:8]
            t = HBD_EPOCH + float(item["event_time"]) * DAY_S
            kind = item["event_type"]
            ft = item["fault_type"]
        except (KeyError, TypeError, ValueError) as err:
            raise StoreError(f"{path}: event {i}: missing or bad field ({err})") from err
        last = max(last, t)
        if kind == "fault_start":
            if node in open_:
                s, sft = open_.pop(node)
                episodes.append(episode(node, s, None, sft))
            open_[node] = (t, ft)
        elif kind == "fault_end" and node in open_:
            s, sft = open_.pop(node)
            episodes.append(episode(node, s, t, sft))
    for node, (s, sft) in open_.items():
        episodes.append(episode(node, s, None, sft))
    episodes.sort(key=lambda ep: (ep.start, ep.device))
    return Trace("infinitehbd", "node", tuple(episodes), (), HBD_EPOCH, last, HBD_FLEET_NODES)


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def read_titan(path: Path, limit: int | None = None) -> Trace:
    """Card lives and failures from Titan's gc_full.csv (a file, or the folder holding data_gc_full.csv).

    Each row with an insert time is one life of a GPU (serial) in a slot (location); a life ending in
    DBE or OTB is a failure. Rows without an insert time repeat the failure of the open life (bursts).
    `limit` reads only the first rows (tests).
    """
    if path.is_dir():
        path = path / "data_gc_full.csv"
    lives: list[dict[str, object]] = []
    bursts: dict[tuple[str, str], list[float]] = {}
    end = 0.0
    start = float("inf")
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            for n, row in enumerate(csv.DictReader(fh), start=2):
                if limit is not None and n > limit + 1:
                    break
                try:
                    sn, loc, ev = row["SN"].strip(), row["location"].strip(), row["event"].strip()
                    removed = _ts(row["remove"]) if row["remove"] else None
                    if not row["insert"]:
                        if ev and removed is not None:
                            bursts.setdefault((sn, loc), []).append(removed)
                        continue
                    at = _ts(row["insert"])
                except (KeyError, ValueError, AttributeError) as err:
                    raise StoreError(f"{path}: row {n}: missing or bad field ({err})") from err
                start = min(start, at)
                end = max(end, removed or at)
                lives.append({"sn": sn, "loc": loc, "at": at, "removed": removed, "event": ev})
    except OSError as e:
        raise StoreError(f"cannot read the Titan trace {path}: {e}") from e
    installs: list[Install] = []
    episodes: list[Episode] = []
    for life in lives:
        sn, loc, ev = str(life["sn"]), str(life["loc"]), str(life["event"])
        at = float(life["at"])  # type: ignore[arg-type]
        gone = life["removed"]
        # The trace's last day is its cut-off: a life "removed" then was still running.
        rem = None if gone is None or (float(gone) >= end and not ev) else float(gone)  # type: ignore[arg-type]
        b = tuple(t for t in bursts.get((sn, loc), ()) if at <= t <= (rem or end))
        installs.append(Install(sn, loc, at, rem, bool(ev), b))
        if ev and rem is not None:
            comp = Component.MEMORY if ev == "DBE" else Component.PCIE
            title = "double-bit ECC error" if ev == "DBE" else "GPU off the bus"
            episodes.append(Episode(sn, loc, rem, None, comp, f"titan.{ev.lower()}", title))
    # A failed card's episode ends when it is installed again somewhere (repaired and back in service).
    by_sn: dict[str, list[Install]] = {}
    for ins in installs:
        by_sn.setdefault(ins.serial, []).append(ins)
    for lst in by_sn.values():
        lst.sort(key=lambda i: i.at)
    fixed = []
    for ep in episodes:
        nxt = next((i.at for i in by_sn[ep.device] if i.at >= ep.start), None)
        fixed.append(Episode(ep.device, ep.node, ep.start, nxt, ep.component, ep.fault, ep.title))
    fixed.sort(key=lambda ep: (ep.start, ep.device))
    installs.sort(key=lambda i: (i.at, i.serial))
    nodes = len({i.node for i in installs})
    return Trace("titan", "card", tuple(fixed), tuple(installs), start if lives else 0.0, end, nodes)


def read_trace(kind: str, path: Path, limit: int | None = None) -> Trace:
    """`kind` 'infinitehbd' or 'titan'."""
    if kind == "infinitehbd":
        return read_infinitehbd(path)
    if kind == "titan":
        return read_titan(path, limit)
    raise StoreError(f"unknown trace kind {kind!r}", "use infinitehbd or titan")
