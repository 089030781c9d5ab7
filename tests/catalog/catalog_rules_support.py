"""Helpers for the rule-family tests: the real excerpts kept in tests/data and a classify shortcut."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from trainmedic.catalog import Match, load_catalog
from trainmedic.model import Verdict

EXCERPTS = Path(__file__).resolve().parents[1] / "data" / "catalog_rules" / "real_excerpts.jsonl"
COMPONENT_OF_LABEL = {"gpu": "accelerator", "npu": "accelerator", "hbm": "memory", "nvlink": "interconnect"}


@cache
def excerpts() -> dict[str, dict[str, str]]:
    """Real excerpts by id (rfe-NNN)."""
    rows = (json.loads(line) for line in EXCERPTS.read_text(encoding="utf-8").splitlines() if line.strip())
    return {row["id"]: row for row in rows}


def classify(text: str) -> tuple[list[Match], Verdict | None]:
    """All matches of the packaged catalog on `text`, and its verdict."""
    cat = load_catalog()
    matches = cat.match_text(text)
    return matches, cat.verdict(matches)
