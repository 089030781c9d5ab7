"""The compiled catalog cached on disk: same rules, rebuilt when the rules change."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from trainmedic.catalog import RULES_DIR, load_catalog, matcher
from trainmedic.catalog.matcher import ENGINES
from trainmedic.diagnose import catalog_cache
from trainmedic.diagnose.catalog_cache import cached_catalog

hyperscan = pytest.importorskip("hyperscan") if "hyperscan" in ENGINES else None


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


needs_hyperscan = pytest.mark.skipif("hyperscan" not in ENGINES, reason="Hyperscan is not installed here")

XID_LINE = "[1084456.074562] NVRM: Xid (PCI:0000:09:00): 79, pid=0, GPU has fallen off the bus."


@needs_hyperscan
def test_the_cached_catalog_restores_the_hyperscan_database_without_compiling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached_catalog(directory=tmp_path)
    compiled: list[object] = []
    real = matcher._compile_database

    def counting(keys: list[tuple[bytes, bool]]) -> object:
        compiled.append(keys)
        return real(keys)

    monkeypatch.setattr(matcher, "_compile_database", counting)
    again = cached_catalog(directory=tmp_path)
    assert again is not load_catalog() and compiled == []
    assert again.matcher.engine == "hyperscan" and not again.matcher.recompiled
    assert [m.rule.id for m in again.match_text(XID_LINE)] == ["nvidia.xid.79"]


@needs_hyperscan
def test_a_hyperscan_database_that_does_not_load_here_is_compiled_again_and_the_cache_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached_catalog(directory=tmp_path)
    cache_file = next(tmp_path.glob("catalog-*.pickle"))
    before = cache_file.stat().st_ino

    def other_cpu(serialized: bytes) -> object:
        raise hyperscan.DatabasePlatformError("error code -7")

    with monkeypatch.context() as m:
        m.setattr(matcher, "_load_database", other_cpu)
        cat = cached_catalog(directory=tmp_path)
        assert [m.rule.id for m in cat.match_text(XID_LINE)] == ["nvidia.xid.79"]
    assert cache_file.stat().st_ino != before  # written afresh ...
    again = cached_catalog(directory=tmp_path)
    assert again is not load_catalog() and not again.matcher.recompiled  # ... and restored from it
    assert [m.rule.id for m in again.match_text(XID_LINE)] == ["nvidia.xid.79"]


def test_a_flipped_byte_anywhere_in_the_cache_file_is_caught_and_the_file_rebuilt(tmp_path: Path) -> None:
    cached_catalog(directory=tmp_path)
    cache_file = next(tmp_path.glob("catalog-*.pickle"))
    whole = cache_file.read_bytes()
    rule = load_catalog().get("nvidia.xid.79")
    assert rule is not None
    at = whole.index(rule.title.encode())  # a rule's text: unpickles fine, but is not the catalog's
    for pos in (at, len(whole) // 2, len(whole) - 10):
        cache_file.write_bytes(whole[:pos] + bytes([whole[pos] ^ 0x20]) + whole[pos + 1 :])
        cat = cached_catalog(directory=tmp_path)
        assert cat.get("nvidia.xid.79").title == rule.title  # type: ignore[union-attr]
        assert [m.rule.id for m in cat.match_text(XID_LINE)] == ["nvidia.xid.79"]
        assert cache_file.read_bytes() == whole


def test_a_truncated_cache_file_is_ignored_and_rebuilt(tmp_path: Path) -> None:
    cached_catalog(directory=tmp_path)
    cache_file = next(tmp_path.glob("catalog-*.pickle"))
    whole = cache_file.read_bytes()
    for cut in (1, len(whole) // 3, len(whole) - 1):
        cache_file.write_bytes(whole[:cut])
        cat = cached_catalog(directory=tmp_path)
        assert [m.rule.id for m in cat.match_text(XID_LINE)] == ["nvidia.xid.79"]
        assert cache_file.read_bytes() == whole


def test_a_cache_under_another_engine_version_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached_catalog(directory=tmp_path)
    monkeypatch.setattr(catalog_cache, "ENGINE_ID", "hyperscan 0.0.0-other")
    cached_catalog(directory=tmp_path)
    assert len(list(tmp_path.glob("catalog-*.pickle"))) == 2
