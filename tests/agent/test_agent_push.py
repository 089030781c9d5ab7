"""Findings pushed to a controller that is down, then up: spooled on disk, none lost, bounded."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from trainmedic.agent.push import Pusher, http_post
from trainmedic.model import Finding, Symptom


def _finding(i: int) -> Finding:
    return Finding(source="test", symptom=Symptom.TELEMETRY, at=float(i), node="n1", message=f"finding {i}")


class _Controller:
    """A real HTTP server on localhost that records what it receives."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[dict] = []
        store = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                store.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_controller_down_then_up_gets_every_finding_in_order(tmp_path: Path, clock) -> None:
    ctl = _Controller()
    url = f"http://127.0.0.1:{ctl.port}/api/findings"
    ctl.server.server_close()  # bound port, nothing listening: connection refused
    p = Pusher(url, tmp_path / "spool", "n1", clock=clock, timeout_s=1.0)
    for i in range(60):  # an hour down, one finding a minute
        p.submit([_finding(i)])
        clock.advance(60)
    assert p.pending() == 60 and p.sent == 0 and "answered nothing" in (p.last_error or "")
    ctl = _Controller(ctl.port)  # the controller comes back on the same address
    ctl.start()
    try:
        clock.advance(120)
        assert p.flush() == 60
    finally:
        ctl.stop()
    got = [f["message"] for batch in ctl.received for f in batch["findings"]]
    assert got == [f"finding {i}" for i in range(60)] and ctl.received[0]["node"] == "n1"
    assert p.pending() == 0 and p.last_error is None


def test_sending_backs_off_while_the_controller_fails(tmp_path: Path, clock) -> None:
    calls: list[int] = []

    def post(url: str, body: bytes, timeout_s: float) -> int:
        calls.append(1)
        return 503

    p = Pusher("http://ctl/x", tmp_path, "n1", post=post, clock=clock)
    p.submit([_finding(1)])
    p.submit([_finding(2)])  # within the backoff: no second attempt
    assert len(calls) == 1
    clock.advance(1.5)
    p.flush()
    assert len(calls) == 2 and p.pending() == 2


def test_the_spool_is_bounded_and_counts_what_it_dropped(tmp_path: Path, clock) -> None:
    p = Pusher("http://ctl/x", tmp_path, "n1", post=lambda *a: 0, clock=clock, max_bytes=2000)
    for i in range(50):
        clock.advance(100)
        p.submit([_finding(i)])
    assert p.dropped > 0 and p.pending() + p.dropped == 50
    assert sum(s.stat().st_size for s in tmp_path.glob("*.jsonl")) <= 2000


def test_http_post_reports_no_answer_as_zero() -> None:
    assert http_post("http://127.0.0.1:9/none", b"{}", 0.5) == 0
