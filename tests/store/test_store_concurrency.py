"""Many launchers at once: concurrent writer processes lose nothing; a writer killed mid-transaction
leaves the database consistent."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from trainmedic.store import open_store

WRITER = """
import sys
sys.path[:0] = {path!r}
from tests.store.storehelpers import T0, finding, make_incident
from trainmedic.store import open_store
url, who = sys.argv[1], sys.argv[2]
store = open_store(url)
for i in range({n}):
    store.record_incident(make_incident(f"{{who}}-{{i}}", T0 + i, node=f"node-{{who}}", serial=f"SN-{{who}}-{{i % 4}}", index=i % 4))
    store.record_events([finding(T0 + i, node=f"node-{{who}}", card_index=i % 4) for _ in range(50)])
"""


@pytest.mark.e2e
def test_several_writer_processes_at_once_lose_nothing(store_url: str) -> None:
    procs, n = 3, 12
    script = WRITER.format(path=sys.path, n=n)
    root = Path(__file__).parents[2]
    running = [
        subprocess.Popen([sys.executable, "-c", script, store_url, f"w{k}"], cwd=root, stderr=subprocess.PIPE, text=True)
        for k in range(procs)
    ]
    for p in running:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with open_store(store_url) as store:
        assert store.count("incidents") == procs * n
        assert store.count("events") == procs * n * 50
        assert store.count("cards") == procs * 4
        assert store.count("nodes") == procs


KILLED = """
import sys
sys.path[:0] = {path!r}
from tests.store.storehelpers import T0, finding
from trainmedic.store import open_store
store = open_store(sys.argv[1])
batch = [finding(T0 + i, node="node-1", card_index=i % 8) for i in range(5000)]
while True:
    store.record_events(batch)
    print("committed", flush=True)
"""


@pytest.mark.e2e
def test_a_writer_killed_mid_transaction_leaves_whole_batches_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    open_store(url).close()
    p = subprocess.Popen(
        [sys.executable, "-c", KILLED.format(path=sys.path), url],
        cwd=Path(__file__).parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None
    for _ in range(2):
        assert p.stdout.readline().strip() == "committed"
    os.kill(p.pid, signal.SIGKILL)  # most likely inside the next batch's transaction
    p.wait(timeout=30)
    con = sqlite3.connect(tmp_path / "k.db")
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
    with open_store(url) as store:
        n = store.count("events")
        assert n >= 10_000 and n % 5000 == 0
        assert store.record_events([]) == 0
