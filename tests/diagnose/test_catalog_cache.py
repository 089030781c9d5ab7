"""The compiled catalog cached on disk: same rules, rebuilt when the rules change."""

from __future__ import annotations

import shutil
from pathlib import Path

from trainmedic.catalog import RULES_DIR, load_catalog
from trainmedic.diagnose.catalog_cache import cached_catalog


def test_the_cached_catalog_matches_like_the_parsed_one(tmp_path: Path) -> None:
    first = cached_catalog(directory=tmp_path)
    assert len(list(tmp_path.glob("catalog-*.pickle"))) == 1
    again = cached_catalog(directory=tmp_path)
    assert [r.id for r in again.rules] == [r.id for r in load_catalog().rules] == [r.id for r in first.rules]
    line = next(ex.text for r in again.rules for ex in r.examples)
    assert [m.rule.id for m in again.match_text(line)] == [m.rule.id for m in load_catalog().match_text(line)]


def test_changed_rules_get_a_new_cache_entry(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    cached_catalog(rules, tmp_path / "cache")
    f = next(rules.glob("*.yaml"))
    f.write_text(f.read_text() + "\n# edited\n")
    cached_catalog(rules, tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("catalog-*.pickle"))) == 2


def test_a_corrupt_cache_file_is_ignored(tmp_path: Path) -> None:
    cached_catalog(directory=tmp_path)
    pickle_file = next(tmp_path.glob("catalog-*.pickle"))
    pickle_file.write_bytes(b"not a pickle")
    assert len(cached_catalog(directory=tmp_path).rules) == len(load_catalog().rules)
