"""Every root rule of the packaged catalog can be injected: the line the simulator writes for the
culprit is matched by the rule it came from (a multi-line kernel message is injected through the
rule's one-line example instead of as a lone first line no rule matches)."""

from __future__ import annotations

import random

import pytest

from trainmedic.catalog import load_catalog
from trainmedic.model import Role
from trainmedic.sim.plan import _injection
from trainmedic.sim.topology import Topology

ROOTS = [r for r in load_catalog().rules if r.role is Role.ROOT and r.examples]


@pytest.mark.parametrize("seed", range(4))
def test_every_root_rule_injects_a_line_that_it_matches(seed: int) -> None:
    topo = Topology(nodes=16, cards_per_node=8)
    missed = []
    for rule in ROOTS:
        inj = _injection(rule, 13, 1.8e9, topo, 0.0, random.Random(seed), 4321)
        if rule.search(inj.lines[0]) is None:
            missed.append((rule.id, inj.lines[0]))
    assert missed == []


def test_a_multi_line_rule_is_injected_through_an_example_that_fits_on_one_line() -> None:
    rule = next(r for r in ROOTS if r.span > 1)
    topo = Topology(nodes=16, cards_per_node=8)
    card = topo.locate(13).card
    assert card is not None and card.bus_id is not None
    for seed in range(8):
        inj = _injection(rule, 13, 1.8e9, topo, 0.0, random.Random(seed), 4321)
        fields = rule.search(inj.lines[0])
        assert fields is not None
        assert inj.bus_id is not None and inj.bus_id.lower() in inj.lines[0].lower()
