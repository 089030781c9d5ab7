"""Find and read a job's log files in parallel: each worker reads heads and tails and returns small
summaries (rank scans, kernel scans, launcher records, card inventories), never whole logs.

Called by `diagnose.run`; the judge works only on what this returns.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from trainmedic.catalog import Catalog
from trainmedic.logs.elastic import ErrorFile, LauncherLog, parse_error_file, parse_launcher
from trainmedic.logs.kernel import KernelScan, scan_kernel_text
from trainmedic.logs.layout import FileRole, Kind, classify
from trainmedic.logs.linematch import LineMatcher
from trainmedic.logs.ranklog import FALLBACK_CASCADE, Hit, RankScan, by_fields, scan_rank_text
from trainmedic.logs.reading import read_text
from trainmedic.logs.timestamps import find_year, strip_prefix
from trainmedic.model import Role

KERNEL_TAIL_BYTES = 4 * 1024 * 1024
_RANKED = ("[rank", "[default", *(f"{d}" for d in range(10)))
OTHER_TAIL_BYTES = 1024 * 1024
PARALLEL_MIN_CHUNKS = 2
CHUNK_UNITS = 192


@dataclass(slots=True)
class RankUnit:
    """One rank's files (stdout, stderr, error.json) and what their paths say."""

    group: str
    roles: list[FileRole]

    __reduce__ = by_fields


@dataclass(slots=True)
class RankResult:
    unit: RankUnit
    scan: RankScan
    error_file: ErrorFile | None = None

    __reduce__ = by_fields


@dataclass(slots=True)
class OtherScan:
    """A log that is neither a rank's nor a kernel's: launcher output, a whole-job Slurm file."""

    file: str
    node: str | None
    launcher: LauncherLog
    tail_offset: int = 0
    hits: list[tuple[int | None, Hit]] = field(default_factory=list)
    """(rank named by the line's prefix, hit)."""


@dataclass(slots=True)
class Inventory:
    file: str
    kind: Kind
    node: str | None
    text: str


@dataclass(slots=True)
class ScanResult:
    ranks: list[RankResult] = field(default_factory=list)
    kernels: list[tuple[FileRole, KernelScan]] = field(default_factory=list)
    others: list[OtherScan] = field(default_factory=list)
    inventories: list[Inventory] = field(default_factory=list)
    files: int = 0
    bytes_read: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)
    """(file, what went wrong)."""
    skipped: int = 0


def discover(root: str) -> list[FileRole]:
    """Every regular file under `root`, classified by its path (sorted, so results are stable)."""
    out = [role for _, role in _walk(root) if role is not None]
    out.sort(key=lambda r: r.path)
    return out


def _walk(root: str) -> Iterator[tuple[str | None, FileRole | None]]:
    """Depth first: (None, role) for each regular file, then (relative dir, None) once everything
    under that directory has been seen ("" for `root`)."""
    root = root.rstrip(os.sep) or os.sep
    cut = len(root) + 1
    stack: list[tuple[str, bool]] = [(root, False)]
    while stack:
        d, finished = stack.pop()
        rel_dir = d[cut:] if os.sep == "/" else d[cut:].replace(os.sep, "/")
        if finished:
            yield rel_dir, None
            continue
        stack.append((d, True))
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append((e.path, False))
                elif e.is_file():
                    rel = e.path[cut:]
                    yield None, classify(rel if os.sep == "/" else rel.replace(os.sep, "/"))
            except OSError:
                continue


def _scope(group: str) -> str | None:
    """The directory that holds every file of a rank's group (the group is complete once the walk
    has left it), or None for groups that may span directories (Slurm task ids, pods)."""
    if group.startswith(("slurm#", "pod#")):
        return None
    return group.rsplit("#", 1)[0] if "#" in group else group


_WORKER: dict[str, object] = {}


def _matcher() -> LineMatcher:
    m = _WORKER.get("matcher")
    if m is None:
        m = LineMatcher(_WORKER["catalog"], FALLBACK_CASCADE)  # type: ignore[arg-type]
        _WORKER["matcher"] = m
    return m  # type: ignore[return-value]


