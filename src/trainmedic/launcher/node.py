"""One node's ranks: spawn them for an attempt, collect what they say, stop them.

`LocalNode` runs on every launcher. On node 0 the supervisor drives it directly; on the other
nodes a follower drives it on the coordinator's orders and forwards its observations (`Obs`).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from trainmedic.localize.devices import DeviceMap
from trainmedic.recover.local import Stopped, signal_group, spawn, stop_all
from trainmedic.train import protocol


@dataclass(frozen=True, slots=True)
class Obs:
    """One observation from a node: a heartbeat, an output line, an exit, a start or a stop."""

    kind: str  # hb | line | exit | started | stopped
    node_rank: int
    at: float
    rank: int = -1
    data: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "node_rank": self.node_rank,
            "at": self.at,
            "rank": self.rank,
            "data": self.data,
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> Obs:
        return Obs(str(d["kind"]), int(d["node_rank"]), float(d["at"]), int(d.get("rank", -1)), d.get("data"))


@dataclass(frozen=True, slots=True)
class RankSpec:
    rank: int
    local_rank: int
    slot: int


@dataclass(frozen=True, slots=True)
class NodeAttempt:
    """What one node starts for one attempt."""

    attempt: int
    master_addr: str
    master_port: int
    world_size: int
    node_rank: int
    ranks: tuple[RankSpec, ...]
    resume_path: str | None = None
    resume_step: int | None = None
    visible_slots: tuple[int, ...] | None = None
    """Slots left after exclusions; set when a card is excluded (CUDA_VISIBLE_DEVICES remap)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "master_addr": self.master_addr,
            "master_port": self.master_port,
            "world_size": self.world_size,
            "node_rank": self.node_rank,
            "ranks": [[r.rank, r.local_rank, r.slot] for r in self.ranks],
            "resume_path": self.resume_path,
            "resume_step": self.resume_step,
            "visible_slots": list(self.visible_slots) if self.visible_slots is not None else None,
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> NodeAttempt:
        vs = d.get("visible_slots")
        return NodeAttempt(
            attempt=int(d["attempt"]),
            master_addr=str(d["master_addr"]),
            master_port=int(d["master_port"]),
            world_size=int(d["world_size"]),
            node_rank=int(d["node_rank"]),
            ranks=tuple(RankSpec(int(a), int(b), int(c)) for a, b, c in d["ranks"]),
            resume_path=d.get("resume_path"),
            resume_step=d.get("resume_step"),
            visible_slots=tuple(int(x) for x in vs) if vs is not None else None,
        )


@dataclass(slots=True)
class _Rank:
    spec: RankSpec
    proc: subprocess.Popen[bytes]
    reader: threading.Thread
    log: IO[str] | None = None
    exited: bool = False
    warm: bool = False


# A warm standby: a Python process that has already imported the heavy modules (torch) and waits
# for its rank's environment on stdin, then runs the script as __main__. A restart then costs
# rendezvous and checkpoint loading, not interpreter start and `import torch`.
_STANDBY_BOOT = """
import json, os, runpy, sys
for _m in sys.argv[1].split(","):
    if _m:
        try:
            __import__(_m)
        except Exception:
            pass
_line = sys.stdin.readline()
if not _line:
    sys.exit(0)
_msg = json.loads(_line)
os.environ.clear()
os.environ.update(_msg["env"])
sys.stdin.close()
sys.argv = list(_msg["argv"])
if _msg["module"]:
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
    runpy.run_path(sys.argv[0], run_name="__main__")
"""


@dataclass(slots=True)
class _Standby:
    proc: subprocess.Popen[bytes]
    holder: list[int]
    """[rank] once assigned; the reader thread tags lines with it."""
    reader: threading.Thread | None = None


def python_script(argv: Sequence[str]) -> tuple[list[str], bool] | None:
    """(script argv, is_module) for `python [-u] script ...` / `python [-u] -m mod ...`; else None."""
    if not argv or not Path(argv[0]).name.startswith("python"):
        return None
    rest = list(argv[1:])
    while rest and rest[0] == "-u":
        rest.pop(0)
    if not rest:
        return None
    if rest[0] == "-m":
        return (rest[1:], True) if len(rest) > 1 else None
    if rest[0].startswith("-"):
        return None
    return rest, False


