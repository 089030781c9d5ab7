"""rank -> node -> card from nvidia-smi captures, npu-smi, rank maps and log hints."""

from __future__ import annotations

from trainmedic.localize.cardmap import CardMap, normalize_bus_id, parse_npu_smi

SMI = """index, pci.bus_id, serial, uuid
0, 00000000:18:00.0, 1324021014567, GPU-aaaa
1, 00000000:2A:00.0, 1324021014568, GPU-bbbb
2, 00000000:3A:00.0, [N/A], GPU-cccc
"""


def test_every_spelling_of_a_bus_id_is_one_address() -> None:
    want = "0000:2a:00.0"
    for s in ("00000000:2A:00.0", "0000:2a:00", "PCI:0000:2a:00", "2a:00.0", "2a000"):
        assert normalize_bus_id(s) == want, s
    assert normalize_bus_id("not a bus") is None


def test_an_xid_bus_id_finds_its_card_and_a_rank_finds_its_card_through_visible_devices() -> None:
    cm = CardMap()
    cm.add_nvidia_smi_csv("n1", SMI)
    assert cm.by_bus("n1", "PCI:0000:2a:00").serial == "1324021014568"  # type: ignore[union-attr]
    loc = cm.locate(rank=5, node="n1", local_rank=0, visible="2,1")
    assert loc.card is not None and loc.card.uuid == "GPU-cccc" and loc.card.serial is None
    assert cm.locate(rank=6, node="n1", local_rank=1, bus_hint="18000").card.uuid == "GPU-aaaa"  # type: ignore[union-attr]


def test_without_an_inventory_the_card_still_carries_the_bus_id_the_log_gave() -> None:
    loc = CardMap().locate(rank=3, node="n9", local_rank=3, bus_hint="5d000")
    assert loc.card is not None and loc.card.bus_id == "00000000:5D:00.0" and loc.card.index == 3


def test_a_rank_map_wins_over_inference() -> None:
    cm = CardMap()
    assert cm.add_rank_map('{"ranks": [{"rank": 7, "node": "nx", "local_rank": 3, "card": {"serial": "S7"}}]}') == 1
    loc = cm.locate(rank=7, node="other", local_rank=0)
    assert loc.node == "nx" and loc.card is not None and loc.card.serial == "S7"


def test_npu_smi_info_gives_ascend_cards_with_bus_ids() -> None:
    text = """+------------------------------------------------------------------------------------------------+
| npu-smi 23.0.rc2                 Version: 23.0.rc2                                              |
+---------------------------+---------------+----------------------------------------------------+
| NPU   Name                | Health        | Power(W)    Temp(C)           Hugepages-Usage(page)|
| Chip                      | Bus-Id        | AICore(%)   Memory-Usage(MB)  HBM-Usage(MB)        |
+===========================+===============+====================================================+
| 0     910B                | OK            | 93.5        40                0    / 0             |
| 0                         | 0000:C1:00.0  | 0           0    / 0          3339 / 65536         |
+===========================+===============+====================================================+
| 1     910B                | OK            | 90.1        41                0    / 0             |
| 0                         | 0000:01:00.0  | 0           0    / 0          3338 / 65536         |
+===========================+===============+====================================================+
"""
    cards = parse_npu_smi("a1", text)
    assert [(c.index, c.bus_id) for c in cards] == [(0, "0000:C1:00.0"), (1, "0000:01:00.0")]


def test_the_card_added_last_for_a_slot_wins_whether_or_not_the_inventory_was_read_yet() -> None:
    rank_map = '[{"rank": 0, "node": "n1", "local_rank": 1, "card": {"index": 1, "serial": "FROM-MAP"}}]'
    smi_first = CardMap()
    smi_first.add_nvidia_smi_csv("n1", SMI)
    smi_first.add_rank_map(rank_map)
    assert smi_first.card_for("n1", 1).serial == "FROM-MAP"
    map_first = CardMap()
    map_first.add_rank_map(rank_map)
    map_first.add_nvidia_smi_csv("n1", SMI)
    assert map_first.card_for("n1", 1).serial == "1324021014568"
    assert map_first.by_bus("n1", "2a000") == map_first.card_for("n1", 1)