def _scan_unit(root: str, unit: object) -> tuple[object, int, list[tuple[str, str]]]:
    matcher = _matcher()
    problems: list[tuple[str, str]] = []
    if isinstance(unit, RankUnit):
        rs = RankScan()
        err = None
        nbytes = 0
        year: int | None = None
        for role in unit.roles:
            rs.files.append(role.path)
            if role.kind is Kind.ERROR_FILE:
                t = read_text(os.path.join(root, role.path), role.path, 1 << 20, 0)
                err = parse_error_file(t.tail) or err
            else:
                t = read_text(os.path.join(root, role.path), role.path)
                if t.tail or t.head:
                    year = year or find_year(t.head or t.tail)
                    scan_rank_text(rs, t.head, t.tail, matcher, t.whole, role.path, year)
                if not t.whole:
                    rs.tail_offsets[role.path] = t.tail_offset
            nbytes += t.bytes_read
            problems += [(role.path, p) for p in t.problems]
        rs.bytes_read = nbytes
        return RankResult(unit, rs, err), nbytes, problems
    assert isinstance(unit, FileRole)
    if unit.kind is Kind.KERNEL:
        t = read_text(os.path.join(root, unit.path), unit.path, 16 * 1024, KERNEL_TAIL_BYTES)
        problems += [(unit.path, p) for p in t.problems]
        ks = scan_kernel_text(unit.path, t.tail, matcher, t.whole, t.head)
        ks.tail_offset = t.tail_offset
        return (unit, ks), t.bytes_read, problems
    if unit.kind in (Kind.NVIDIA_SMI, Kind.NPU_SMI, Kind.RANKMAP):
        t = read_text(os.path.join(root, unit.path), unit.path, 1 << 20, 0)
        problems += [(unit.path, p) for p in t.problems]
        return Inventory(unit.path, unit.kind, unit.node, t.tail), t.bytes_read, problems
    t = read_text(os.path.join(root, unit.path), unit.path, 16 * 1024, OTHER_TAIL_BYTES)
    problems += [(unit.path, p) for p in t.problems]
    other = OtherScan(unit.path, unit.node, parse_launcher(t.tail), t.tail_offset)
    for i, line in enumerate(t.tail.split("\n"), 1):
        if not line or not line.startswith(_RANKED):
            continue  # only lines a rank printed (srun -l, torch's [rankN]:, --tee) can accuse a rank
        _, rank, _ = strip_prefix(line)
        if rank is None:
            continue
        for rule, fields in matcher.match(line):
            if len(other.hits) >= 400 or (rule.role is Role.INFO):
                continue
            other.hits.append((rank, Hit(rule.id, rule.role, line, i, not t.whole, None, None, unit.path, fields)))
    return other, t.bytes_read, problems


_Out = tuple[object, int, list[tuple[str, str]]]


def _scan_chunk(args: tuple[str, int, list[object]]) -> tuple[int, list[_Out]]:
    """Scan one chunk of units. What comes back leaves out the units themselves (the parent has them:
    sending 18,432 file lists back and forth cost more than reading the files)."""
    root, idx, units = args
    out: list[_Out] = []
    for u in units:
        try:
            item, nbytes, problems = _scan_unit(root, u)
        except Exception as e:  # a loop boundary: one odd file must not end the diagnosis
            name = u.group if isinstance(u, RankUnit) else getattr(u, "path", "?")
            item, nbytes, problems = None, 0, [(str(name), f"could not be parsed: {type(e).__name__}: {e}")]
        if isinstance(item, RankResult):
            item.unit = _SENT
        elif isinstance(item, tuple):
            item = (None, item[1])
        out.append((item, nbytes, problems))
    return idx, out


_SENT = RankUnit("", [])
"""Stands for the unit in a result on its way back; the parent puts the real one back."""


