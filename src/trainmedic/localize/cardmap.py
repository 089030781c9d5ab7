"""rank -> node -> card: which physical card (bus id, UUID, serial) a rank ran on.

Built from whatever a job left behind: per-node card inventories (`nvidia-smi
--query-gpu=index,pci.bus_id,serial,uuid --format=csv`, `npu-smi info`), a rank map JSON
(`trainmedic run` metadata), and hints in the rank logs themselves (NCCL "Init COMPLETE ... busId",
CUDA_VISIBLE_DEVICES / ASCEND_RT_VISIBLE_DEVICES). Used by diagnose offline and by the launcher live:

    cm = CardMap()
    cm.add_nvidia_smi_csv("node0001", csv_text)
    loc = cm.locate(rank=12, node="node0001", local_rank=4, bus_hint="9a000")
    card = cm.by_bus("node0001", "0000:9A:00")            # an Xid line's bus id -> the card
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from trainmedic.model import Card, RankLocation

_BUS = re.compile(
    r"^(?:(?P<dom>[0-9a-fA-F]{1,8}):)?(?P<bus>[0-9a-fA-F]{1,2}):(?P<dev>[0-9a-fA-F]{1,2})(?:\.(?P<fn>[0-7]))?$"
)


@functools.lru_cache(maxsize=4096)
def normalize_bus_id(text: str | None) -> str | None:
    """One spelling for a PCI address: "00000000:18:00.0", "0000:18:00", "18:00.0" and NCCL's
    "18000" all become "0000:18:00.0". None when `text` is not a bus id. Cached: every node of a
    job repeats the same few addresses."""
    if not text:
        return None
    s = text.strip().removeprefix("PCI:").removeprefix("pci:")
    m = _BUS.match(s)
    if m is not None:
        dom = int(m.group("dom") or "0", 16)
        return f"{dom:04x}:{int(m.group('bus'), 16):02x}:{int(m.group('dev'), 16):02x}.{m.group('fn') or '0'}"
    if re.fullmatch(r"[0-9a-fA-F]{4,13}", s):  # NCCL prints the address as hex digits run together
        fn = int(s[-1], 16)
        dev = int(s[-3:-1], 16)
        bus = int(s[-5:-3], 16)
        dom = int(s[:-5] or "0", 16)
        if fn > 7:
            return None
        return f"{dom:04x}:{bus:02x}:{dev:02x}.{fn}"
    return None


_NO_VALUE = frozenset({"", "[N/A]", "N/A", "[Not Supported]"})


def parse_nvidia_smi_csv(node: str, text: str) -> list[Card]:
    """Cards from `nvidia-smi --query-gpu=index,pci.bus_id,serial,uuid[,name] --format=csv[,noheader]`."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]
    if "index" in header:
        body = rows[1:]
    else:  # noheader: assume the documented query order
        header = ["index", "pci.bus_id", "serial", "uuid", "name"][: len(rows[0])]
        body = rows
    cols = {name: i for i, name in enumerate(header)}
    index = cols["index"]
    wanted = [cols.get(name) for name in ("pci.bus_id", "uuid", "serial", "name")]
    cards: list[Card] = []
    for row in body:
        cells = [c.strip() for c in row]
        if len(cells) < len(header) or not cells[index].isdigit():
            continue
        bus_id, uuid, serial, model = [None if i is None or cells[i] in _NO_VALUE else cells[i] for i in wanted]
        cards.append(
            Card(
                node=node, index=int(cells[index]), bus_id=bus_id, uuid=uuid, serial=serial, vendor="nvidia", model=model
            )
        )
    return cards


_NPU_ROW = re.compile(r"^\|\s*(?P<npu>\d+)\s+(?P<name>[\w.-]+)\s*\|.*$")
_NPU_BUS = re.compile(r"^\|\s*(?P<chip>\d+)\s*\|\s*(?P<bus>[0-9A-Fa-f]{4}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.\d)\s*\|")


def parse_npu_smi(node: str, text: str) -> list[Card]:
    """Cards from `npu-smi info`: each NPU row is followed by its chip row carrying the bus id."""
    cards: list[Card] = []
    pending: tuple[int, str] | None = None
    for line in text.splitlines():
        m = _NPU_ROW.match(line)
        if m is not None and "NPU" not in line and "Name" not in line:
            pending = (int(m.group("npu")), m.group("name"))
            continue
        b = _NPU_BUS.match(line)
        if b is not None and pending is not None:
            cards.append(
                Card(node=node, index=pending[0], bus_id=b.group("bus"), vendor="huawei", model=pending[1])
            )
            pending = None
    return cards


