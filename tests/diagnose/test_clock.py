"""Clock skew between nodes, from the steps every rank logs."""

from __future__ import annotations

from trainmedic.diagnose.clock import node_offsets


def test_a_node_whose_steps_come_late_runs_fast_by_that_much() -> None:
    samples = []
    for node, skew in (("a", 0.0), ("b", 2.7), ("c", -1.1)):
        for local in range(4):
            for step in (100, 101, 102):
                samples.append((node, step, 1000.0 + step * 5.0 + skew + 0.01 * local))
    off = node_offsets(samples)
    assert abs((off["b"] - off["a"]) - 2.7) < 0.05
    assert abs((off["c"] - off["a"]) + 1.1) < 0.05


def test_steps_only_one_rank_logged_say_nothing() -> None:
    assert node_offsets([("a", 5, 10.0), ("b", 6, 99.0)]) == {}