@dataclass
class LocalNode:
    """Ranks of this node. Heartbeats arrive on a UDP socket whose address goes into each rank's env."""

    node_rank: int
    name: str
    argv: Sequence[str]
    base_env: dict[str, str]
    extra_env: dict[str, str] = field(default_factory=dict)
    max_restarts: int = 0
    run_id: str = "trainmedic"
    heartbeat_s: float = 0.1
    log_dir: Path | None = None
    echo: Callable[[int, str], None] | None = None
    clock: Callable[[], float] = time.time
    preload: tuple[str, ...] = ()
    """Modules warm standbys import ahead of a restart (empty: no standbys)."""

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.endpoint = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.lines: queue.Queue[tuple[int, str, float]] = queue.Queue()
        self.ranks: dict[int, _Rank] = {}
        self.devices = DeviceMap(self.name, self.base_env)
        self.attempt = -1
        self._pending: list[Obs] = []
        self.standbys: list[_Standby] = []
        self._script = python_script(self.argv)

    # ---- lifecycle ---------------------------------------------------------------------------------

    def rank_env(self, a: NodeAttempt, r: RankSpec) -> dict[str, str]:
        env = dict(self.base_env)
        env.update(self.extra_env)
        nlocal = len(a.ranks)
        env.update(
            {
                "RANK": str(r.rank),
                "LOCAL_RANK": str(r.local_rank),
                "WORLD_SIZE": str(a.world_size),
                "LOCAL_WORLD_SIZE": str(nlocal),
                "GROUP_RANK": str(a.node_rank),
                "ROLE_RANK": str(r.rank),
                "ROLE_NAME": "default",
                "ROLE_WORLD_SIZE": str(a.world_size),
                "GROUP_WORLD_SIZE": env.get("GROUP_WORLD_SIZE", "1"),
                "MASTER_ADDR": a.master_addr,
                "MASTER_PORT": str(a.master_port),
                "TORCHELASTIC_RESTART_COUNT": str(a.attempt),
                "TORCHELASTIC_MAX_RESTARTS": str(self.max_restarts),
                "TORCHELASTIC_RUN_ID": self.run_id,
                "TORCHELASTIC_USE_AGENT_STORE": "False",
                "PYTHONUNBUFFERED": "1",
                protocol.ENV_ENDPOINT: self.endpoint,
                protocol.ENV_ATTEMPT: str(a.attempt),
                protocol.ENV_INTERVAL: str(self.heartbeat_s),
                protocol.ENV_STACK_SIGNAL: str(int(signal.SIGUSR1)),
            }
        )
        env.setdefault("OMP_NUM_THREADS", "1")
        for k in (protocol.ENV_RESUME_PATH, protocol.ENV_RESUME_STEP):
            env.pop(k, None)
        if a.resume_path:
            env[protocol.ENV_RESUME_PATH] = a.resume_path
            if a.resume_step is not None:
                env[protocol.ENV_RESUME_STEP] = str(a.resume_step)
        if a.visible_slots is not None:
            devs = [str(self.devices.device_index(s)) for s in a.visible_slots]
            env["CUDA_VISIBLE_DEVICES"] = ",".join(devs)
        return env

    def start(self, a: NodeAttempt) -> list[Obs]:
        """Spawn this node's ranks for attempt `a` (warm standbys first); one `started` obs per rank."""
        self.attempt = a.attempt
        self.ranks = {}
        out: list[Obs] = []
        for r in a.ranks:
            log = None
            if self.log_dir is not None:
                d = self.log_dir / f"attempt_{a.attempt}"
                d.mkdir(parents=True, exist_ok=True)
                log = (d / f"rank_{r.rank}.log").open("w")
            env = self.rank_env(a, r)
            proc, reader, warm = self._take_standby(r.rank, env, log)
            if proc is None:
                proc = spawn(self.argv, env)
                reader = threading.Thread(
                    target=self._read, args=([r.rank], proc, log, a.attempt), daemon=True
                )
                reader.start()
            assert reader is not None
            self.ranks[r.rank] = _Rank(r, proc, reader, log, warm=warm)
            card = self.devices.card(r.slot)
            info = {
                "pid": proc.pid,
                "local_rank": r.local_rank,
                "slot": r.slot,
                "card": card.to_dict(),
                "warm": warm,
            }
            out.append(Obs("started", self.node_rank, self.clock(), r.rank, info))
        self._pending.extend(out)
        return out

    def prepare_standbys(self, count: int | None = None) -> int:
        """Start warm standbys for the next attempt (call once the current one trains); returns how many."""
        if not self.preload or self._script is None:
            return 0
        want = len(self.ranks) if count is None else count
        self.standbys = [sb for sb in self.standbys if sb.proc.poll() is None]
        env = dict(self.base_env)
        env.update(self.extra_env)
        env.setdefault("OMP_NUM_THREADS", "1")
        env["PYTHONUNBUFFERED"] = "1"
        started = 0
        while len(self.standbys) < want:
            argv = [self.argv[0], "-u", "-c", _STANDBY_BOOT, ",".join(self.preload)]
            proc = spawn(argv, env, stdin=True)
            self.standbys.append(_Standby(proc, []))
            started += 1
        return started

    def _take_standby(
        self, rank: int, env: dict[str, str], log: IO[str] | None
    ) -> tuple[subprocess.Popen[bytes] | None, threading.Thread | None, bool]:
        while self.standbys and self._script is not None:
            sb = self.standbys.pop(0)
            if sb.proc.poll() is not None or sb.proc.stdin is None:
                continue
            argv, module = self._script
            try:
                sb.proc.stdin.write(
                    (json.dumps({"env": env, "argv": argv, "module": module}) + "\n").encode()
                )
                sb.proc.stdin.close()
            except OSError:
                continue
            sb.holder.append(rank)
            reader = threading.Thread(
                target=self._read, args=(sb.holder, sb.proc, log, self.attempt), daemon=True
            )
            reader.start()
            return sb.proc, reader, True
        return None, None, False

    def _read(
        self, holder: list[int], proc: subprocess.Popen[bytes], log: IO[str] | None, attempt: int
    ) -> None:
        assert proc.stdout is not None
        rank = holder[0]
        for raw in iter(proc.stdout.readline, b""):
            text = raw.decode(errors="replace").rstrip("\n")
            self.lines.put((rank, text, self.clock()))
            if log is not None:
                log.write(text + "\n")
                log.flush()
            if self.echo is not None and attempt == self.attempt:
                self.echo(rank, text)
        if log is not None:
            log.close()

    def poll(self) -> list[Obs]:
        """Heartbeats, lines and exits since the last poll."""
        out, self._pending = self._pending, []
        while True:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            hb = protocol.decode(data)
            if hb is not None and hb.attempt == self.attempt and hb.rank in self.ranks:
                out.append(Obs("hb", self.node_rank, self.clock(), hb.rank, data.decode()))
        while True:
            try:
                rank, text, at = self.lines.get_nowait()
            except queue.Empty:
                break
            if rank in self.ranks:
                out.append(Obs("line", self.node_rank, at, rank, text))
        for rank, st in self.ranks.items():
            if not st.exited and st.proc.poll() is not None:
                st.exited = True
                st.reader.join(timeout=0.5)  # its last lines (the traceback) before the exit
                while True:
                    try:
                        lr, text, at = self.lines.get_nowait()
                    except queue.Empty:
                        break
                    out.append(Obs("line", self.node_rank, at, lr, text))
                out.append(Obs("exit", self.node_rank, self.clock(), rank, st.proc.returncode))
        return out

    def dump_stacks(self, rank: int) -> bool:
        """Ask a rank for its Python stacks (SIGCONT first: a stopped rank cannot run its handler)."""
        st = self.ranks.get(rank)
        if st is None or st.proc.poll() is not None:
            return False
        signal_group(st.proc.pid, signal.SIGCONT)
        try:
            os.kill(st.proc.pid, signal.SIGUSR1)
        except ProcessLookupError:
            return False
        return True

    def process_state(self, rank: int) -> str | None:
        """The rank's scheduler state from /proc (`T (stopped)` for a SIGSTOPped rank), if readable."""
        st = self.ranks.get(rank)
        if st is None:
            return None
        try:
            for line in Path(f"/proc/{st.proc.pid}/status").read_text().splitlines():
                if line.startswith("State:"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            return None
        return None

    def signal_rank(self, rank: int, sig: int) -> bool:
        """Send a signal to one rank's process (fault injection from outside)."""
        st = self.ranks.get(rank)
        if st is None or st.proc.poll() is not None:
            return False
        try:
            os.kill(st.proc.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def pids(self) -> dict[int, int]:
        return {r: st.proc.pid for r, st in self.ranks.items()}

    def stop(self, kill_first: Sequence[int] = (), term_timeout_s: float = 3.0) -> Stopped:
        procs = {r: st.proc for r, st in self.ranks.items()}
        res = stop_all(procs, term_timeout_s, kill_first=kill_first)
        for st in self.ranks.values():
            st.exited = True
            st.reader.join(timeout=1.0)
        return res

    def close(self) -> None:
        if any(st.proc.poll() is None for st in self.ranks.values()):
            self.stop(term_timeout_s=1.0)
        for sb in self.standbys:
            signal_group(sb.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                sb.proc.wait(timeout=5)
        self.standbys = []
        self.sock.close()


def default_argv(script: Sequence[str], module: bool = False, no_python: bool = False) -> list[str]:
    """How a rank runs the user's command (`python -u script.py args`, like torchrun)."""
    if no_python:
        return list(script)
    if module:
        return [sys.executable, "-u", "-m", *script]
    return [sys.executable, "-u", *script]
