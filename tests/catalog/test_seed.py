"""The catalog loads, its examples match, and the matcher agrees with the naive reference."""

from __future__ import annotations

from trainmedic.catalog import load_catalog
from trainmedic.catalog.check import check_catalog
from trainmedic.model import Role


def test_packaged_catalog_passes_its_own_check() -> None:
    report = check_catalog()
    assert report.ok, "\n".join(str(e) for e in report.errors)
    assert report.rules > 0


def test_xid_79_is_a_root_cause_with_the_bus_id() -> None:
    cat = load_catalog()
    [m] = [m for m in cat.match_text("[1084456.074562] NVRM: Xid (PCI:0000:09:00): 79, pid=0, GPU has fallen off the bus.")
           if m.rule.role is Role.ROOT]
    assert m.fields["bus_id"] == "0000:09:00"
    verdict = cat.verdict([m])
    assert verdict is not None and verdict.component == "accelerator"


def test_prefilter_finds_exactly_what_the_naive_matcher_finds() -> None:
    cat = load_catalog()
    text = "\n".join(ex.text for r in cat.rules for ex in r.examples) + "\nplain line\n\r\n"
    fast = [(m.rule.id, m.line) for m in cat.matcher.match_text(text)]
    slow = [(m.rule.id, m.line) for m in cat.matcher.match_naive(text)]
    assert sorted(fast) == sorted(slow)
