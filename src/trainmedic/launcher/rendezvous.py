"""Several nodes: one launcher per node, coordinated by node 0 over a small TCP service.

Node 0 listens on `--master-port`; every other launcher connects, says hello, then obeys:
`start` an attempt, `stop` its ranks, `dump` a rank's stacks, `signal` a rank, `finish`. Followers
forward every observation (heartbeats, lines, exits) so node 0 sees the whole job and gives one
verdict. Messages are JSON lines. Each attempt gets a fresh torch store port chosen by node 0.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from trainmedic.launcher.node import LocalNode, NodeAttempt, Obs
from trainmedic.recover.local import Stopped


class LinkClosed(Exception):
    """The other launcher went away."""


class JsonLink:
    """A TCP connection carrying JSON lines; a reader thread fills `inbox`."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._wlock = threading.Lock()
        self.closed = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buf = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    try:
                        self.inbox.put(json.loads(line))
                    except ValueError:
                        continue
        except OSError:
            pass
        self.closed = True
        self.inbox.put(None)

    def send(self, msg: dict[str, Any]) -> None:
        data = (json.dumps(msg, separators=(",", ":")) + "\n").encode()
        with self._wlock:
            try:
                self.sock.sendall(data)
            except OSError as e:
                self.closed = True
                raise LinkClosed(str(e)) from None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class RemoteNode:
    """Node 0's handle on a follower launcher; the same interface as `LocalNode`."""

    def __init__(self, link: JsonLink, node_rank: int, name: str, nproc: int) -> None:
        self.link = link
        self.node_rank = node_rank
        self.name = name
        self.nproc = nproc
        self._held: list[Obs] = []

    def start(self, a: NodeAttempt) -> None:
        self.link.send({"cmd": "start", "attempt": a.to_json()})

    def _drain(self, block_s: float = 0.0) -> list[Obs]:
        out: list[Obs] = []
        deadline = time.monotonic() + block_s
        while True:
            timeout = max(0.0, deadline - time.monotonic())
            try:
                msg = self.link.inbox.get(timeout=timeout) if block_s else self.link.inbox.get_nowait()
            except queue.Empty:
                break
            if msg is None:
                out.append(Obs("link_lost", self.node_rank, time.time()))
                self.link.inbox.put(None)
                break
            out.append(Obs.from_json(msg))
            if block_s and out[-1].kind == "stopped":
                break
        return out

    def poll(self) -> list[Obs]:
        held, self._held = self._held, []
        obs = held + self._drain()
        lost = [o for o in obs if o.kind == "link_lost"]
        if lost:
            raise LinkClosed(f"lost node {self.node_rank} ({self.name})")
        return obs

    def dump_stacks(self, rank: int) -> bool:
        self.link.send({"cmd": "dump", "rank": rank})
        return True

    def signal_rank(self, rank: int, sig: int) -> bool:
        self.link.send({"cmd": "signal", "rank": rank, "sig": sig})
        return True

    def stop(self, kill_first: Sequence[int] = (), term_timeout_s: float = 3.0) -> Stopped | None:
        self.link.send({"cmd": "stop", "kill_first": list(kill_first), "term_timeout_s": term_timeout_s})
        deadline = time.monotonic() + term_timeout_s + 15
        while time.monotonic() < deadline:
            for o in self._drain(block_s=0.5):
                if o.kind == "stopped":
                    d = o.data or {}
                    return Stopped(
                        tuple(d.get("terminated", ())),
                        tuple(d.get("killed", ())),
                        float(d.get("seconds", 0.0)),
                    )
                if o.kind == "link_lost":
                    return None
                self._held.append(o)
        return None

    def prepare_standbys(self) -> None:
        self.link.send({"cmd": "standby"})

    def finish(self, rc: int) -> None:
        with contextlib.suppress(LinkClosed):
            self.link.send({"cmd": "finish", "rc": rc})

    def close(self) -> None:
        self.link.close()


