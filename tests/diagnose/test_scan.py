"""The scanner hands readers whole ranks while the directory walk goes on, and one job always gives
one result whatever the number of readers."""

from __future__ import annotations

from pathlib import Path

from trainmedic.diagnose import scan as scanmod
from trainmedic.diagnose.catalog_cache import cached_catalog


def _write(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def _job(root: Path, nodes: int = 40) -> None:
    for n in range(nodes):
        for local in range(8):
            rank = n * 8 + local
            for attempt in (0, 1):
                base = f"logs/node{n:03d}/attempt_{attempt}/{local}"
                _write(root, f"{base}/stdout.log", f"2026-11-27 10:00:0{attempt},000 INFO rank {rank} step {attempt} loss 2.0\n")
                _write(root, f"{base}/stderr.log", "")
        _write(root, f"kernel/node{n:03d}.dmesg", "[Fri Nov 27 10:00:00 2026] nothing\n")
    # Slurm task files whose .out and .err sit in different directories: one rank, two directories.
    _write(root, "slurm/out/slurm-7.3.out", "2026-11-27 10:00:00,000 INFO step 1 loss 2.0\n")
    _write(root, "slurm/err/slurm-7.3.err", "RuntimeError: boom\n")


def _summary(res: scanmod.ScanResult) -> list[tuple[str, ...]]:
    return [tuple(sorted(r.path for r in rr.unit.roles)) for rr in res.ranks]


def test_every_rank_unit_holds_all_its_files_even_across_directories(tmp_path: Path) -> None:
    _job(tmp_path)
    res = scanmod.scan(str(tmp_path), cached_catalog(), workers=2)
    units = _summary(res)
    assert len(units) == 40 * 8 + 1
    assert ("slurm/err/slurm-7.3.err", "slurm/out/slurm-7.3.out") in units
    # torchrun's two attempts of one local rank are one group (the path above attempt_N)
    assert all(len(u) == 4 for u in units if u[0].startswith("logs/"))
    assert res.files == 40 * 8 * 4 + 40 + 2 and len(res.kernels) == 40


def test_one_job_gives_the_same_scan_with_one_reader_or_several(tmp_path: Path) -> None:
    _job(tmp_path)
    one = scanmod.scan(str(tmp_path), cached_catalog(), workers=1)
    two = scanmod.scan(str(tmp_path), cached_catalog(), workers=2)
    assert _summary(one) == _summary(two)
    assert [rr.scan for rr in one.ranks] == [rr.scan for rr in two.ranks]
    assert [k for k, _ in one.kernels] == [k for k, _ in two.kernels]
    paths = [min(r.path for r in rr.unit.roles) for rr in one.ranks]
    assert paths == sorted(paths)


def test_progress_counts_up_to_every_unit(tmp_path: Path) -> None:
    _job(tmp_path, nodes=30)
    seen: list[tuple[int, int]] = []
    scanmod.scan(str(tmp_path), cached_catalog(), workers=2, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1][0] == seen[-1][1] == 30 * 8 + 30 + 1
    assert all(d <= t for d, t in seen)


def test_the_compiled_walk_lists_what_the_python_walk_lists(tmp_path: Path) -> None:
    from trainmedic.logs.fast import FAST

    if FAST is None:
        import pytest

        pytest.skip("trainmedic.logs._fastlog not built")
    import os

    _job(tmp_path, nodes=3)
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    (tmp_path / "links").mkdir()
    os.symlink(tmp_path / "kernel" / "node000.dmesg", tmp_path / "links" / "to_file.log")
    os.symlink(tmp_path / "logs", tmp_path / "links" / "to_dir")  # not followed
    os.symlink(tmp_path / "gone", tmp_path / "links" / "dangling.log")
    os.mkfifo(tmp_path / "links" / "fifo.log")
    (tmp_path / os.fsdecode(b"caf\xe9-rank_3.log")).write_text("x\n")  # a name that is not UTF-8
    (tmp_path / "été").mkdir()
    (tmp_path / "été" / "rank_4.log").write_text("y\n")
    root = str(tmp_path)
    for sub in ("", "logs", "links", "logs/node001", "empty", "missing", "été"):
        want = list(scanmod._py_walk_files(root, sub))
        assert FAST.walk_files(root, sub) == want, sub
    listed = FAST.walk_files(root, "")
    assert "links/to_file.log" in listed and os.fsdecode(b"caf\xe9-rank_3.log") in listed and "été/rank_4.log" in listed
    assert not any(p.startswith("links/to_dir") or p.endswith(("dangling.log", "fifo.log")) for p in listed)


def test_tasks_a_reader_took_and_did_not_finish_are_read_here(tmp_path: Path, monkeypatch: object) -> None:
    """A reader killed mid-way (out of memory, say): what it wrote whole is kept, a record it was
    writing is dropped, and the tasks it had taken are read again here."""
    import os
    import pickle

    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    _job(tmp_path)
    want = scanmod.scan(str(tmp_path), cached_catalog(), workers=1)

    def dying(tasks: list[scanmod._Task], counter: object, fd: int) -> None:
        i = scanmod._next(counter)
        blob = pickle.dumps(scanmod._Record(i, scanmod._run_task(tasks[i])))
        os.write(fd, len(blob).to_bytes(8, "little") + blob)
        scanmod._next(counter)  # a second task, half written when it dies
        os.write(fd, (1000).to_bytes(8, "little") + b"half")
        os._exit(3)

    monkeypatch.setattr(scanmod, "_reader", dying)
    got = scanmod.scan(str(tmp_path), cached_catalog(), workers=2)
    assert _summary(got) == _summary(want)
    assert [rr.scan for rr in got.ranks] == [rr.scan for rr in want.ranks]
    assert got.files == want.files and len(got.kernels) == len(want.kernels)


def test_without_a_temporary_directory_or_a_fork_the_parent_reads_everything(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    _job(tmp_path)
    want = scanmod.scan(str(tmp_path), cached_catalog(), workers=1)

    def no_tmp(*args: object, **kw: object) -> object:
        raise OSError(28, "No space left on device")

    import multiprocessing.context
    import tempfile

    with monkeypatch.context() as m:
        m.setattr(tempfile, "TemporaryFile", no_tmp)
        got = scanmod.scan(str(tmp_path), cached_catalog(), workers=2)
    assert [rr.scan for rr in got.ranks] == [rr.scan for rr in want.ranks] and got.files == want.files
    with monkeypatch.context() as m:
        m.setattr(multiprocessing.context.ForkProcess, "start", lambda self: no_tmp())
        got = scanmod.scan(str(tmp_path), cached_catalog(), workers=3)
    assert [rr.scan for rr in got.ranks] == [rr.scan for rr in want.ranks] and got.files == want.files
