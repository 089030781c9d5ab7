"""Fleet store at fleet scale: 18,432 cards, 1 million events, 100,000 incidents.

Measures, on SQLite and on PostgreSQL: bulk event ingest through `Store.record_events` against the
floor (the driver alone: sqlite3 executemany / psycopg COPY of the same pre-built rows, card ids included,
into a copy of the events table with its indexes, grown batch by batch alongside ours),
`record_incident` through the API, and the `cards show` (Store.history) and `incidents list`
(Store.incidents) queries. Run: python benchmarks/store.py [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from trainmedic.model import (
    Action,
    Card,
    Component,
    Evidence,
    Finding,
    Incident,
    RankLocation,
    Role,
    Severity,
    Symptom,
    Verdict,
)
from trainmedic.sim.topology import HGX_BUS_IDS
from trainmedic.store import Store, open_store
from trainmedic.store.engine import SQLITE_CACHE_KIB
from trainmedic.store.incidents import EVENT_COLUMNS
from trainmedic.store.schema import cards, incidents, nodes, slots

T0 = 1_735_689_600.0  # 2025-01-01
FAULTS = [
    ("nvidia.xid.79", Component.PCIE),
    ("nvidia.xid.48", Component.MEMORY),
    ("nvidia.xid.74", Component.INTERCONNECT),
    ("nvidia.xid.119", Component.DRIVER),
    ("hang.silent", Component.ACCELERATOR),
]


def load_fleet(store: Store, n_nodes: int, per_node: int) -> list[str]:
    """Nodes, slots and cards by bulk insert (fixture loading, not a measured path)."""
    with store._write() as conn:
        conn.execute(nodes.insert(), [{"id": i + 1, "name": f"node-{i:04d}", "created_at": T0} for i in range(n_nodes)])
        conn.execute(
            slots.insert(),
            [{"id": i * per_node + k + 1, "node_id": i + 1, "idx": k, "bus_id": HGX_BUS_IDS[k % 8]}
             for i in range(n_nodes) for k in range(per_node)],
        )
        rows = []
        for i in range(n_nodes):
            for k in range(per_node):
                sid = i * per_node + k + 1
                rows.append({"id": sid, "serial": f"1652{sid:09d}", "uuid": f"GPU-{uuid.UUID(int=sid)}", "bus_id": HGX_BUS_IDS[k % 8],
                             "vendor": "nvidia", "model": "H100 80GB HBM3", "slot_id": sid, "state": "in_service",
                             "installed_at": T0, "removed_at": None, "created_at": T0, "updated_at": T0, "note": ""})
        conn.execute(cards.insert(), rows)
    return [r["serial"] for r in rows]


def load_incidents(store: Store, n: int, n_nodes: int, per_node: int, rng: random.Random) -> None:
    """Bulk-insert incident rows (fixture loading; record_incident is measured separately)."""
    batch = []
    span = 365 * 86400.0
    for i in range(n):
        sid = rng.randrange(n_nodes * per_node) + 1
        fault, comp = rng.choice(FAULTS)
        at = T0 + rng.random() * span
        batch.append({"id": f"bulk-{i:06d}", "job_id": None, "at": at, "source": "launcher", "symptom": "crash", "fault": fault,
                      "title": fault, "component": str(comp), "action": "replace_card", "confidence": 0.9, "rank": None,
                      "node_id": (sid - 1) // per_node + 1, "slot_id": sid, "card_id": sid, "fault_at": at, "observed_at": None,
                      "detected_at": at + 5, "localized_at": at + 9, "stopped_at": None, "restarted_at": None,
                      "resumed_at": at + 600, "action_taken": "restart_job", "outcome": "", "dry_run": False,
                      "explanation": "", "evidence": [], "recorded_at": at})
        if len(batch) == 20_000:
            with store._write() as conn:
                conn.execute(incidents.insert(), batch)
            batch = []
    if batch:
        with store._write() as conn:
            conn.execute(incidents.insert(), batch)


def findings(n: int, n_nodes: int, per_node: int, rng: random.Random) -> list[Finding]:
    out = []
    for i in range(n):
        node = rng.randrange(n_nodes)
        k = rng.randrange(per_node)
        fault, comp = rng.choice(FAULTS)
        out.append(Finding(source="kmsg", symptom=Symptom.LOG_ERROR, at=T0 + i * 0.03, node=f"node-{node:04d}", rank=node * per_node + k,
                           card_index=k, bus_id=HGX_BUS_IDS[k % 8], rule=fault, fault=fault, component=comp, role=Role.ROOT,
                           severity=Severity.ERROR, action=Action.RESET_CARD,
                           message=f"NVRM: Xid (PCI:{HGX_BUS_IDS[k % 8][4:]}): {fault.rsplit('.', 1)[-1]}, pid={1000 + i % 5000}",
                           fields={"code": fault.rsplit(".", 1)[-1]}))
    return out


def as_rows(fs: list[Finding], card_of: dict[tuple[str, int], int]) -> list[tuple[object, ...]]:
    """The rows record_events stores for `fs`, pre-built for the floor: the same card ids (the fixture's card in
    the finding's slot), fields JSON and enum values as text."""
    return [(f.at, f.source, str(f.symptom), f.node, f.rank, f.card_index, f.bus_id, card_of[(f.node, f.card_index)],  # type: ignore[index]
             None, f.rule, f.fault, str(f.component), str(f.role), str(f.severity), str(f.action), f.message,
             json.dumps(f.fields)) for f in fs]


# Compares the floor's table with ours at the end: the same rows went into both.
_CHECK = ("SELECT count(*), sum(card_id), count(card_id), round(sum(at)), sum(length(message)), sum(length(CAST(fields AS TEXT))) "
          "FROM {} "
          "WHERE incident_id IS NULL")


class SqliteFloor:
    """The driver alone: sqlite3 executemany of pre-built rows, one transaction per batch, into a copy of the
    real events table (its DDL and indexes) in its own file, with the store's pragmas (WAL, synchronous=NORMAL,
    64 MiB cache). It gets every batch ours gets, so it grows alongside ours to the same size."""

    def __init__(self, store_path: Path) -> None:
        self.store_path = store_path
        self.con = sqlite3.connect(store_path.with_name("floor.db"), isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", f"cache_size=-{SQLITE_CACHE_KIB}"):
            self.con.execute(f"PRAGMA {pragma}")
        src = sqlite3.connect(store_path)
        for (sql,) in src.execute("SELECT sql FROM sqlite_master WHERE tbl_name='events' AND sql IS NOT NULL ORDER BY type DESC"):
            self.con.execute(sql)
        src.close()
        self.sql = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"

    def insert(self, rows: list[tuple[object, ...]]) -> float:
        t = time.perf_counter()
        self.con.execute("BEGIN IMMEDIATE")
        self.con.executemany(self.sql, rows)
        self.con.execute("COMMIT")
        return time.perf_counter() - t

    def same_rows(self) -> bool:
        src = sqlite3.connect(self.store_path)
        ours = src.execute(_CHECK.format("events")).fetchone()
        src.close()
        return bool(ours == self.con.execute(_CHECK.format("events")).fetchone())

    def close(self) -> None:
        self.con.close()


class PgFloor:
    """The driver alone: psycopg COPY of pre-built rows, one transaction per batch, into events_floor (LIKE
    events INCLUDING ALL: the same indexes), which gets every batch ours gets."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        with self.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE events_floor (LIKE events INCLUDING ALL)")
        self.raw = self.engine.raw_connection()

    def insert(self, rows: list[tuple[object, ...]]) -> float:
        t = time.perf_counter()
        with self.raw.cursor() as cur, cur.copy(f"COPY events_floor ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as cp:  # type: ignore[attr-defined]
            for r in rows:
                cp.write_row(r)
        self.raw.commit()
        return time.perf_counter() - t

    def same_rows(self) -> bool:
        with self.engine.connect() as conn:
            ours = conn.exec_driver_sql(_CHECK.format("events")).one()
            floor = conn.exec_driver_sql(_CHECK.format("events_floor")).one()
        return bool(tuple(ours) == tuple(floor))

    def close(self) -> None:
        self.raw.close()
        with self.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE events_floor")
        self.engine.dispose()


CPU_MS: list[float] = []


def timed_ms(fn: object, args: list[object]) -> list[float]:
    """Wall-clock ms per call (and this process's CPU ms per call into CPU_MS)."""
    out = []
    CPU_MS.clear()
    for a in args:
        t, c = time.perf_counter(), time.process_time()
        fn(a)  # type: ignore[operator]
        out.append((time.perf_counter() - t) * 1000)
        CPU_MS.append((time.process_time() - c) * 1000)
    return out


def summary(ms: list[float]) -> str:
    s = sorted(ms)
    return f"median {statistics.median(s):6.1f} ms  p95 {s[int(0.95 * (len(s) - 1))]:6.1f} ms  max {s[-1]:6.1f} ms"


def bench(backend: str, url: str, args: argparse.Namespace, sqlite_path: Path | None) -> dict[str, float]:
    rng = random.Random(7)
    n_nodes, per = args.cards // 8, 8
    store = open_store(url)
    t = time.perf_counter()
    serials = load_fleet(store, n_nodes, per)
    load_incidents(store, args.incidents, n_nodes, per, rng)
    print(f"[{backend}] fixture: {len(serials):,} cards, {args.incidents:,} incidents bulk-loaded in {time.perf_counter() - t:.1f} s")

    # record_incident through the API (card upsert, state change, findings), one transaction each.
    sample = []
    for i in range(args.api_incidents):
        sid = rng.randrange(len(serials))
        node, k = divmod(sid, per)
        card = Card(f"node-{node:04d}", k, HGX_BUS_IDS[k], serial=serials[sid])
        v = Verdict("nvidia.xid.79", Component.PCIE, Action.REPLACE_CARD, 0.95, "GPU has fallen off the bus",
                    RankLocation(sid, card.node, k, card), evidence=(Evidence("Xid 79", "rank.log", 7),))
        sample.append(Incident(f"api-{i}", "job-1", "launcher", Symptom.CRASH, v, {"fault": T0 + i, "detected": T0 + i + 4},
                               Action.RESTART_JOB, findings=tuple(findings(3, n_nodes, per, rng))))
    t = time.perf_counter()
    for inc in sample:
        store.record_incident(inc)
    rec_s = time.perf_counter() - t
    print(f"[{backend}] record_incident: {len(sample) / rec_s:,.0f} incidents/s ({rec_s / len(sample) * 1000:.1f} ms each, 3 findings each)")

    # Bulk event ingest, in batches of 100,000, against the floor on the same rows into a same-sized table.
    card_of = {(f"node-{i:04d}", k): i * per + k + 1 for i in range(n_nodes) for k in range(per)}
    floor_db = SqliteFloor(sqlite_path) if sqlite_path else PgFloor(url)
    ours = 0.0
    ours_cpu = 0.0
    floor = 0.0
    done = 0
    while done < args.events:
        n = min(100_000, args.events - done)
        fs = findings(n, n_nodes, per, rng)
        t, c = time.perf_counter(), time.process_time()
        store.record_events(fs)
        ours += time.perf_counter() - t
        ours_cpu += time.process_time() - c
        floor += floor_db.insert(as_rows(fs, card_of))
        done += n
    same = floor_db.same_rows()
    floor_db.close()
    ev_rate = args.events / ours
    floor_rate = args.events / floor
    print(f"[{backend}] record_events: {args.events:,} events in {ours:.1f} s = {ev_rate:,.0f} events/s; "
          f"floor ({'sqlite3 executemany' if sqlite_path else 'psycopg COPY'} of the same pre-built rows into a copy of "
          f"the events table grown alongside ours): {floor_rate:,.0f} events/s; "
          f"ratio {ev_rate / floor_rate:.2f}; this process's CPU time: {args.events / ours_cpu:,.0f} events per CPU-second; "
          f"floor table holds the same rows: {'yes' if same else 'NO'}")
    counts = {t: store.count(t) for t in ("cards", "incidents", "events")}
    print(f"[{backend}] rows: {counts}")

    picks = [serials[rng.randrange(len(serials))] for _ in range(args.queries)]
    store.history(picks[0])
    show = timed_ms(store.history, picks)
    show_cpu = statistics.median(CPU_MS)
    lst = timed_ms(lambda _: store.incidents(limit=50), list(range(args.queries)))
    lst_cpu = statistics.median(CPU_MS)
    by_node = timed_ms(lambda n: store.incidents(node=n, limit=50), [f"node-{rng.randrange(n_nodes):04d}" for _ in range(args.queries)])
    by_card = timed_ms(lambda s: store.incidents(card=s, limit=50), picks)
    hist = store.history(picks[0])
    print(f"[{backend}] cards show (history: {len(hist.timeline)} entries): {summary(show)}  (CPU {show_cpu:.1f} ms)")
    print(f"[{backend}] incidents list (newest 50):         {summary(lst)}  (CPU {lst_cpu:.1f} ms)")
    print(f"[{backend}] incidents list --node:             {summary(by_node)}")
    print(f"[{backend}] incidents list --card:             {summary(by_card)}")
    store.close()
    return {"events_per_s": ev_rate, "floor_per_s": floor_rate, "show_ms": statistics.median(show),
            "list_ms": statistics.median(lst), "show_p95": sorted(show)[int(0.95 * (len(show) - 1))],
            "list_p95": sorted(lst)[int(0.95 * (len(lst) - 1))], "incidents_per_s": len(sample) / rec_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--cards", type=int, default=18_432)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--incidents", type=int, default=100_000)
    ap.add_argument("--api-incidents", type=int, default=2_000)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--pg-url", default=os.environ.get("TRAINMEDIC_BENCH_PG_URL") or os.environ.get("TRAINMEDIC_TEST_PG_URL"))
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start (wall-clock figures include waiting for a CPU)")
    results = {}
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="store-bench-") as d:
            path = Path(d) / "bench.db"
            results["sqlite"] = bench("sqlite", f"sqlite:///{path}", args, path)
    if args.backend in ("postgresql", "both"):
        if not args.pg_url:
            print("[postgresql] skipped: no --pg-url / TRAINMEDIC_TEST_PG_URL (start one with `bash tools/pg.sh start`)")
        else:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f"CREATE SCHEMA {schema}"))
            sep = "&" if "?" in args.pg_url else "?"
            try:
                results["postgresql"] = bench("postgresql", f"{args.pg_url}{sep}options=-csearch_path%3D{schema}", args, None)
            finally:
                with admin.connect() as c:
                    c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    parts = [
        f"{b}: ingest {r['events_per_s']:,.0f} ev/s ({r['events_per_s'] / r['floor_per_s']:.2f}x floor), "
        f"cards show {r['show_ms']:.1f} ms, incidents list {r['list_ms']:.1f} ms (median)"
        for b, r in results.items()
    ]
    ok = all(r["events_per_s"] >= 50_000 and r["show_p95"] <= 50 and r["list_p95"] <= 50 for r in results.values())
    print(f"SUMMARY store ({args.cards:,} cards, {args.events:,} events, {args.incidents:,} incidents): " + "; ".join(parts)
          + f"; targets (>= 50,000 ev/s, p95 <= 50 ms) {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
