"""Map a rank's local slot to its card: visible-device list -> device index -> bus id, uuid, serial.

Used by the launcher on its own node. NVIDIA identity comes from `nvidia-smi` (a subprocess, so the
launcher needs no NVML binding); on a CPU-only node the card is the local slot.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from trainmedic.model import Card

SMI_QUERY = ("nvidia-smi", "--query-gpu=index,pci.bus_id,uuid,serial,name", "--format=csv,noheader")


def run_nvidia_smi() -> str | None:
    """`nvidia-smi` CSV output, or None when there is no NVIDIA tool or it fails."""
    if shutil.which(SMI_QUERY[0]) is None:
        return None
    try:
        out = subprocess.run(SMI_QUERY, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def parse_smi(text: str) -> dict[int, dict[str, str]]:
    """index -> {bus_id, uuid, serial, model} from `nvidia-smi --query-gpu=... --format=csv,noheader`."""
    cards: dict[int, dict[str, str]] = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 5 or not parts[0].isdigit():
            continue
        serial = parts[3] if parts[3] not in ("[N/A]", "N/A", "") else ""
        cards[int(parts[0])] = {"bus_id": parts[1], "uuid": parts[2], "serial": serial, "model": parts[4]}
    return cards


@dataclass(slots=True)
class DeviceMap:
    """Local rank -> Card on one node, queried once and cached."""

    node: str
    env: Mapping[str, str]
    query: Callable[[], str | None] = run_nvidia_smi
    _cards: dict[int, dict[str, str]] | None = field(default=None)

    def visible(self) -> list[str] | None:
        raw = self.env.get("CUDA_VISIBLE_DEVICES") or self.env.get("ASCEND_RT_VISIBLE_DEVICES")
        if raw is None or raw.strip() == "":
            return None
        return [p.strip() for p in raw.split(",") if p.strip()]

    def device_index(self, local_slot: int) -> int:
        """The physical device index behind local slot `local_slot` (the slot itself if not remapped)."""
        vis = self.visible()
        if vis and local_slot < len(vis) and vis[local_slot].isdigit():
            return int(vis[local_slot])
        return local_slot

    def card(self, local_slot: int) -> Card:
        if self._cards is None:
            text = self.query()
            self._cards = parse_smi(text) if text else {}
        index = self.device_index(local_slot)
        info = self._cards.get(index)
        if info is None:
            return Card(
                node=self.node, index=index, vendor=None, model="cpu-slot" if not self._cards else None
            )
        return Card(
            node=self.node,
            index=index,
            bus_id=info["bus_id"] or None,
            uuid=info["uuid"] or None,
            serial=info["serial"] or None,
            vendor="nvidia",
            model=info["model"] or None,
        )
