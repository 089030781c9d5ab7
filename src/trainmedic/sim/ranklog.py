"""The text one rank writes: start-up (host, versions, environment, NCCL init), one line per step from
the training script plus one from `trainmedic.train`, then its end (fault line, watchdog timeout,
remote-exit error, traceback) as torch prints it on stderr, and torchelastic's error.json.

Step lines are built from per-job and per-node precomputed pieces so an 18,432-rank job writes fast.
Called by `sim.job` per node.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from trainmedic.sim import timefmt
from trainmedic.sim.fates import End, Fate, is_exception_line
from trainmedic.sim.faults import Scenario
from trainmedic.sim.noise import NCCL_VERSION, PY_SITE, STARTUP_WARNINGS, STEP_WARNINGS, TORCH_VERSION
from trainmedic.sim.plan import JobPlan, hash_int, mix, rank_pid

_VARIANTS = 16


def node_ip(node: int) -> str:
    """The node's address on the out-of-band network (as NCCL's bootstrap prints it)."""
    return f"10.{64 + node // 250}.{node % 250}.11"


@dataclass
class JobText:
    """Per-job pieces shared by all nodes a worker writes (built once per worker process)."""

    tails: list[str]
    """The script's step line after `[rank N] `, per step (the loss is the all-reduced one: same on all)."""
    step_s: list[str]
    compute_wait: list[list[str]]
    """Per step, _VARIANTS `compute_s .. wait_s .. loss ..` pieces for healthy ranks."""
    local_loss: list[list[str]]
    hb: list[list[str]]
    """Per step, _VARIANTS tails of trainmedic.train's line after `step `."""

    @classmethod
    def build(cls, plan: JobPlan) -> JobText:
        rng = random.Random(f"{plan.node_seed}:text")
        tails, steps, cw, ll = [], [], [], []
        prev = plan.t_start + plan.init_s
        tokens_per_step = 8192 * 2304 * 2
        nan_from = plan.injected_step if plan.scenario is Scenario.NAN else None
        for i, end in enumerate(plan.step_end):
            step = plan.first_step + i
            dur = end - prev
            prev = end
            loss = plan.loss[i]
            lr = 1.5e-4 * min(1.0, (step + 1) / 2000)
            gn = abs(rng.gauss(0.9, 0.25))
            nan = nan_from is not None and step >= nan_from
            loss_s = "nan" if nan else f"{loss:.4f}"
            gn_s = "nan" if nan else f"{gn:.3f}"
            tails.append(
                f"step {step} loss {loss_s} lr {lr:.3e} grad_norm {gn_s} step_time {dur:.3f}s "
                f"tokens/s {tokens_per_step / dur:.0f}\n"
            )
            steps.append(f"{dur:.3f}")
            base = plan.step_s
            row = []
            losses = []
            for _ in range(_VARIANTS):
                compute = min(dur, base * rng.uniform(0.78, 0.92))
                row.append(f"compute_s {compute:.3f} wait_s {dur - compute:.3f}")
                losses.append("nan" if nan_from is not None and step > nan_from else f"{loss + rng.gauss(0, 0.08):.4f}")
            cw.append(row)
            ll.append(losses)
        hb = [
            [f"{plan.first_step + i} step_s {steps[i]} {cw[i][v]} loss {ll[i][v]}\n" for v in range(_VARIANTS)]
            for i in range(len(steps))
        ]
        return cls(tails, steps, cw, ll, hb)


def _culprit_cw(plan: JobPlan, i: int, rng: random.Random) -> str:
    """A straggler's own compute/wait: it computes the whole (slow) step and waits least."""
    dur = _step_duration(plan, i)
    wait = rng.uniform(0.01, 0.06) * plan.step_s
    return f"compute_s {dur - wait:.3f} wait_s {wait:.3f}"


def _step_duration(plan: JobPlan, i: int) -> float:
    """Wall time of the i-th logged step (the same on every rank of a synchronous job)."""
    prev = plan.t_start + plan.init_s if i == 0 else plan.step_end[i - 1]
    return plan.step_end[i] - prev


