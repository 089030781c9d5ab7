"""Find and read a job's log files in parallel: each worker reads heads and tails and returns small
summaries (rank scans, kernel scans, launcher records, card inventories), never whole logs.

Called by `diagnose.run`; the judge works only on what this returns.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter
from typing import Any

from trainmedic.catalog import Catalog
from trainmedic.logs.elastic import ErrorFile, LauncherLog, parse_error_file, parse_launcher
from trainmedic.logs.fast import FAST
from trainmedic.logs.kernel import KernelScan, scan_kernel_text
from trainmedic.logs.layout import FileRole, Kind, classify
from trainmedic.logs.linematch import LineMatcher
from trainmedic.logs.pickled import by_fields
from trainmedic.logs.ranklog import FALLBACK_CASCADE, Hit, RankScan, scan_rank_files, scan_rank_text
from trainmedic.logs.reading import read_text
from trainmedic.logs.timestamps import find_year, strip_prefix
from trainmedic.model import Role

KERNEL_TAIL_BYTES = 4 * 1024 * 1024
_RANKED = ("[rank", "[default", *(f"{d}" for d in range(10)))
OTHER_TAIL_BYTES = 1024 * 1024
CHUNK_UNITS = 192
"""Units per task when the parent hands out units it knows (files at the top, ranks of the second round)."""
SPLIT_DIRS = 64
"""The parent walks the top of the tree until it has this many directories to hand out (or none)."""
DIR_TASKS = 96
"""Directories are handed out in about this many tasks: small enough to keep both readers busy to the end."""


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

    __reduce__ = by_fields


@dataclass(slots=True)
class Inventory:
    file: str
    kind: Kind
    node: str | None
    text: str

    __reduce__ = by_fields


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
    out = list(_walk(root))
    out.sort(key=lambda r: r.path)
    return out


def _walk(root: str, sub: str = "") -> Iterator[FileRole]:
    """Every regular file under `root`/`sub` (paths relative to `root`), classified, depth first."""
    for rel in _walk_files(root, sub):
        yield classify(rel)


def _walk_files(root: str, sub: str) -> Iterable[str]:
    root = root.rstrip(os.sep) or os.sep
    return FAST.walk_files(root, sub) if FAST is not None and os.sep == "/" else _py_walk_files(root, sub)  # type: ignore[no-any-return]


def _py_walk_files(root: str, sub: str) -> Iterator[str]:
    """The regular files under `root`/`sub` (links to files too; links to directories are not
    followed), relative to `root`: a directory's files in the order it lists them, then its
    subdirectories, the last listed first. Unreadable directories are passed over."""
    cut = len(root) + 1
    stack = [os.path.join(root, sub) if sub else root]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.is_file():
                    rel = e.path[cut:]
                    yield rel if os.sep == "/" else rel.replace(os.sep, "/")
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
        got = scan_rank_files(root, unit.roles, Kind.RANK, matcher)  # the plain case, in one compiled call
        if got is not None:
            return RankResult(unit, got, None), got.bytes_read, problems
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


def _scan_one(root: str, u: object) -> _Out:
    try:
        return _scan_unit(root, u)
    except Exception as e:  # a loop boundary: one odd file must not end the diagnosis
        name = u.group if isinstance(u, RankUnit) else getattr(u, "path", "?")
        return None, 0, [(str(name), f"could not be parsed: {type(e).__name__}: {e}")]


@dataclass(slots=True)
class _Done:
    """What a reader sends back for one task."""

    idx: int
    out: list[_Out]
    units: list[object] | None = None
    """The units read, for a task that walked directories (the parent did not know them)."""
    loose: list[FileRole] = field(default_factory=list)
    """Rank files whose rank may have files outside the walked directories: read in a later round."""
    files: int = 0
    skipped: int = 0

    __reduce__ = by_fields


_Task = tuple[str, str, int, list[object]]
"""(kind, root, index, items): kind "dirs" (directories to walk and read) or "units" (units to read)."""


def _run_task(task: _Task) -> _Done:
    kind, root, idx, items = task
    if kind == "units":  # the parent keeps the units: sending them back cost more than reading them
        return _Done(idx, [_strip(_scan_one(root, u)) for u in items])
    done = _Done(idx, [], [])
    for sub in items:
        assert isinstance(sub, str)
        _walk_and_read(root, sub, done)
    return done


def _strip(got: _Out) -> _Out:
    item, nbytes, problems = got
    if isinstance(item, RankResult):
        item.unit = _SENT
    elif isinstance(item, tuple):
        item = (None, item[1])
    return item, nbytes, problems


def _walk_and_read(root: str, sub: str, done: _Done) -> None:
    """Walk one directory and read what is in it: files on their own as they come, ranks once the walk
    is over (their files may sit in several directories below `sub`). A rank whose files may also sit
    outside `sub` (its group's directory is above it, or unknown: Slurm task ids, pods) is left loose."""
    assert done.units is not None
    inside = sub + "/"
    groups: dict[str, RankUnit] = {}
    skip, rank, error_file = Kind.SKIP, Kind.RANK, Kind.ERROR_FILE
    files = _walk_files(root, sub)
    # torchrun's per-rank logs, most of the files, classified in one compiled call; the rest here
    known = FAST.torchrun_roles(files, FileRole, rank) if FAST is not None and isinstance(files, list) else repeat(None)
    for rel, role in zip(files, known, strict=False):  # known: one per file, or endless Nones
        if role is None:
            role = classify(rel)
        kind, group = role.kind, role.group
        if kind is skip:
            done.skipped += 1
            continue
        done.files += 1
        if group and (kind is rank or kind is error_file):
            u = groups.get(group)
            if u is not None:  # the group's scope was looked at with its first file
                _add_role(u, role)
                continue
            scope = _scope(group)
            if scope is None or not (scope == sub or scope.startswith(inside)):
                done.loose.append(role)
                continue
            groups[group] = RankUnit(group, [role])
        else:
            done.units.append(role)
            done.out.append(_scan_one(root, role))
    for u in groups.values():
        done.units.append(u)
        done.out.append(_scan_one(root, u))


_PATH = attrgetter("path")

_SENT = RankUnit("", [])
"""Stands for the unit in a result on its way back; the parent puts the real one back."""


def _add_role(u: RankUnit, r: FileRole) -> None:
    roles = u.roles
    roles.append(r)
    # stdout first: it has the full dates that complete stderr's glog stamps
    if len(roles) == 2:  # most ranks: one comparison, as the sort would make it
        if _role_order(roles[1]) < _role_order(roles[0]):
            roles.reverse()
    elif len(roles) > 2:
        roles.sort(key=_role_order)


def _role_order(r: FileRole) -> tuple[bool, str]:
    return not r.path.endswith("stdout.log"), r.path


def _expand(root: str) -> tuple[list[FileRole], list[str]]:
    """The top of the tree, breadth first, until it splits into at least SPLIT_DIRS directories (or
    ends): the files met on the way, and the directories left for the readers to walk, in order."""
    root = root.rstrip(os.sep) or os.sep
    files: list[FileRole] = []
    level = [""]
    while level and len(level) < SPLIT_DIRS:
        below: list[str] = []
        for rel in level:
            try:
                with os.scandir(os.path.join(root, rel) if rel else root) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                continue
            for e in entries:
                path = f"{rel}/{e.name}" if rel else e.name
                try:
                    if e.is_dir(follow_symlinks=False):
                        below.append(path)
                    elif e.is_file():
                        files.append(classify(path))
                except OSError:
                    continue
        level = below
    return files, level


def scan(
    root: str,
    catalog: Catalog,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScanResult:
    """Read every file of the job under `root` and summarise it; `progress(done, total)` as it goes
    (the total is an estimate until every directory has been walked).

    The parent walks only the top of the tree; readers walk the directories below it and read what
    they find, so that the walk is shared too. Rank files whose rank may span directories that
    different readers walked come back unread and are read, whole ranks, in a second round."""
    res = ScanResult()
    _WORKER["catalog"] = catalog
    _WORKER.pop("matcher", None)
    nworkers = workers if workers is not None else min(4, os.cpu_count() or 1)
    top, dirs = _expand(root)
    loose: list[FileRole] = []
    plain: list[object] = []
    for role in top:
        if role.kind is Kind.SKIP:
            res.skipped += 1
        elif role.kind in (Kind.RANK, Kind.ERROR_FILE) and role.group:
            res.files += 1
            loose.append(role)
        else:
            res.files += 1
            plain.append(role)
    per_task = max(1, -(-len(dirs) // DIR_TASKS))
    sent: dict[int, list[object]] = {}
    tasks: list[_Task] = [("dirs", root, i, list(dirs[k : k + per_task])) for i, k in enumerate(range(0, len(dirs), per_task))]
    dir_tasks = len(tasks)
    tasks += _unit_tasks(root, plain, dir_tasks, sent)
    parallel = nworkers > 1 and (dir_tasks >= 2 or len(plain) + len(loose) > CHUNK_UNITS)
    seen = {"read": 0, "known": len(plain) + len(loose), "dir_tasks": 0, "dir_units": 0}

    def absorb(d: _Done) -> None:
        units = sent.pop(d.idx) if d.units is None else d.units
        for unit, (item, nbytes, problems) in zip(units, d.out, strict=True):
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
        seen["read"] += len(d.out)
        if d.units is not None:
            res.files += d.files
            res.skipped += d.skipped
            loose.extend(d.loose)
            seen["known"] += len(d.out) + len(d.loose)
            seen["dir_tasks"] += 1
            seen["dir_units"] += len(d.out) + len(d.loose)
        if progress is not None:
            per_dir_task = seen["dir_units"] / seen["dir_tasks"] if seen["dir_tasks"] else CHUNK_UNITS
            guess = seen["known"] + round((dir_tasks - seen["dir_tasks"]) * per_dir_task)
            progress(seen["read"], max(seen["read"], guess))

    readers = nworkers if parallel else 1
    for d in _share(tasks, readers):
        absorb(d)
    # Second round: the ranks whose files different walks found, each now whole. A rank's loose
    # files stand for one unit however many files, so the count is settled here.
    groups: dict[str, RankUnit] = {}
    for role in sorted(loose, key=lambda r: r.path):
        assert role.group is not None
        u = groups.get(role.group)
        if u is None:
            u = groups[role.group] = RankUnit(role.group, [])
        _add_role(u, role)
    seen["known"] -= len(loose) - len(groups)
    for d in _share(_unit_tasks(root, list(groups.values()), len(tasks), sent), readers):
        absorb(d)
    # Readers finish in any order: sort, so that one job always gives one diagnosis.
    res.ranks.sort(key=lambda r: min(map(_PATH, r.unit.roles)))
    res.kernels.sort(key=lambda k: k[0].path)
    res.others.sort(key=lambda o: o.file)
    res.inventories.sort(key=lambda i: i.file)
    res.problems.sort()
    return res


def _unit_tasks(root: str, units: list[object], first: int, sent: dict[int, list[object]]) -> list[_Task]:
    out: list[_Task] = []
    for i, k in enumerate(range(0, len(units), CHUNK_UNITS), first):
        sent[i] = units[k : k + CHUNK_UNITS]
        out.append(("units", root, i, sent[i]))
    return out


def _share(tasks: list[_Task], readers: int) -> Iterator[_Done]:
    """Run `tasks` here and in `readers` - 1 forked processes, each taking the next task when it is
    free, and yield what each task found. A forked reader appends its results to a file of its own,
    read here between tasks: only the readers' share is pickled, and no reader waits on a pipe.
    Tasks a reader took but did not finish (it died) are run here at the end."""
    if readers <= 1 or len(tasks) < 2:
        for t in tasks:
            yield _run_task(t)
        return
    import multiprocessing  # here: diagnosing a small job never needs it, and it costs start-up time
    import pickle
    import tempfile

    ctx = multiprocessing.get_context("fork")
    done: set[int] = set()
    with ExitStack() as stack:
        counter: Any
        try:
            counter = ctx.Value("l", 0)
            outs = [stack.enter_context(tempfile.TemporaryFile()) for _ in range(min(readers, len(tasks)) - 1)]
        except OSError:  # no shared memory or no writable temporary directory: read everything here
            counter, outs = _Counter(), []
        procs = []
        for f in outs:
            p = ctx.Process(target=_reader, args=(tasks, counter, f.fileno()), daemon=True)
            try:
                p.start()
            except OSError:  # cannot fork (process or memory limits): the others and this one go on
                continue
            procs.append(p)
            stack.callback(_stop, p)
        offsets = [0] * len(outs)
        while True:
            i = _next(counter)
            if i < len(tasks):
                done.add(i)
                yield _run_task(tasks[i])
            alive = [p for p in procs if p.is_alive()]
            # What the readers have written so far (whole records only), read between tasks here so
            # that the readers take more tasks meanwhile rather than wait for this process at the end.
            for k, f in enumerate(outs):
                for rec in _records(f, offsets, k, pickle.loads):
                    done.add(rec.idx_task)
                    yield rec.done
            if i >= len(tasks):
                if not alive:
                    break
                alive[0].join(0.005)  # no task left here: wait a little for the readers
    for i, t in enumerate(tasks):  # a reader died before writing these
        if i not in done:
            yield _run_task(t)


class _Counter:
    """`_next`'s counter for this process alone (no reader could be started)."""

    def __init__(self) -> None:
        self.value = 0

    def get_lock(self) -> ExitStack:
        return ExitStack()


def _stop(p: Any) -> None:
    if p.is_alive():
        p.kill()
    p.join()


def _next(counter: Any) -> int:
    with counter.get_lock():
        i = int(counter.value)
        counter.value = i + 1
    return i


@dataclass(slots=True)
class _Record:
    idx_task: int
    done: _Done

    __reduce__ = by_fields


def _reader(tasks: list[_Task], counter: Any, fd: int) -> None:
    """A forked reader: take tasks until none is left, appending each result to `fd` as a record
    (8-byte length, then the pickle)."""
    import pickle

    while (i := _next(counter)) < len(tasks):
        blob = pickle.dumps(_Record(i, _run_task(tasks[i])), pickle.HIGHEST_PROTOCOL)
        data = memoryview(len(blob).to_bytes(8, "little") + blob)
        while data:
            data = data[os.write(fd, data) :]


def _records(f: Any, offsets: list[int], k: int, loads: Callable[[bytes], Any]) -> Iterator[_Record]:
    """The whole records in reader k's file past offsets[k] (a record being written is left for later)."""
    fd = f.fileno()
    size = os.fstat(fd).st_size
    while offsets[k] + 8 <= size:
        n = int.from_bytes(os.pread(fd, 8, offsets[k]), "little")
        if offsets[k] + 8 + n > size:
            break
        blob = os.pread(fd, n, offsets[k] + 8)
        offsets[k] += 8 + n
        yield loads(blob)
