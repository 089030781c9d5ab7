"""Fixtures for the catalog tests: the packaged catalog and the shared real-world data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trainmedic.catalog import Catalog, load_catalog

ROOT = Path(__file__).resolve().parents[2]


def find_shared_data() -> Path | None:
    """`shared/data` beside the checkout, or beside its parent (git worktrees), or TRAINMEDIC_SHARED_DIR."""
    env = os.environ.get("TRAINMEDIC_SHARED_DIR")
    for cand in ([Path(env)] if env else []) + [ROOT.parent / "shared", ROOT.parent.parent / "shared"]:
        if (cand / "data").is_dir():
            return cand / "data"
    return None


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    found = find_shared_data()
    if found is None:
        pytest.skip("shared data not found (set TRAINMEDIC_SHARED_DIR)")
    return found


@pytest.fixture(scope="session")
def benign_text(data_dir: Path) -> str:
    """Real benign logs: loghub Linux and Thunderbird, gpud's benign kmsg and fabric-manager captures."""
    parts = [
        data_dir / "loghub/Linux/Linux_2k.log",
        data_dir / "loghub/Thunderbird/Thunderbird_2k.log",
        data_dir / "gpud-testdata/pkg_kmsg_testdata_kmsg.1.log",
        data_dir / "gpud-testdata/components_accelerator_nvidia_fabric-manager_testdata_fabricmanager.log",
    ]
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in parts)