def accept_nodes(
    server: socket.socket,
    expected: Sequence[int],
    nproc: int,
    timeout_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> list[RemoteNode]:
    """Wait for the follower launchers of `expected` node ranks; raises TimeoutError or ValueError."""
    nodes: dict[int, RemoteNode] = {}
    deadline = clock() + timeout_s
    server.settimeout(0.5)
    while len(nodes) < len(expected):
        if clock() > deadline:
            missing = sorted(set(expected) - set(nodes))
            raise TimeoutError(f"node rank(s) {missing} did not join within {timeout_s:.0f} s")
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        link = JsonLink(conn)
        try:
            hello = link.inbox.get(timeout=10)
        except queue.Empty:
            link.close()
            continue
        if not hello or hello.get("kind") != "hello":
            link.close()
            continue
        nr, n = int(hello["node_rank"]), int(hello["nproc"])
        problem = None
        if nr not in expected:
            problem = f"node rank {nr} is not expected (nnodes gives {sorted(expected)} besides 0)"
        elif nr in nodes:
            problem = f"node rank {nr} joined twice"
        elif n != nproc:
            problem = f"node rank {nr} has --nproc-per-node {n}, node 0 has {nproc}"
        if problem:
            link.send({"cmd": "refuse", "reason": problem})
            link.close()
            raise ValueError(problem)
        link.send({"cmd": "welcome"})
        nodes[nr] = RemoteNode(link, nr, str(hello.get("name", f"node{nr}")), n)
    return [nodes[k] for k in sorted(nodes)]


def follow(
    node: LocalNode,
    addr: str,
    port: int,
    nproc: int,
    timeout_s: float,
    say: Callable[[str], None] = print,
    poll_s: float = 0.05,
) -> int:
    """Run a follower launcher: join node 0, then run its orders until `finish`. Returns the exit code."""
    deadline = time.monotonic() + timeout_s
    sock: socket.socket | None = None
    while sock is None:
        try:
            sock = socket.create_connection((addr, port), timeout=2)
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"could not reach node 0 at {addr}:{port} within {timeout_s:.0f} s"
                ) from None
            time.sleep(0.2)
    sock.settimeout(None)
    link = JsonLink(sock)
    link.send({"kind": "hello", "node_rank": node.node_rank, "nproc": nproc, "name": node.name})
    answer = link.inbox.get(timeout=timeout_s)
    if not answer or answer.get("cmd") != "welcome":
        raise ValueError(f"node 0 refused this node: {(answer or {}).get('reason', 'connection closed')}")
    say(f"[trainmedic] node {node.node_rank} joined node 0 at {addr}:{port}")
    try:
        while True:
            try:
                msg = link.inbox.get(timeout=poll_s)
            except queue.Empty:
                msg = {}
            if msg is None:
                say("[trainmedic] lost node 0: stopping this node's ranks")
                return 1
            cmd = msg.get("cmd") if msg else None
            if cmd == "start":
                node.start(NodeAttempt.from_json(msg["attempt"]))
            elif cmd == "stop":
                res = node.stop(msg.get("kill_first", ()), float(msg.get("term_timeout_s", 3.0)))
                for o in node.poll():
                    link.send(o.to_json())
                link.send(
                    Obs(
                        "stopped",
                        node.node_rank,
                        time.time(),
                        -1,
                        {
                            "terminated": list(res.terminated),
                            "killed": list(res.killed),
                            "seconds": res.seconds,
                        },
                    ).to_json()
                )
            elif cmd == "standby":
                node.prepare_standbys()
            elif cmd == "dump":
                node.dump_stacks(int(msg["rank"]))
            elif cmd == "signal":
                node.signal_rank(int(msg["rank"]), int(msg["sig"]))
            elif cmd == "finish":
                return int(msg.get("rc", 0))
            for o in node.poll():
                link.send(o.to_json())
    except LinkClosed:
        say("[trainmedic] lost node 0: stopping this node's ranks")
        return 1
    finally:
        node.close()
        link.close()


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False
