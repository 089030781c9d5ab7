"""The launcher records its incidents in the fleet store, and a broken store never stops the job."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.launcher._launch import fake_cfg, incidents, launch
from trainmedic.store import open_store

pytestmark = pytest.mark.e2e


def test_a_recovered_crash_lands_in_the_fleet_store_with_its_culprit_and_timeline(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    result, said = launch(fake_cfg(tmp_path, inject="rank=2,step=6,kind=crash", db_url=db))
    assert result.rc == 0, said
    [on_disk] = incidents(tmp_path / "ck")
    with open_store(db) as store:
        [stored] = store.incidents()
    assert stored.id == on_disk["id"]
    assert stored.fault == "process.crash" and stored.rank == 2
    assert stored.node == on_disk["verdict"]["culprit"]["node"]
    # the store keeps the final timeline (the incident is re-recorded as recovery goes on)
    assert stored.timeline.get("resumed") == pytest.approx(on_disk["timeline"]["resumed"])


def test_an_unreachable_store_is_reported_and_the_job_still_recovers(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    db = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    result, said = launch(fake_cfg(tmp_path, inject="rank=1,step=6,kind=crash", db_url=db))
    assert result.rc == 0, said
    assert len(incidents(tmp_path / "ck")) == 1
    assert "could not record incident" in capfd.readouterr().err
