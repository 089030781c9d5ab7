"""`trainmedic sim goodput`: the Monte Carlo agrees with Daly's closed form, the intervals and the stories."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from trainmedic.cli.sim import sim
from trainmedic.sim.goodput import Policy, closed_form_ettr, daly_s, mtbf_s, simulate, young_s


@pytest.mark.parametrize(
    ("downtime_s", "tau_s", "delta_s"),
    [(600, 360, 6), (1200, 1800, 6), (150, 15, 0.01), (360, 60, 0.6)],
)
def test_monte_carlo_agrees_with_the_closed_form_within_2_percent(downtime_s: float, tau_s: float, delta_s: float) -> None:
    m = mtbf_s(18432, 3.79)
    out = simulate(Policy("p", downtime_s, 0, 0, tau_s, delta_s), m, 30 * 86400, 60, seed=1)
    assert out.ettr_closed_form is not None
    assert out.ettr == pytest.approx(out.ettr_closed_form, rel=0.02)


def test_reproduces_the_published_ettr_table_at_18432_cards() -> None:
    # published-results.md §9: S0 manual 17.7 %, S1 MegaScale-like 80.5 %, at M = 2.75 h
    m = mtbf_s(18432, 3.79)
    assert m / 3600 == pytest.approx(2.75, abs=0.01)
    assert closed_form_ettr(m, Policy("s0", 10800, 0, 0, 10800, 300)) == pytest.approx(0.177, abs=0.002)
    assert closed_form_ettr(m, Policy("s1", 1200, 0, 0, 1800, 6)) == pytest.approx(0.805, abs=0.002)


def test_young_and_daly_intervals_match_the_published_figures() -> None:
    m = mtbf_s(18432, 3.79)
    assert young_s(m, 6) / 60 == pytest.approx(5.7, abs=0.1)
    assert young_s(m, 300) / 60 == pytest.approx(41, abs=0.5)
    assert daly_s(m, 6, 600) > young_s(m, 6) - 6


def test_origin_story_gets_no_useful_work_and_compare_orders_the_stories() -> None:
    res = CliRunner().invoke(sim, ["goodput", "--cards", "18432", "--days", "20", "--detect-s", "10",
                                   "--localize-s", "60", "--recover-s", "120", "--ckpt-interval-s", "300",
                                   "--compare", "--json", "--runs", "20"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    ettr = [p["ettr"] for p in data["policies"]]
    assert ettr[0] < 0.01
    assert ettr[0] < ettr[1] < ettr[2] < ettr[3]
    causes = data["policies"][3]["hours_lost_by_cause"]
    assert next(iter(causes)) == "Faulty GPU"  # the largest row of the Llama 3 table


def test_goodput_rejects_impossible_inputs_with_usage_errors() -> None:
    runner = CliRunner()
    assert runner.invoke(sim, ["goodput", "--cards", "0"]).exit_code == 2
    res = runner.invoke(sim, ["goodput", "--detect-s", "-5"])
    assert res.exit_code == 2 and "detect_s" in res.output
    res = runner.invoke(sim, ["goodput", "--rate", "often"])
    assert res.exit_code == 2 and "llama3" in res.output
