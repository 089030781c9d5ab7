"""Where incidents go: the ONE function every launcher incident passes through.

Each incident is written to `<checkpoint-dir>/incidents/<id>.json` (always) and, when a fleet store
exists (`--db`, `TRAINMEDIC_DB_URL`, or the default SQLite file already made by `trainmedic db upgrade`
or an earlier run), recorded there too by a background writer, so a slow or broken database never
delays recovery or stops the job.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
from pathlib import Path
from typing import Any

from trainmedic.model import Incident


def record_incident(
    incident: Incident, directory: Path, extra: dict[str, Any] | None = None, db_url: str | None = None
) -> Path:
    """Write (or rewrite, as the timeline grows) one incident as JSON; returns the file path.

    Args:
        incident: the incident so far.
        directory: the incidents directory (`<checkpoint-dir>/incidents`).
        extra: launcher details that the Incident value has no field for (steps lost, attempt, ...).
        db_url: the fleet store; None means TRAINMEDIC_DB_URL, else the default SQLite file if it exists.
    """
    directory.mkdir(parents=True, exist_ok=True)
    body = incident.to_dict()
    if extra:
        body["launcher"] = extra
    path = directory / f"{incident.id}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(body, indent=2, default=str))
    os.replace(tmp, path)
    url = store_url(db_url)
    if url is not None:
        _writer(url).put(incident)
    return path


def store_url(explicit: str | None = None) -> str | None:
    """The fleet store to record in, or None when there is none (the JSON files are then the record)."""
    url = explicit or os.environ.get("TRAINMEDIC_DB_URL")
    if url:
        return url
    from trainmedic.store.engine import default_path

    path = default_path()
    return f"sqlite:///{path}" if path.exists() else None


def flush_store(timeout_s: float = 10.0) -> None:
    """Wait (bounded) until queued incidents are in the store; called when the launcher exits."""
    for w in list(_WRITERS.values()):
        w.flush(timeout_s)


class _StoreWriter:
    """One daemon thread per store URL: records incidents in order, newest version of each wins."""

    def __init__(self, url: str):
        self.url = url
        self.q: queue.Queue[Incident | threading.Event] = queue.Queue()
        self.failed = False
        self.thread = threading.Thread(target=self._loop, name="trainmedic-store", daemon=True)
        self.thread.start()

    def put(self, incident: Incident) -> None:
        if not self.failed:
            self.q.put(incident)

    def flush(self, timeout_s: float) -> None:
        done = threading.Event()
        self.q.put(done)
        done.wait(timeout_s)

    def _loop(self) -> None:
        store = None
        while True:
            item = self.q.get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            if self.failed:
                continue
            try:
                if store is None:
                    from trainmedic.store import open_store

                    store = open_store(self.url)
                store.record_incident(item)
            except Exception as exc:  # the store must never take the launcher down
                self.failed = True
                print(
                    f"trainmedic: could not record incident {item.id} in the fleet store {self.url}: {exc}; "
                    "the JSON file next to the checkpoints is the record (check --db / TRAINMEDIC_DB_URL)",
                    file=sys.stderr,
                )


_WRITERS: dict[str, _StoreWriter] = {}
_LOCK = threading.Lock()


def _writer(url: str) -> _StoreWriter:
    with _LOCK:
        w = _WRITERS.get(url)
        if w is None:
            w = _WRITERS[url] = _StoreWriter(url)
        return w
