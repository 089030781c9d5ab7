"""What each file in a job's log directory is, from its path alone: a rank's log (torchrun
`--log-dir`, Slurm per-task, Kubernetes pod, plain per-rank names), a torchelastic error file, a
node's kernel log, a card inventory (nvidia-smi csv, npu-smi), a rank map, or some other log.

Used by diagnose's scanner before anything is read; content can still refine rank and node later.
"""

from __future__ import annotations

import enum
import re
from functools import lru_cache
from typing import NamedTuple


class Kind(enum.StrEnum):
    """What a file holds, as far as diagnosis cares."""

    RANK = "rank"
    ERROR_FILE = "error_file"
    KERNEL = "kernel"
    NVIDIA_SMI = "nvidia_smi"
    NPU_SMI = "npu_smi"
    RANKMAP = "rankmap"
    OTHER = "other"
    SKIP = "skip"


class FileRole(NamedTuple):
    """A file's kind plus what its path says about where it comes from (any part may be unknown).
    (A named tuple: a job has tens of thousands of files, and a frozen dataclass costs 3 us each.)"""

    path: str
    kind: Kind
    node: str | None = None
    rank: int | None = None
    local_rank: int | None = None
    attempt: int | None = None
    group: str | None = None
    """Files that belong to the same rank share a group key (stdout, stderr, error.json)."""


_ATTEMPT = re.compile(r"^attempt_(\d+)$")
_SLURM = re.compile(r"^slurm-(\d+)\.(\d+)\.(?:out|err|log)$")
_PLAIN_RANK = re.compile(r"(?:^|[_\-.])(?:rank|worker|proc|task)[_\-.]?(\d+)(?=[_\-.]|$)", re.IGNORECASE)
_K8S_CONTAINERS = re.compile(r"^(?P<pod>.+?)_(?P<ns>[^_]+)_(?P<container>[^_]+)-[0-9a-f]{64}\.log$")
_K8S_POD_DIR = re.compile(r"^(?P<ns>[^_]+)_(?P<pod>[^_]+)_[0-9a-f-]{36}$")
_KERNEL_NAMES = re.compile(r"(?:^|[_\-.])(?:dmesg|kern|kernel|journal|kmsg|messages|syslog)(?:[_\-.]|$)", re.IGNORECASE)
_KERNEL_SUFFIXES = (".dmesg", ".journal", ".kmsg", ".kern")
_SKIP_NAMES = {"truth.json", "index.json"}
_RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|^none_|^torchelastic_")


@lru_cache(maxsize=65536)
def looks_like_run_id(name: str) -> bool:
    """True for torchrun's job-level log sub-directory names (run id plus a random suffix)."""
    return bool(_RUN_ID.search(name))


@lru_cache(maxsize=4096)
def _torchrun_folder(folder: str) -> tuple[str | None, int, int, str] | None:
    """(node, local rank, attempt, group) for a torchrun `.../attempt_N/<local_rank>` folder, else
    None. Kept per folder: a rank's stdout, stderr and error.json share it."""
    head, sep, last = folder.rpartition("/")
    if not sep or not last.isdecimal():  # what int() reads (isdigit also takes "²")
        return None
    top, sep, attempt = head.rpartition("/")  # top: the folders above attempt_N ("" if none)
    if not attempt.startswith("attempt_"):
        return None
    m = _ATTEMPT.match(attempt)
    if m is None:
        return None
    local = int(last)
    above = top.rpartition("/")[2] if sep else None
    node = above if above and not looks_like_run_id(above) and above != "logs" else None
    return node, local, int(m.group(1)), f"{top}#{local}"


_TORCHRUN_LOGS = frozenset(("stdout.log", "stderr.log"))
_new = tuple.__new__


