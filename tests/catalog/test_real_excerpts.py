"""Real excerpts from public issue threads get the verdict their thread concluded (hardware families)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainmedic.catalog import Catalog
from trainmedic.model import Role

# excerpt id -> (fault, component) the catalog must give; the thread's label is in the data set
EXPECTED = {
    "rfe-001": ("nvidia.xid.79", "accelerator"),
    "rfe-002": ("nvidia.xid.79", "accelerator"),
    "rfe-003": ("amd.uncorrectable_hw_error", "accelerator"),
    "rfe-005": ("nvidia.smi.device_handle_unknown_error", "accelerator"),
    "rfe-009": ("nvidia.xid.48", "memory"),  # the DBE; Xid 64 (remap failed) follows it
    "rfe-018": ("nvlink.cuda_uncorrectable_nvlink", "interconnect"),
    "rfe-023": ("nvlink.cuda_error_contained", "interconnect"),
    "rfe-026": ("network.ib.local_protection_error", "pcie"),
    "rfe-029": ("pcie.aer.fatal", "pcie"),
    "rfe-031": ("pcie.aer.nvidia_no_recovery", "driver"),
    "rfe-030": ("nvlink.nvls.cuda_failure", "driver"),
    "rfe-033": ("nvidia.xid.119", "driver"),
    "rfe-034": ("nvidia.nvml.driver_library_mismatch", "driver"),
    "rfe-044": ("network.ib.async_catastrophic", "nic"),
}


@pytest.fixture(scope="module")
def excerpts(data_dir: Path) -> dict[str, dict[str, str]]:
    lines = (data_dir / "real-fault-excerpts" / "open.jsonl").read_text().splitlines()
    return {rec["id"]: rec for rec in map(json.loads, lines)}


@pytest.mark.parametrize("rid", sorted(EXPECTED))
def test_real_excerpt_gets_the_expected_root_cause(rid: str, excerpts, catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    verdict = catalog.verdict(catalog.match_text(excerpts[rid]["text"]))
    assert verdict is not None and verdict.role is Role.ROOT
    assert (verdict.fault, str(verdict.component)) == EXPECTED[rid]


def test_xid_flood_of_45_alone_is_not_blamed_on_any_gpu(excerpts, catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    verdict = catalog.verdict(catalog.match_text(excerpts["rfe-022"]["text"]))
    assert verdict is not None and verdict.role is Role.CASCADE