class RankWriter:
    """Builds one rank's files' content."""

    def __init__(self, plan: JobPlan, text: JobText, node: int, skew: float, safe: frozenset[str]):
        self.plan = plan
        self.text = text
        self.node = node
        self.skew = skew
        self.safe = safe
        self.host = plan.topo.node_name(node)
        self.rng = random.Random(f"{plan.node_seed}:ranks:{node}")
        self.cards = [plan.topo.card(node, i) for i in range(plan.topo.cards_per_node)]
        # per step on this node's clock: the second (and the next one) as text, and the milliseconds
        bases = [t + skew for t in plan.step_end]
        self.sec = [timefmt.pylog(b)[:-4] for b in bases]
        self.sec_next = [timefmt.pylog(b + 1)[:-4] for b in bases]
        self.base_ms = [int((b - int(b)) * 1000) for b in bases]
        self.ckpt_steps = {i for i in range(1, len(bases)) if (plan.first_step + i) % 500 == 0}

    def stdout(self, rank: int, fate: Fate) -> str:
        plan = self.plan
        k = plan.topo.cards_per_node
        local = rank % k
        rng = self.rng
        delay = 0.001 + (mix(plan.node_seed, rank) % 40_000) / 1e6
        pid = rank_pid(plan.node_seed, rank)
        parts = self._startup(rank, local, pid, rng)
        last = self._last_step(fate)
        prefix = f" INFO [rank {rank}] "
        hb_prefix = f" INFO trainmedic.train: rank {rank} step "
        special = (plan.scenario is Scenario.STRAGGLER or plan.scenario is Scenario.NAN) and \
            rank == plan.injections[0].rank
        tails, hb = self.text.tails, self.text.hb
        first = plan.first_step
        warn_every = 97 + rank % 13
        ckpt = f"{prefix}saved checkpoint shard to /ckpt/run/step_{{:07d}}/__{rank}_0.distcp\n"
        out = parts
        sec, sec_next, base_ms = self.sec, self.sec_next, self.base_ms
        d_ms = int(delay * 1000)
        for i in range(0, last - first + 1):
            ms = base_ms[i] + d_ms
            ts = f"{sec[i]},{ms:03d}" if ms < 1000 else f"{sec_next[i]},{ms - 1000:03d}"
            v = (rank + 5 * i) % _VARIANTS
            if special and first + i >= plan.injected_step:
                out.append(ts + prefix + tails[i] + ts + hb_prefix + self._culprit_hb(i, v, rng))
            else:
                out.append(ts + prefix + tails[i] + ts + hb_prefix + hb[i][v])
            if i in self.ckpt_steps:
                out.append(ts + ckpt.format(first + i))
            if i % warn_every == warn_every - 1:
                key = "clip" if i % 2 else "slow_io"
                if f"step:{key}" in self.safe:
                    out.append(ts + " " + STEP_WARNINGS[key].format(rank=rank, step=first + i, gn=1.0 + rng.random() * 4,
                                                                   wait=0.5 + rng.random() * 3) + "\n")
        return "".join(out)

    def _culprit_hb(self, i: int, v: int, rng: random.Random) -> str:
        """trainmedic.train's line for a straggler or NaN culprit after the fault started."""
        plan = self.plan
        step = plan.first_step + i
        text = self.text
        if plan.scenario is Scenario.STRAGGLER:
            piece = _culprit_cw(plan, i, rng)
            return f"{step} step_s {text.step_s[i]} {piece} loss {text.local_loss[i][v]}\n"
        return f"{step} step_s {text.step_s[i]} {text.compute_wait[i][v]} loss nan\n"

    def _last_step(self, fate: Fate) -> int:
        plan = self.plan
        if fate.end is End.RUNNING:
            return plan.last_step
        if fate.end is End.LOST:
            # the node vanished mid-step: its last line is the last step that ended before
            return max((s for s in range(plan.first_step, plan.last_step + 1) if plan.step_end_at(s) < fate.at),
                       default=plan.first_step)
        return plan.last_step

    def _startup(self, rank: int, local: int, pid: int, rng: random.Random) -> list[str]:
        plan = self.plan
        topo = plan.topo
        t = plan.t_start + self.skew + rng.uniform(1.0, 4.0)
        ts = timefmt.pylog(t)
        k = topo.cards_per_node
        card = self.cards[local]
        bus = card.bus_id or "00000000:18:00.0"
        busid = f"{int(bus.replace(':', '').replace('.', ''), 16):x}"
        tid = pid + 37 + local
        nccl = f"{self.host}:{pid}:{tid} [{local}] NCCL INFO "
        devices = ",".join(str(i) for i in range(k))
        comm = f"0x{mix(plan.node_seed, rank) & 0xFFFFFFFFFFF:x}"
        commid = f"0x{hash_int(f'{plan.node_seed}:commid') & 0xFFFFFFFFFFFFFFF:x}"
        ip = node_ip(self.node)
        if plan.opts.layout == "slurm":
            launcher_env = f"SLURM_JOB_ID={plan.job_id} SLURM_PROCID={rank} SLURM_LOCALID={local} SLURM_NODEID={self.node}"
            restart = ""
        else:
            launcher_env, restart = f"GROUP_RANK={self.node}", " TORCHELASTIC_RESTART_COUNT=0"
        lines = [
            f"{ts} INFO [rank {rank}] hostname {self.host} pid {pid}\n",
            f"{ts} INFO [rank {rank}] torch {TORCH_VERSION} cuda 12.4 nccl {NCCL_VERSION} python 3.10.12\n",
            f"{ts} INFO [rank {rank}] env RANK={rank} LOCAL_RANK={local} WORLD_SIZE={topo.world} "
            f"LOCAL_WORLD_SIZE={k} {launcher_env} MASTER_ADDR={topo.node_name(0)} "
            f"MASTER_PORT={plan.master_port} CUDA_VISIBLE_DEVICES={devices}{restart}\n",
            f"{nccl}cudaDriverVersion 12040\n",
            f"{nccl}Bootstrap : Using bond0:{ip}<0>\n",
            f"{nccl}NET/Plugin: No plugin found (libnccl-net.so), using internal implementation\n",
        ]
        if rank == 0:
            lines.append(f"{nccl}NCCL version {NCCL_VERSION}+cuda12.4\n")
        lines += [
            f"{nccl}NET/IB : Using [0]mlx5_0:1/IB [1]mlx5_3:1/IB [2]mlx5_4:1/IB [3]mlx5_5:1/IB "
            f"[4]mlx5_6:1/IB [5]mlx5_9:1/IB [6]mlx5_10:1/IB [7]mlx5_11:1/IB ; OOB bond0:{ip}<0>\n",
            f"{nccl}Using network IB\n",
            f"{nccl}comm {comm} rank {rank} nranks {topo.world} cudaDev {local} nvmlDev {local} busId {busid} "
            f"commId {commid} - Init START\n",
            f"{nccl}Setting affinity for GPU {local} to ffffffff,00000000,ffffffff\n",
            f"{nccl}comm {comm} rank {rank} nRanks {topo.world} nNodes {topo.nodes} localRanks {k} "
            f"localRank {local} MNNVL 0\n",
            f"{nccl}Connected all rings\n",
            f"{nccl}Connected all trees\n",
            f"{nccl}comm {comm} rank {rank} nranks {topo.world} cudaDev {local} nvmlDev {local} busId {busid} "
            f"commId {commid} - Init COMPLETE\n",
        ]
        ts2 = timefmt.pylog(plan.t_start + plan.init_s + self.skew - rng.uniform(0.5, 3.0))
        lines += [
            f"{ts2} INFO [rank {rank}] model 101.6B parameters, tp={topo.tp} pp={topo.pp} dp={topo.dp}, "
            f"seq 8192, global batch {max(topo.dp, 1) * 8}\n",
            f"{ts2} INFO [rank {rank}] resumed from checkpoint /ckpt/run/step_{plan.first_step:07d} "
            f"(step {plan.first_step})\n",
        ]
        return lines

    def stderr(self, rank: int, fate: Fate) -> str:
        plan = self.plan
        local = rank % plan.topo.cards_per_node
        t = plan.t_start + self.skew + 6.0 + (rank % 17) * 0.01
        out = []
        for key in ("barrier", "autocast", "typed_storage"):
            if f"warn:{key}" in self.safe and (key != "typed_storage" or rank % 3 == 0):
                out.append(STARTUP_WARNINGS[key].format(rank=rank, local=local, glog=timefmt.glog(t, "W")) + "\n")
        out += self.end_lines(rank, fate)
        return "".join(out)

    def end_lines(self, rank: int, fate: Fate) -> list[str]:
        """The lines a rank writes on stderr when it ends."""
        plan = self.plan
        t = fate.at + self.skew
        pre = f"[rank{rank}]:"
        if fate.end is End.FAULT_LINE:
            lines = [inj.lines for inj in plan.injections if inj.rank == rank and inj.where == "job"]
            text = lines[0][0] if lines else ""
            body = text if text.startswith("[rank") else f"{pre} {text}" if _exception_line(text) else text
            if _exception_line(text.split("]: ", 1)[-1]):
                return [f"{pre} {f}\n" for f in _TRACE_HEAD] + [body + "\n"]
            return [body + "\n"]
        if fate.end is End.EXCEPTION:
            return [f"{pre} {line}\n" for line in plan.exception]
        if fate.end is End.TIMEOUT:
            return self._timeout(rank, fate, t)
        if fate.end is End.REMOTE_ERROR:
            return self._remote(rank, fate, t)
        return []

    def _timeout(self, rank: int, fate: Fate, t: float) -> list[str]:
        plan = self.plan
        pre = f"[rank{rank}]:"
        ms = int(plan.timeout_s * 1000)
        ran = int((fate.at - (fate.blocked_at or fate.at)) * 1000)
        seq = _seq(plan.injected_step, fate.pg)
        op = {1: "ALLREDUCE", 2: "RECV", 3: "_REDUCE_SCATTER_BASE"}.get(fate.pg, "ALLREDUCE")
        numel = {1: 16777216, 2: 8388608, 3: 262144000}.get(fate.pg, 1024)
        grank = _group_rank(plan, rank, fate.pg)
        if plan.opts.backend == "gloo":
            kind = "recv" if fate.pg == 2 else "send" if rank % 2 else "recv"
            file = "unbound_buffer.cc:78" if kind == "recv" else "unbound_buffer.cc:129"
            return [f"{pre} {f}\n" for f in _TRACE_HEAD[:-1]] + [
                f"{pre}     dist.all_reduce(buf, group=self.dp_group)\n",
                f"{pre} RuntimeError: [/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/{file}] "
                f"Timed out waiting {ms}ms for {kind} operation to complete\n",
            ]
        g = timefmt.glog(t)
        g2 = timefmt.glog(t + 0.000412)
        work = (f"WorkNCCL(SeqNum={seq}, OpType={op}, NumelIn={numel}, NumelOut={numel}, Timeout(ms)={ms}) "
                f"ran for {ran} milliseconds before timing out.")
        pg = f"[PG ID {fate.pg} PG GUID {fate.pg} Rank {grank}]"
        return [
            f"{pre}[{g} ProcessGroupNCCL.cpp:616] [Rank {grank}] Watchdog caught collective operation timeout: {work}\n",
            f"{pre}[{g} ProcessGroupNCCL.cpp:1785] {pg} Exception (either an error or timeout) detected by "
            f"watchdog at work: {seq}, last enqueued NCCL work: {seq}, last completed NCCL work: {seq - 1}.\n",
            f"{pre}[{g} ProcessGroupNCCL.cpp:630] [Rank {grank}] Some NCCL operations have failed or timed out. "
            "Due to the asynchronous nature of CUDA kernels, subsequent GPU operations might run on "
            "corrupted/incomplete data.\n",
            f"{pre}[{g} ProcessGroupNCCL.cpp:636] [Rank {grank}] To avoid data inconsistency, we are taking the "
            "entire process down.\n",
            f"{pre}[{g2.replace('E', 'F', 1)} ProcessGroupNCCL.cpp:1595] {pg} Process group watchdog thread "
            f"terminated with exception: [Rank {grank}] Watchdog caught collective operation timeout: {work}\n",
            "terminate called after throwing an instance of 'c10::DistBackendError'\n",
            f"  what():  {pg} Process group watchdog thread terminated with exception: [Rank {grank}] Watchdog "
            f"caught collective operation timeout: {work}\n",
        ]

    def _remote(self, rank: int, fate: Fate, t: float) -> list[str]:
        plan = self.plan
        pre = f"[rank{rank}]:"
        peer = fate.peer if fate.peer is not None else 0
        pnode = peer // plan.topo.cards_per_node
        port = 40000 + mix(plan.node_seed, peer * 65537 + rank) % 20000
        if plan.opts.backend == "gloo":
            return [f"{pre} {f}\n" for f in _TRACE_HEAD] + [
                f"{pre} RuntimeError: [/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553] "
                f"Connection closed by peer [{node_ip(pnode)}]:{port}. This is typically caused by a remote worker "
                "crashing. Check the logs of the remote worker before reporting an error. GLHF! 🏖️\n"
            ]
        pg_id = 1 if rank // plan.topo.tp == peer // plan.topo.tp else 2
        pg = f"[PG ID {pg_id} PG GUID {pg_id} Rank {_group_rank(plan, rank, pg_id)}]"
        g = timefmt.glog(t)
        return [
            f"{pre}[{g} ProcessGroupNCCL.cpp:1536] {pg} Process group watchdog thread terminated with exception: "
            f"NCCL error: remote process exited or there was a network error, NCCL version {NCCL_VERSION}\n",
            f"{pre} ncclRemoteError: A call failed possibly due to a network error or a remote process exiting "
            "prematurely.\n",
            f"{pre} Last error:\n",
            f"{pre} socketProgress: Connection closed by remote peer {plan.topo.node_name(pnode)}<{port}>\n",
            "terminate called after throwing an instance of 'c10::DistBackendError'\n",
            f"  what():  {pg} Process group watchdog thread terminated with exception: NCCL error: remote "
            f"process exited or there was a network error, NCCL version {NCCL_VERSION}\n",
        ]

    def error_json(self, rank: int, fate: Fate) -> str | None:
        """torchelastic's error file, for ranks that died of a Python exception."""
        plan = self.plan
        lines: list[str] = []
        if fate.end is End.EXCEPTION:
            lines = list(plan.exception)
        elif fate.end is End.FAULT_LINE and fate.exit_code == 1:
            text = next(i.lines[0] for i in plan.injections if i.rank == rank)
            lines = [*_TRACE_HEAD, text.split("]: ", 1)[-1] if text.startswith("[rank") else text]
        elif plan.opts.backend == "gloo" and fate.end in (End.TIMEOUT, End.REMOTE_ERROR) and fate.exit_code == 1:
            lines = [ln.split("]: ", 1)[-1].rstrip("\n") for ln in self.end_lines(rank, fate)]
        if not lines:
            return None
        message = lines[-1]
        stamp = str(int(fate.exit_at or fate.at))
        return json.dumps({"message": {"message": message, "extraInfo": {
            "py_callstack": "\n".join(lines) + "\n", "timestamp": stamp}}})


_TRACE_HEAD = (
    "Traceback (most recent call last):",
    '  File "/workspace/train.py", line 412, in <module>',
    "    main()",
    f'  File "{PY_SITE}/torch/distributed/elastic/multiprocessing/errors/__init__.py", line 355, in wrapper',
    "    return f(*args, **kwargs)",
    '  File "/workspace/train.py", line 380, in main',
    "    loss.backward()",
)


def _exception_line(text: str) -> bool:
    return is_exception_line(text)


def _seq(step: int, pg: int) -> int:
    return step * {1: 192, 2: 16, 3: 24}.get(pg, 1) + {1: 7, 2: 3, 3: 1}.get(pg, 0)


def _group_rank(plan: JobPlan, rank: int, pg: int) -> int:
    topo = plan.topo
    if pg == 1:
        return rank % topo.tp
    if pg == 2:
        return rank // (topo.world // topo.pp)
    if pg == 3:
        return (rank % (topo.world // topo.pp)) // topo.tp
    return rank