def classify(path: str) -> FileRole:
    """The role of one file, given its path relative to the job directory (POSIX separators)."""
    folder, _, name = path.rpartition("/")
    if name in _TORCHRUN_LOGS and folder and path[0] != "/":
        # torchrun's per-rank logs, most of a big job's files: what the rules below conclude for them
        run = _torchrun_folder(folder)
        if run is not None:
            node, local, attempt, group = run
            return _new(FileRole, (path, Kind.RANK, node, None, local, attempt, group))  # type: ignore[no-any-return]
    stripped = path.strip("/")
    folder, _, name = stripped.rpartition("/")
    lower = name.lower()
    if name in _SKIP_NAMES or lower.endswith((".pt", ".pth", ".ckpt", ".safetensors", ".bin", ".npy", ".gz", ".tar")):
        # truth.json is the simulator's answer key: a diagnosis must never read it.
        return FileRole(path, Kind.SKIP)
    # torchrun --log-dir: .../<node or run id>/attempt_N/<local_rank>/{stdout.log,stderr.log,error.json}
    run = _torchrun_folder(folder) if folder else None
    if run is not None:
        node, local, attempt, group = run
        kind = Kind.ERROR_FILE if name == "error.json" else Kind.RANK
        if kind is Kind.RANK and not (lower.endswith(".log") or lower.endswith(".txt")):
            return FileRole(path, Kind.OTHER, node=node)
        return FileRole(path, kind, node=node, local_rank=local, attempt=attempt, group=group)
    parts = tuple(stripped.split("/"))
    if name == "error.json":
        return FileRole(path, Kind.ERROR_FILE, group="/".join(parts[:-1]))
    parent = parts[-2].lower() if len(parts) >= 2 else ""
    stem = name.split(".")[0]
    if lower.endswith(".csv") and ("nvidia" in lower or "nvidia" in parent or "smi" in parent or "gpu" in lower):
        return FileRole(path, Kind.NVIDIA_SMI, node=stem)
    if "npu-smi" in lower or "npu_smi" in lower or "npu-smi" in parent:
        return FileRole(path, Kind.NPU_SMI, node=stem)
    if lower.endswith(".json") and any(k in lower for k in ("rankmap", "rank_map", "topology", "ranks")):
        return FileRole(path, Kind.RANKMAP)
    if lower.endswith(_KERNEL_SUFFIXES) or _KERNEL_NAMES.search(name) or parent in ("kernel", "dmesg", "journal"):
        node = stem
        if _KERNEL_NAMES.fullmatch(stem) or stem.lower() in ("dmesg", "kern", "kernel", "journal", "messages", "syslog"):
            node = parts[-2] if len(parts) >= 2 and parent not in ("kernel", "dmesg", "journal") else None
        return FileRole(path, Kind.KERNEL, node=node)
    m = _SLURM.match(name)
    if m is not None:  # srun --output=slurm-%j.%t.out: one file per task, task id = global rank
        return FileRole(path, Kind.RANK, rank=int(m.group(2)), group=f"slurm#{m.group(2)}")
    m = _K8S_CONTAINERS.match(name)
    if m is not None:  # /var/log/containers/<pod>_<ns>_<container>-<id>.log: a pod per node
        return _pod(path, m.group("pod"))
    if len(parts) >= 3 and _K8S_POD_DIR.match(parts[-3]) and lower.endswith(".log"):
        return _pod(path, _K8S_POD_DIR.match(parts[-3]).group("pod"))  # type: ignore[union-attr]
    m = _PLAIN_RANK.search(stem) or _PLAIN_RANK.search(name)
    if m is not None and lower.endswith((".log", ".txt", ".out", ".err")):
        rank = int(m.group(1))
        return FileRole(path, Kind.RANK, rank=rank, group=f"{'/'.join(parts[:-1])}#rank{rank}")
    if lower.endswith((".log", ".txt", ".out", ".err", ".json")) or "." not in name:
        # A per-node launcher log usually sits in a directory named after its node.
        above = parts[-2] if len(parts) >= 2 else ""
        generic = above.lower() in ("", "logs", "log", "output", "outputs", "launcher", "job") or looks_like_run_id(above)
        return FileRole(path, Kind.OTHER, node=None if generic else above)
    return FileRole(path, Kind.SKIP)


def _pod(path: str, pod: str) -> FileRole:
    return FileRole(path, Kind.OTHER, node=pod, group=f"pod#{pod}")