def _add_role(u: RankUnit, r: FileRole) -> None:
    u.roles.append(r)
    if len(u.roles) > 1:  # stdout first: it has the full dates that complete stderr's glog stamps
        u.roles.sort(key=lambda x: (not x.path.endswith("stdout.log"), x.path))


_Chunk = tuple[str, int, list[object]]


def _stream(root: str, res: ScanResult, sent: dict[int, list[object]]) -> Iterator[_Chunk]:
    """Walk `root` and yield chunks of work units as soon as they are complete, so readers start while
    the walk goes on. A rank's unit is complete once the walk leaves the directory holding its group."""
    ready: list[object] = []
    open_groups: dict[str, RankUnit] = {}
    by_scope: dict[str | None, list[str]] = {}
    n = 0

    def chunk(units: list[object]) -> _Chunk:
        nonlocal n
        sent[n] = units
        n += 1
        return (root, n - 1, units)

    for rel_dir, role in _walk(root):
        if role is None:
            for g in by_scope.pop(rel_dir, ()):
                ready.append(open_groups.pop(g))
        elif role.kind is Kind.SKIP:
            res.skipped += 1
            continue
        else:
            res.files += 1
            if role.kind in (Kind.RANK, Kind.ERROR_FILE) and role.group:
                u = open_groups.get(role.group)
                if u is None:
                    u = open_groups[role.group] = RankUnit(role.group, [])
                    by_scope.setdefault(_scope(role.group), []).append(role.group)
                _add_role(u, role)
            else:
                ready.append(role)
        while len(ready) >= CHUNK_UNITS:
            yield chunk(ready[:CHUNK_UNITS])
            del ready[:CHUNK_UNITS]
    ready.extend(open_groups.values())
    for i in range(0, len(ready), CHUNK_UNITS):
        yield chunk(ready[i : i + CHUNK_UNITS])


def scan(
    root: str,
    catalog: Catalog,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScanResult:
    """Read every file of the job under `root` and summarise it; `progress(done, total)` as it goes
    (the total grows while the directory walk is still running)."""
    res = ScanResult()
    _WORKER["catalog"] = catalog
    _WORKER.pop("matcher", None)
    nworkers = workers if workers is not None else min(4, os.cpu_count() or 1)
    sent: dict[int, list[object]] = {}
    stream = _stream(root, res, sent)
    head = list(itertools.islice(stream, PARALLEL_MIN_CHUNKS))
    chunks = itertools.chain(head, stream)
    parallel = nworkers > 1 and len(head) >= PARALLEL_MIN_CHUNKS
    done = 0
    for idx, batch in _run(chunks, nworkers if parallel else 1):
        for unit, (item, nbytes, problems) in zip(sent.pop(idx), batch, strict=True):
            res.bytes_read += nbytes
            if problems:
                res.problems += problems
            if isinstance(item, RankResult):
                item.unit = unit  # type: ignore[assignment]
                res.ranks.append(item)
            elif isinstance(item, tuple):
                res.kernels.append((unit, item[1]))  # type: ignore[arg-type]
            elif isinstance(item, OtherScan):
                res.others.append(item)
            elif isinstance(item, Inventory):
                res.inventories.append(item)
        done += len(batch)
        if progress is not None:
            progress(done, done + sum(len(u) for u in sent.values()))
    # Readers finish in any order: sort, so that one job always gives one diagnosis.
    res.ranks.sort(key=lambda r: min(x.path for x in r.unit.roles))
    res.kernels.sort(key=lambda k: k[0].path)
    res.others.sort(key=lambda o: o.file)
    res.inventories.sort(key=lambda i: i.file)
    res.problems.sort()
    return res


def _run(chunks: Iterable[_Chunk], workers: int) -> Iterator[tuple[int, list[_Out]]]:
    if workers <= 1:
        for c in chunks:
            yield _scan_chunk(c)
        return
    import multiprocessing  # here: diagnosing a small job never needs it, and it costs start-up time

    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        yield from pool.imap_unordered(_scan_chunk, chunks)