@dataclass(slots=True)
class CardMap:
    """Card inventories per node plus explicit rank placements; answers rank -> card and bus -> card.

    A node's inventory text is parsed when the node is first asked about: a job leaves one per node
    (thousands) and a diagnosis asks about a few."""

    cards: dict[str, dict[int, Card]] = field(default_factory=dict)
    """node -> index -> card, for the nodes read so far."""
    _by_bus: dict[tuple[str, str], Card] = field(default_factory=dict)
    ranks: dict[int, RankLocation] = field(default_factory=dict)
    _unread: dict[str, list[tuple[Callable[[str, str], list[Card]], str]]] = field(default_factory=dict)
    """node -> inventories not parsed yet (parser, text), in the order they were added."""

    def add_cards(self, cards: list[Card]) -> None:
        for c in cards:
            self._read(c.node)  # an inventory added earlier goes first, as if it had been read then
            self.cards.setdefault(c.node, {})[c.index] = c
            bus = normalize_bus_id(c.bus_id)
            if bus:
                self._by_bus[(c.node, bus)] = c

    def add_nvidia_smi_csv(self, node: str, text: str) -> None:
        self._unread.setdefault(node, []).append((parse_nvidia_smi_csv, text))

    def add_npu_smi(self, node: str, text: str) -> None:
        self._unread.setdefault(node, []).append((parse_npu_smi, text))

    def _read(self, node: str) -> None:
        for parse, text in self._unread.pop(node, ()):
            self.add_cards(parse(node, text))

    def add_rank_map(self, text: str) -> int:
        """A JSON rank map: `{"ranks": [{"rank", "node", "local_rank", "card": {...}}]}` or a bare list.
        Returns how many ranks it placed (0 when the text is not a rank map)."""
        try:
            doc = json.loads(text)
        except ValueError:
            return 0
        items = doc.get("ranks") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            return 0
        n = 0
        for it in items:
            if not isinstance(it, dict) or "rank" not in it or "node" not in it:
                continue
            c = it.get("card") or {}
            local = int(it.get("local_rank", c.get("index", 0)))
            card = Card(
                node=str(it["node"]),
                index=int(c.get("index", local)),
                bus_id=c.get("bus_id"),
                uuid=c.get("uuid"),
                serial=c.get("serial"),
            )
            self.ranks[int(it["rank"])] = RankLocation(int(it["rank"]), str(it["node"]), local, card)
            self.add_cards([card])
            n += 1
        return n

    def by_bus(self, node: str, bus_id: str | None) -> Card | None:
        """The card at `bus_id` on `node` (any spelling of the address), or None."""
        bus = normalize_bus_id(bus_id)
        if bus is None:
            return None
        self._read(node)
        card = self._by_bus.get((node, bus))
        if card is None and bus.endswith(".0"):
            card = self._by_bus.get((node, bus[:-1] + "0"))
        return card

    def device_index(self, local_rank: int, visible: str | None = None) -> int:
        """The physical device index a local rank uses: its slot in *_VISIBLE_DEVICES, else itself."""
        if visible:
            devs = [d for d in visible.split(",") if d.strip().isdigit()]
            if len(devs) == 1:
                return int(devs[0])
            if 0 <= local_rank < len(devs):
                return int(devs[local_rank])
        return local_rank

    def card_for(
        self, node: str, local_rank: int, visible: str | None = None, bus_hint: str | None = None
    ) -> Card:
        """The card a rank used: by its bus id when the log gave one, else by device index; always a Card
        (with only node and index when no inventory covers the node)."""
        if bus_hint:
            card = self.by_bus(node, bus_hint)
            if card is not None:
                return card
        index = self.device_index(local_rank, visible)
        self._read(node)
        card = self.cards.get(node, {}).get(index)
        if card is not None:
            return card
        return Card(node=node, index=index, bus_id=_display_bus(bus_hint))

    def locate(
        self,
        rank: int,
        node: str,
        local_rank: int,
        visible: str | None = None,
        bus_hint: str | None = None,
    ) -> RankLocation:
        """rank -> node -> local rank -> card (an explicit rank map wins over inference)."""
        known = self.ranks.get(rank)
        if known is not None:
            return known
        return RankLocation(rank, node, local_rank, self.card_for(node, local_rank, visible, bus_hint))

    def local_rank_of(self, node: str, card: Card, visible: str | None = None) -> int:
        """The local rank that drives `card` (inverse of device_index)."""
        if visible:
            devs = [int(d) for d in visible.split(",") if d.strip().isdigit()]
            if len(devs) > 1 and card.index in devs:
                return devs.index(card.index)
        return card.index


def _display_bus(bus_hint: str | None) -> str | None:
    norm = normalize_bus_id(bus_hint)
    if norm is None:
        return None
    dom, rest = norm.split(":", 1)
    return f"{int(dom, 16):08X}:{rest.upper()}"
