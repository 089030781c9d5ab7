"""InfiniBand collector on a sysfs tree; link flaps and counter wraps."""

from __future__ import annotations

import shutil
from pathlib import Path

from trainmedic.agent.collectors.base import CardReading, Reading
from trainmedic.agent.collectors.infiniband import InfinibandCollector
from trainmedic.agent.runner import NodeAgent
from trainmedic.model import Card


def _tree(agent_data: Path, tmp_path: Path) -> Path:
    root = tmp_path / "infiniband"
    shutil.copytree(agent_data / "sys" / "class" / "infiniband", root)
    return root


def test_reads_state_rate_counters_and_the_pci_address_of_every_port(agent_data: Path, clock) -> None:
    r = InfinibandCollector("n1", root=agent_data / "sys" / "class" / "infiniband", clock=clock).collect()
    assert [n.device for n in r.nics] == ["mlx5_0", "mlx5_1", "mlx5_2", "mlx5_3"]
    n3 = r.nics[3]
    assert n3.state == "ACTIVE" and n3.phys_state == "LinkUp" and n3.bus_id == "0000:7a:00.0"
    assert n3.values["ib_rate_gbps"] == 400 and n3.values["ib_link_downed_total"] == 2 and "ib_tx_mbps" not in n3.values


def test_throughput_comes_from_the_data_counter_and_survives_a_32_bit_wrap(agent_data: Path, tmp_path: Path, clock) -> None:
    root = _tree(agent_data, tmp_path)
    col = InfinibandCollector("n1", root=root, clock=clock)
    counter = root / "mlx5_0" / "ports" / "1" / "counters" / "port_xmit_data"
    counter.write_text(str(2**32 - 1000))
    col.collect()
    counter.write_text(str(250_000 - 1000))  # wrapped: 250,000 words later
    clock.advance(1)
    r = col.collect()
    assert r.nics[0].values["ib_tx_mbps"] == 250_000 * 4 / 1e6


def test_a_garbled_counter_is_named_and_a_missing_tree_is_an_error(agent_data: Path, tmp_path: Path) -> None:
    root = _tree(agent_data, tmp_path)
    (root / "mlx5_1" / "ports" / "1" / "counters" / "symbol_error").write_text("\x00\xff")
    r = InfinibandCollector("n1", root=root).collect()
    assert any("symbol_error" in e for e in r.errors) and len(r.nics) == 4
    assert "not found" in InfinibandCollector("n1", root=tmp_path / "none").collect().errors[0]


class _Cards:
    name = "nvidia"

    def collect(self) -> Reading:
        cards = tuple(CardReading(Card("n1", j, bus_id=f"0000:{j:02x}:00.0"), values={"temp_c": 50.0}) for j in range(4))
        return Reading("nvidia", 0.0, cards=cards)


def test_a_flapping_port_is_flagged_on_the_card_it_serves(agent_data: Path, tmp_path: Path, clock) -> None:
    root = _tree(agent_data, tmp_path)
    agent = NodeAgent("n1", [_Cards(), InfinibandCollector("n1", root=root, clock=clock)], clock=clock)
    assert agent.tick() == []
    downed = root / "mlx5_2" / "ports" / "1" / "counters" / "link_downed"
    for n in (1, 2):
        clock.advance(10)
        downed.write_text(str(n))
        found = agent.tick()
    assert [(f.fault, f.card_index) for f in found] == [("network.link_flap", 2)]


def test_a_port_that_leaves_the_active_state_is_a_finding(agent_data: Path, tmp_path: Path, clock) -> None:
    root = _tree(agent_data, tmp_path)
    agent = NodeAgent("n1", [_Cards(), InfinibandCollector("n1", root=root, clock=clock)], clock=clock)
    agent.tick()
    (root / "mlx5_1" / "ports" / "1" / "state").write_text("1: DOWN\n")
    (root / "mlx5_1" / "ports" / "1" / "phys_state").write_text("3: Disabled\n")
    clock.advance(1)
    (f,) = agent.tick()
    assert (f.fault, f.card_index, f.bus_id) == ("network.port_down", 1, "0000:01:00.0")
    assert "DOWN (Disabled)" in f.message
