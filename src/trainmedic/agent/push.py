"""Buffered push of findings to the controller: every finding is written to an on-disk spool first,
then sent in order; a segment is deleted only after the controller answered 2xx.

While the controller is unreachable the spool grows (bounded by `max_bytes`; past it the oldest
segments go and are counted in `dropped`), and sending is retried with exponential backoff. Used
by the agent loop; the controller side is the server's `POST <url>` taking
`{"node": ..., "findings": [Finding.to_dict(), ...]}`.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from trainmedic.model import Finding

Post = Callable[[str, bytes, float], int]


def http_post(url: str, body: bytes, timeout_s: float) -> int:
    """POST JSON; the HTTP status (0 when nothing answered)."""
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError, TimeoutError):
        return 0


class Pusher:
    """Spool-then-send queue of findings for one node."""

    def __init__(self, url: str, spool: Path, node: str, post: Post = http_post, clock: Callable[[], float] = time.time,
                 max_bytes: int = 64 << 20, timeout_s: float = 3.0, max_backoff_s: float = 60.0, batch: int = 500) -> None:
        self.url = url
        self.spool = Path(spool)
        self.node = node
        self.post = post
        self.clock = clock
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.max_backoff_s = max_backoff_s
        self.batch = batch
        self.spool.mkdir(parents=True, exist_ok=True)
        self._seq = 0
        self._backoff = 0.0
        self._next_try = 0.0
        self.sent = 0
        self.dropped = 0
        self.failures = 0
        self.last_error: str | None = None
        self.last_ok_at: float | None = None

    def _segments(self) -> list[Path]:
        return sorted(self.spool.glob("*.jsonl"))

    def pending(self) -> int:
        """Findings waiting in the spool."""
        total = 0
        for seg in self._segments():
            try:
                total += sum(1 for line in seg.read_text().splitlines() if line.strip())
            except OSError:
                continue
        return total

    def submit(self, findings: Sequence[Finding]) -> None:
        """Write findings to the spool (durably, atomically), then try to send if due."""
        if findings:
            self._seq += 1
            name = f"{int(self.clock() * 1e6):020d}-{os.getpid()}-{self._seq:06d}.jsonl"
            tmp = self.spool / (name + ".tmp")
            with tmp.open("w") as fh:
                for f in findings:
                    fh.write(json.dumps(f.to_dict(), default=str) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.spool / name)
            self._bound()
        self.flush()

    def _bound(self) -> None:
        segs = self._segments()
        sizes = [s.stat().st_size for s in segs]
        total = sum(sizes)
        while segs and total > self.max_bytes:
            seg = segs.pop(0)
            total -= sizes.pop(0)
            self.dropped += sum(1 for line in seg.read_text().splitlines() if line.strip())
            seg.unlink(missing_ok=True)

    def flush(self, force: bool = False) -> int:
        """Send spooled findings oldest first until one send fails; the number sent."""
        now = self.clock()
        if not force and now < self._next_try:
            return 0
        sent = 0
        for seg in self._segments():
            try:
                lines = [line for line in seg.read_text().splitlines() if line.strip()]
            except OSError as exc:
                self.last_error = f"spool {seg}: {exc}"
                continue
            for start in range(0, len(lines), self.batch):
                part = lines[start:start + self.batch]
                body = ('{"node": ' + json.dumps(self.node) + ', "findings": [' + ",".join(part) + "]}").encode()
                status = self.post(self.url, body, self.timeout_s)
                if not 200 <= status < 300:
                    self.failures += 1
                    self.last_error = f"controller {self.url} answered {status or 'nothing'}; {self.pending()} findings kept in {self.spool}"
                    self._backoff = min(self.max_backoff_s, max(1.0, self._backoff * 2))
                    self._next_try = now + self._backoff
                    if start:  # keep only what was not yet sent
                        seg.write_text("\n".join(lines[start:]) + "\n")
                    self.sent += sent
                    return sent
                sent += len(part)
            seg.unlink(missing_ok=True)
        self.sent += sent
        self._backoff = 0.0
        self._next_try = 0.0
        if sent:
            self.last_ok_at = now
            self.last_error = None
        return sent
