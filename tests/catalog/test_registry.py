"""Generated from the rule registry: every example matches its own rule, no root rule shadows
another's examples, and the fast matcher finds exactly what the naive one finds."""

from __future__ import annotations

import pickle

import pytest

from trainmedic.catalog import Catalog, load_catalog
from trainmedic.catalog.matcher import ENGINES, Matcher
from trainmedic.model import Role

CATALOG = load_catalog()
RULES = CATALOG.rules


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_example_matches_its_own_rule_with_its_fields(rule) -> None:  # type: ignore[no-untyped-def]
    for ex in rule.examples:
        own = [m for m in CATALOG.match_text(ex.text) if m.rule.id == rule.id and m.line == 1]
        assert own, f"{rule.id} does not match its example {ex.text!r}"
        for key, want in ex.fields.items():
            assert own[0].fields.get(key) == want, f"{rule.id}: field {key} of {ex.text!r}"


@pytest.mark.parametrize("rule", [r for r in RULES if r.role is Role.ROOT], ids=lambda r: r.id)
def test_no_other_root_rule_claims_a_root_rules_example(rule) -> None:  # type: ignore[no-untyped-def]
    for ex in rule.examples:
        others = {m.rule.id for m in CATALOG.match_text(ex.text)
                  if m.rule.role is Role.ROOT and m.rule.fault != rule.fault}
        assert not others, f"{rule.id}'s example is also claimed by {others}"


def test_every_rule_has_a_prefilter_literal_so_none_runs_on_every_line() -> None:
    assert [r.id for r in RULES if not r.literals] == []


def test_rules_name_the_card_with_a_bus_id_group_wherever_the_line_carries_one() -> None:
    for rule in RULES:
        for ex in rule.examples:
            if "PCI:0000:" in ex.text or " 0000:" in ex.text:
                groups = {g for p in rule.patterns for g in p.groupindex}
                assert "bus_id" in groups or rule.role is Role.INFO or "peer" in groups, rule.id


def test_examples_say_where_they_are_seen_and_where_they_came_from() -> None:
    for rule in RULES:
        assert set(rule.seen_in) <= {"kernel", "job", "tool"} and rule.seen_in, rule.id
        for ex in rule.examples:
            assert ex.source, f"{rule.id}: example without a source"


@pytest.fixture(scope="module")
def mixed_text_and_naive(benign_text: str) -> tuple[str, list[tuple[str, int, str, dict[str, str]]]]:
    """Every example between real benign lines, and what every-regex-on-every-line finds there (once)."""
    examples = "\n".join(ex.text for r in RULES for ex in r.examples)
    sample = "\n".join(benign_text.split("\n")[::3])  # a third of the benign lines keeps the naive run short
    text = sample + "\n" + examples + "\nplain line\n\r\n" + sample[:20000]
    naive = [(m.rule.id, m.line, m.text, m.fields) for m in Matcher(RULES).match_naive(text)]
    return text, naive


@pytest.mark.parametrize("engine", ENGINES)
def test_prefilter_finds_exactly_what_the_naive_matcher_finds(engine: str, mixed_text_and_naive) -> None:  # type: ignore[no-untyped-def]
    text, naive = mixed_text_and_naive
    fast = [(m.rule.id, m.line, m.text, m.fields) for m in Matcher(RULES, engine=engine).match_text(text)]
    assert fast == naive
    assert len(fast) >= len(RULES)


def test_bytes_and_text_matching_agree_on_invalid_utf8(catalog: Catalog) -> None:
    data = b"\xff\xfe junk\n[1084456.074562] NVRM: Xid (PCI:0000:09:00): 79, pid=0, GPU has fallen off the bus.\n\xc3"
    from_bytes = [(m.rule.id, m.line) for m in catalog.match_bytes(data)]
    from_text = [(m.rule.id, m.line) for m in catalog.match_text(data.decode("utf-8", "replace"))]
    assert from_bytes == from_text == [("nvidia.xid.79", 2)]


def test_benign_real_logs_raise_no_root_cause(catalog: Catalog, benign_text: str) -> None:
    roots = [m for m in catalog.match_text(benign_text) if m.rule.role is Role.ROOT]
    assert roots == [], [(m.rule.id, m.text) for m in roots[:5]]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_pickled_matcher_finds_what_the_original_finds(engine: str, mixed_text_and_naive) -> None:  # type: ignore[no-untyped-def]
    text, naive = mixed_text_and_naive
    restored = pickle.loads(pickle.dumps(Matcher(RULES, engine=engine)))
    assert restored.engine == engine and not restored.recompiled
    assert [(m.rule.id, m.line, m.text, m.fields) for m in restored.match_text(text)] == naive


@pytest.mark.skipif("hyperscan" not in ENGINES, reason="Hyperscan is not installed here")
def test_a_pickled_matcher_whose_database_bytes_are_damaged_compiles_it_again(mixed_text_and_naive) -> None:  # type: ignore[no-untyped-def]
    text, naive = mixed_text_and_naive
    m = Matcher(RULES, engine="hyperscan")
    good = m._scan.dump()  # type: ignore[union-attr]
    data = pickle.dumps(m)
    middle = len(good) // 2
    restored = pickle.loads(data.replace(good, good[:middle] + bytes(64) + good[middle + 64 :]))
    assert restored.engine == "hyperscan" and restored.recompiled
    assert [(m.rule.id, m.line, m.text, m.fields) for m in restored.match_text(text)] == naive


def test_a_pickled_rule_compiles_its_patterns_only_when_first_used() -> None:
    rule = next(r for r in RULES if any("bus_id" in p.groupindex for p in r.patterns))
    again = pickle.loads(pickle.dumps(rule))
    assert again == rule
    assert all(p._compiled is None for p in again.patterns)
    assert [p.groupindex for p in again.patterns] == [p.groupindex for p in rule.patterns]
    ex = rule.examples[0].text
    assert again.find(ex.split("\n")) == rule.find(ex.split("\n"))
