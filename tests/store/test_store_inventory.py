"""Inventory import: CSV and JSON, idempotent, and malformed rows rejected with the row named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainmedic.model import CardState
from trainmedic.store import InventoryError, Store

INVENTORY = Path(__file__).parents[1] / "data" / "store" / "inventory.csv"


def test_imports_a_csv_inventory_and_a_second_import_changes_nothing(store: Store) -> None:
    first = store.import_inventory(INVENTORY)
    assert (first.rows, first.added, first.updated, first.unchanged) == (4, 4, 0, 0)
    again = store.import_inventory(INVENTORY)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)
    assert store.count("cards") == 4
    assert store.card("node-0001:1").serial == "1652823012346"
    spare = store.card("1652823012348")
    assert spare.node is None and spare.state == CardState.IN_REPAIR


def test_a_json_inventory_updates_a_moved_card(store: Store, tmp_path: Path) -> None:
    store.import_inventory(INVENTORY)
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps({"cards": [{"serial": "1652823012345", "node": "node-0002", "slot": 5}]}))
    rep = store.import_inventory(moved)
    assert (rep.added, rep.updated) == (0, 1)
    card = store.card("1652823012345")
    assert (card.node, card.slot) == ("node-0002", 5)


@pytest.mark.parametrize(
    ("text", "row", "says"),
    [
        ("serial,node,slot\nA,n1,0\n,n1,1\n", 3, "serial is empty"),
        ("serial,node,slot\nA,n1,zero\n", 2, "not a whole number"),
        ("serial,node,slot,state\nA,n1,0,broken\n", 2, "not one of"),
        ("serial,node,slot\nA,n1,0,extra\n", 2, "fields, the header has 3"),
        ("serial,node,slot\nA,n1,0\nA,n2,0\n", 3, "also on row 2"),
        ("serial,node,slot\nA,n1,0\nB,n1,0\n", 3, "already holds"),
        ("serial,node\nA,n1\n", 2, "without a slot"),
        ("node,slot\nn1,0\n", 1, "'serial' column"),
        ('[{"serial": "A"}, "B"]', 2, "not an object"),
    ],
)
def test_a_malformed_row_is_rejected_naming_the_row_and_nothing_is_imported(
    store: Store, tmp_path: Path, text: str, row: int, says: str
) -> None:
    path = tmp_path / ("inv.json" if text.startswith("[") else "inv.csv")
    path.write_text(text)
    with pytest.raises(InventoryError) as e:
        store.import_inventory(path)
    assert e.value.row == row
    assert f"row {row}" in str(e.value) and says in str(e.value)
    assert store.count("cards") == 0
