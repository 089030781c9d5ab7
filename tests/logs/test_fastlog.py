"""The compiled line readers (`trainmedic.logs._fastlog`) give exactly the answers of their Python
twins: on every line of the real logs under tests/data, on simulated jobs, and on tens of thousands
of generated stamp-like lines (mutated, cut at the 128/40-character bounds, with non-ASCII bytes).

Skipped where the extension was not built, unless TRAINMEDIC_REQUIRE_FAST=1 (CI sets it) makes a
missing build a failure.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest

from trainmedic.logs import ranklog, reading, timestamps
from trainmedic.logs.fast import FAST

DATA = Path(__file__).resolve().parents[1] / "data"

if FAST is None:
    if os.environ.get("TRAINMEDIC_REQUIRE_FAST") == "1":
        raise RuntimeError("trainmedic.logs._fastlog was not built (pip install -e . with a C compiler)")
    pytest.skip("trainmedic.logs._fastlog not built", allow_module_level=True)
assert FAST is not None
fast = FAST

YEARS = (2026, 1970, 2000, 9999, 1, 0, 10000)

PREFIXES = (
    "", "[rank3]:", "[rank12]: ", "[default7]:", "[default]:", "[rank]:", "12: ", "1234567: ", "0: ",
    "2026-11-24T11:46:30.123456789Z stdout F ", "2026-11-24T11:46:30Z stderr P ", "2026-11-24T11:46:30+05:30 stdout F ",
    "2026-11-24T11:46:30.5-0800 stdout F [rank1]:", "2026-13-24T11:46:30Z stdout F ", "2026-11-24T11:46:30 stdout F ",
    "2026-11-24T11:46:30.123456789012Z stdout F ",
)
STAMPS = (
    "2026-11-24 11:46:30,206 INFO", "2026-11-24T11:46:30.123456Z x", "[2026-11-24 11:48:29.123456789+00:00] y",
    "2026-11-24 11:46:30 -05:00 z", "2026-11-24_11:46:30+0530", "2026-11-24 11:46:30.1234567890123 w", "2026-02-31 10:00:00",
    "2026-00-10 10:00:00", "2026-11-24 11:46:30.", "2026-11-24 11:46:30, x", "0000-01-01 00:00:00",
    "I1124 11:59:47.526192426 ProcessGroupNCCL.cpp:616]", "[E1124 11:59:47.5 x]", "W0230 23:59:59.999999999999", "F1324 00:00:00.1",
    "I1124 11:59:47. x", "[Fri Nov 24 11:46:30 2026] NVRM: Xid", "[  Mon Jan  5 01:02:03 2026]", "[Tue Foo 24 11:46:30 2026]",
    "[Wed Feb 30 11:46:30 10000]", "Nov 24 11:46:30 node1 kernel:", "Jan  5 01:02:03\tx", "nov 24 11:46:30 y", "Xyz 24 11:46:30 y",
    "Nov 124 11:46:30 y", "Nov 24 11:46:30", "[1084456.074562] NVRM", "[ 12.5] x", "step 100 loss 2.5", "", " ", "Iteration 5",
)
JUNK = "0123456789 :-.,T_Z+[]IWEFxé\t\x1c\xa0٣"


def _mutations(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        line = rng.choice(PREFIXES) + rng.choice(STAMPS)
        for _ in range(rng.randrange(3)):
            i = rng.randrange(len(line) + 1)
            op = rng.randrange(3)
            ch = rng.choice(JUNK)
            line = line[:i] + ch + line[i + 1 :] if op == 0 else line[:i] + ch + line[i:] if op == 1 else line[:i] + line[i + 1 :]
        if rng.random() < 0.3:
            line = rng.choice(("x" * rng.randrange(130), "[rank1]:" * rng.randrange(20))) + line
        if rng.random() < 0.3:
            line = line[: rng.randrange(len(line) + 1)]
        out.append(line + rng.choice(("", "\n", " tail text", "\r")))
    return out


def _real_lines() -> list[str]:
    lines: list[str] = []
    for p in sorted(DATA.rglob("*")):
        if p.is_file() and p.suffix not in (".json", ".csv", ".yaml"):
            lines += p.read_bytes().decode("utf-8", "replace").split("\n")
    return lines


def test_line_time_matches_python_on_real_and_generated_lines() -> None:
    lines = _real_lines() + _mutations(random.Random(7), 40_000)
    assert len(lines) > 40_000
    timed = 0
    for line in lines:
        for year in YEARS:
            want = timestamps._py_line_time(line, year)
            assert fast.line_time(line, year) == want, (line, year)
            timed += want is not None
    assert timed > 20_000  # the generated lines do exercise the parsers, not only their misses


def test_the_public_line_time_is_the_compiled_one() -> None:
    assert timestamps.line_time is fast.line_time
    assert timestamps.line_time("[rank1]:2026-11-24 11:46:30,5 x", 2026) == 1795520790.5


def _texts() -> list[str]:
    rng = random.Random(11)
    texts = [p.read_bytes().decode("utf-8", "replace") for p in sorted(DATA.rglob("*.log"))]
    texts += ["\n".join(_mutations(rng, rng.randrange(1, 200))) for _ in range(300)]
    texts += ["", "\n", "\n\n", "x", "step 1 loss 1\n" * 3]
    step = "2026-11-24 11:49:{:02d},408 INFO [rank 5] step {} loss {} lr 1e-4\n"
    texts += ["".join(step.format(s % 60, s, rng.choice(("2.5", "nan", "inf"))) for s in range(n)) for n in (1, 3, 5, 9)]
    return texts


@pytest.mark.parametrize("chars,lines", [(8192, 60), (8192, 20), (100, 3), (10, 60)])
def test_end_time_matches_python(chars: int, lines: int) -> None:
    for text in _texts():
        for year in (2026, 1970):
            want = timestamps._py_end_time(text, year, chars, lines)
            assert fast.end_time(text, year, chars, lines) in ((want,) if text.isascii() else (want, NotImplemented))
            assert timestamps.end_time(text, year, chars, lines) == want


def test_after_matches_python() -> None:
    for text in _texts():
        for max_chars in (65536, 500, 40):
            times = [None, 0.0, 1795520790.5, 1795520795.0, 1e12]
            for when in times:
                want = ranklog._py_after(text, when, 2026, max_chars)
                assert fast.after(text, when, 2026, max_chars) in ((want,) if text.isascii() else (want, NotImplemented))
                assert ranklog._after(text, when, 2026, max_chars) == want


def test_last_step_lines_matches_python() -> None:
    for text in _texts():
        for want in (1, 4):
            got = fast.last_step_lines(text, 2026, want, ranklog._SHAPES, ranklog._step_shape, ranklog.StepLine)
            expected = ranklog._py_last_step_lines(text, 2026, want)
            if got is NotImplemented:
                assert not text.isascii()
                got = ranklog.last_step_lines(text, 2026, want)
            assert got == expected
            assert all(type(s) is ranklog.StepLine for s in got)


def test_digit_blind_and_longest_line_match_python() -> None:
    for text in [*_texts(), "é1\n22", "ab\xff12\n"]:
        for start in (0, 1, len(text) // 2, len(text)):
            got = fast.digit_blind(text, start)
            assert got is NotImplemented if max(text, default="a") > "\xff" else got == text[start:].translate(ranklog._DIGITS)
        assert fast.longest_line(text) == max(map(len, text.split("\n")))
        assert fast.longest_line(text.encode()) == max(map(len, text.encode().split(b"\n")))


def test_wide_strings_go_back_to_python() -> None:
    text = "2026-11-24 11:49:00,408 INFO step 3 loss 2 ✓\n"
    assert fast.digit_blind(text) is NotImplemented
    assert fast.after(text, 1.0, 2026, 100) is NotImplemented
    assert ranklog._after(text, 1e12, 2026) == ranklog._py_after(text, 1e12, 2026, 65536)
    assert ranklog.last_step_lines(text, 2026) == ranklog._py_last_step_lines(text, 2026, 4)
    assert timestamps.line_time("٢٠٢٦-11-24 11:49:00 x", 2026) == timestamps._py_line_time("٢٠٢٦-11-24 11:49:00 x", 2026)


def test_control_bytes_match_looks_binary() -> None:
    rng = random.Random(3)
    for _ in range(500):
        data = bytes(rng.choice((0, 1, 7, 9, 10, 13, 27, 31, 32, 65, 200)) for _ in range(rng.randrange(6000)))
        sample = data[:4096]
        control = len(sample) - len(sample.translate(None, reading._CONTROL))
        assert fast.control_bytes(data, 4096) == (control, sample.count(0))


def test_years_beyond_a_c_long_go_back_to_python() -> None:
    line = "Nov 24 11:46:30 node1 kernel: x"
    assert fast.line_time(line, 10**30) == timestamps._py_line_time(line, 10**30)
    assert fast.end_time(line, 10**30, 8192, 60) is NotImplemented
    assert timestamps.end_time(line, 10**30) == timestamps._py_end_time(line, 10**30, 8192, 60)


def _odd_files(tmp: Path) -> list[Path]:
    """Files at every edge read_text has: empty, one byte, exactly the head+tail size and one more,
    tails that start on, before and after a line break, no line break, long lines, NULs, control
    bytes around the 5% mark, Latin-1 and UTF-8 bytes, in the head or the tail only."""
    rng = random.Random(7)
    line = b"2026-11-24 11:46:30,206 INFO [rank 3] step 100 loss 2.5\n"
    bodies: dict[str, bytes] = {
        "empty": b"",
        "one": b"x",
        "newline": b"\n",
        "lines": line * 40,
        "no_newline": b"y" * 900,
        "long_line": b"z" * 9000 + b"\n" + line,
        "long_last": line * 3 + b"q" * 8200,
        "nul_head": b"\x00" * 10 + line * 40,
        "nul_tail": line * 40 + b"\x00\x00\n",
        "latin1": line * 20 + b"caf\xe9\n" + line * 20,
        "utf8": line * 20 + "café ✓\n".encode() + line * 20,
        "utf8_head": "café\n".encode() + line * 40,
        "control_few": (b"\x1b[0m" + line) * 30,
        "control_many": bytes(rng.randrange(1, 9) for _ in range(3000)) + line * 5,
        "binary_tail": line * 100 + bytes(rng.randrange(256) for _ in range(5000)),
        "crlf": line.replace(b"\n", b"\r\n") * 30,
    }
    for n in (255, 256, 257, 511, 512, 513, 1023, 1024, 1025):
        bodies[f"size_{n}"] = (line * 30)[:n]
    for k in (204, 205, 206, 230, 250):  # control bytes on both sides of 5% of 4 KB (204.8)
        block = bytearray(b"v" * 4096)
        for i in range(k):
            block[i * 16 + 3] = 7
        bodies[f"control_{k}"] = bytes(block) * 2 + b"\n"
        bodies[f"control_{k}_small"] = bytes(block[: 20 * 16]) + b"\n"
    bodies["only_last_newline"] = b"a" * 2000 + b"\n"
    for n in (8191, 8192, 8193):  # lines on both sides of MAX_LINE_CHARS, first, between, last, alone
        long = b"a" * n
        bodies[f"long_{n}_first"] = long + b"\n" + line * 3
        bodies[f"long_{n}_between"] = line * 3 + long + b"\n" + line
        bodies[f"long_{n}_last"] = line * 3 + long
        bodies[f"long_{n}_alone"] = long
        bodies[f"long_{n}_twice"] = long + b"\n" + long + b"\n"
    for cut in range(-3, 4):  # a line break just before, at and after where the tail starts
        body = bytearray(b"a" * 700)
        body[1024 - 300 - 1 + cut if 1024 - 300 - 1 + cut < 700 else 699] = ord("\n")
        bodies[f"nl_at_{cut}"] = bytes(body) + b"b" * 400 + b"\n"
    for i in range(40):  # random mixtures
        parts = [rng.choice([line, b"\n", b"\x00", b"\xe9", "✓".encode(), b"\x07", b"w" * rng.randrange(9000)]) for _ in range(rng.randrange(1, 60))]
        bodies[f"mix_{i}"] = b"".join(parts)
    out = []
    for name, body in bodies.items():
        p = tmp / name
        p.write_bytes(body)
        out.append(p)
    return out


@pytest.mark.parametrize(("head", "tail"), [(1 << 20, 0), (256, 768), (16 * 1024, 4 * 1024 * 1024), (0, 300), (300, 0)])
def test_read_text_matches_python(tmp_path: Path, head: int, tail: int) -> None:
    files = _odd_files(tmp_path) + sorted(p for p in DATA.rglob("*") if p.is_file())
    assert len(files) > 100
    compiled = 0
    for p in files:
        py = reading._py_read_text(str(p), p.name, head, tail)
        got = fast.read_text(str(p), head, tail)
        if got is not None:
            compiled += 1
            assert reading.Text(p.name, *got) == py, p
        elif head == 1 << 20 and p.name.startswith(("long_8191", "long_8192")):
            raise AssertionError(f"{p.name}: plain text up to the line limit should take the compiled path")
        assert reading.read_text(str(p), p.name, head, tail) == py, p
    assert compiled > 20  # the plain files do take the compiled path
    assert fast.read_text(str(tmp_path / "missing"), head, tail) is None
    assert reading.read_text(str(tmp_path / "missing"), "missing", head, tail).problems[0].startswith("unreadable")


IDENTITY_PIECES = (
    "RANK=3", "RANK: 12", "RANK=\t 7", "RANK =3", ".RANK=1", "xRANK=2", "_RANK=4", "RANK=", "RANK=x", "MY_RANK=9",
    "LOCAL_RANK=5", "SLURM_PROCID=6", "aSLURM_PROCID=6", "OMPI_COMM_WORLD_RANK=8", "OMPI_COMM_WORLD_LOCAL_RANK=2",
    "PMI_RANK:11", "SLURM_LOCALID= 3", "WORLD_SIZE=16", "LOCAL_WORLD_SIZE=8", "WORLD_SIZE:", "CUDA_VISIBLE_DEVICES=0,1,",
    "HIP_VISIBLE_DEVICES=,1", "ROCR_VISIBLE_DEVICES: 3", "ASCEND_RT_VISIBLE_DEVICES=4,5", "XCUDA_VISIBLE_DEVICES=1",
    "CUDA_VISIBLE_DEVICE=1", "hostname node1", "host: a.b-c", "hostnamex y", "host=", "node=3abc", "node\t:\t n7",
    "nodes x", "xhost y", "host:", "hostname", "node", "[rank 12]", "[rank\t3]", "[rank  3]", "[Rank3]", "[RANK7]",
    "[rank3", "[rank]", "[rank\x1c9]", "[rank 4x]", "2026-11-24 11:46:27,676 INFO", "NCCL INFO", "=", ":", "[", "]",
)


def test_identity_fields_match_python() -> None:
    rng = random.Random(11)
    texts = []
    for p in sorted(DATA.rglob("*")):
        if p.is_file():
            t = reading.read_text(str(p), p.name)
            texts.append((t.head or t.tail)[:16384])
    seps = (" ", "\n", "\t", "", ",", ".", "_", "x", "1", "é")
    for _ in range(20_000):
        texts.append("".join(rng.choice(IDENTITY_PIECES) + rng.choice(seps) for _ in range(rng.randrange(1, 12))))
    compiled = 0
    for text in texts:
        want = ranklog._py_identity_fields(text)
        got = fast.identity_fields(text)
        if got is NotImplemented:
            assert not text.isascii()
            continue
        compiled += 1
        assert list(got.items()) == list(want.items()), text
    assert compiled > 10_000
    assert any(ranklog._py_identity_fields(t) for t in texts[-20_000:])  # the generated texts do carry fields
    nccl = "node7:123:456 [3] NCCL INFO comm 0x1 rank 27 nranks 64 cudaDev 3 nvmlDev 3 busId 5d000 commId 0x2 - Init COMPLETE"
    for i, text in enumerate(texts[:4000]):  # a limit anywhere, the NCCL line included: as on the cut text
        text = text + "\n" + nccl + "\n" + text if i % 2 else text
        limit = rng.randrange(len(text) + 2)
        got = fast.identity_fields(text, limit)
        if got is not NotImplemented:
            assert list(got.items()) == list(ranklog._py_identity_fields(text[:limit]).items()), (text, limit)
        assert ranklog.identity(text, limit) == ranklog.identity(text[:limit]), (text, limit)


def _rank_files(root: Path) -> list[list[Path]]:
    """Each rank's logs under `root`, stdout first (as diagnose's scanner orders them)."""
    groups: dict[Path, list[Path]] = {}
    for p in sorted(root.rglob("*.log")):
        if p.name in ("stdout.log", "stderr.log"):
            groups.setdefault(p.parent, []).append(p)
    return [sorted(g, key=lambda p: p.name != "stdout.log") for g in groups.values()]


def _mutate(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randrange(4)):
        if not lines:
            break
        i = rng.randrange(len(lines))
        op = rng.randrange(5)
        if op == 0:  # a digit run of another length
            lines[i] = "".join(c if not c.isdigit() or rng.random() < 0.9 else str(rng.randrange(1000)) for c in lines[i])
        elif op == 1:
            lines[i] = lines[i].replace("loss ", rng.choice(("loss nan ", "loss inf ", "loss NaN ", "loss 1e9 ")))
        elif op == 2:
            del lines[i]
        elif op == 3:
            lines.insert(i, rng.choice(lines))
        else:
            lines[i] = lines[i].replace("step", rng.choice(("Step", "iter", "ITER", "stepx", "step:")))
    return "\n".join(lines)


def test_scan_text_matches_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trainmedic.catalog import load_catalog
    from trainmedic.logs.linematch import LineMatcher
    from trainmedic.sim.job import write_job
    from trainmedic.sim.plan import SimOptions

    ranks: list[list[tuple[str, reading.Text]]] = []
    scenarios = ("line_fault", "silent_hang", "node_lost", "straggler", "nan", "user_exception", "double_fault", "crash_no_line")
    for i, fault in enumerate(scenarios):
        write_job(SimOptions(nodes=2, cards_per_node=4, fault=fault, seed=i, rank_log_kb=4), tmp_path / fault, workers=1)
    for root in (tmp_path, DATA / "diagnose" / "real"):
        for group in _rank_files(root):
            ranks.append([(p.name, reading.read_text(str(p), p.name)) for p in group])
    rng = random.Random(5)
    for group in list(ranks):  # the same logs with digits, NaN losses, step words and lines changed
        for _ in range(3):
            ranks.append([(name, t._replace(tail=_mutate(t.tail, rng))) for name, t in group])
        if len(group) == 2 and group[0][1].tail:
            out, err = group[0][1], group[1][1]
            ranks.append([group[0], ("again", out)])  # a second file at the same step: the first one's steps stay
            ranks.append([group[0], ("older", out._replace(tail=_mutate(out.tail, rng)))])
            bare = out._replace(tail="\n".join(ln.split(" INFO ", 1)[-1] for ln in out.tail.split("\n")))
            lower = re.sub(r"step (\d+)", lambda m: f"step {int(m.group(1)) // 2}", bare.tail)
            ranks.append([("bare", bare), ("bare_again", bare), ("bare_lower", bare._replace(tail=lower))])
            last = ranklog.last_step_lines(out.tail, 2026, 1)
            if last:  # one step line, then the failure: the hits' step is this file's
                ranks.append([("one_step", err._replace(tail=last[0].line + "\n" + err.tail))])
    matcher = LineMatcher(load_catalog(), ranklog.FALLBACK_CASCADE)
    took = {True: 0, False: 0}
    real_scan = fast.scan_text

    class Counting:
        def __getattr__(self, name: str) -> object:
            return getattr(fast, name)

        def scan_text(self, *args: object) -> object:
            got = real_scan(*args)
            took[got is True] += 1
            return got

    def scan_all(compiled: bool) -> list[ranklog.RankScan]:
        monkeypatch.setattr(ranklog, "FAST", Counting() if compiled else None)
        out = []
        for group in ranks:
            rs = ranklog.RankScan()
            year = None
            for name, t in group:
                year = year or timestamps.find_year(t.head or t.tail)
                ranklog.scan_rank_text(rs, t.head, t.tail, matcher, t.whole, name, year)
            out.append(rs)
        return out

    ranklog._BLOCKS.clear()
    cold = scan_all(compiled=True)  # blocks seen for the first time go to the Python code
    want = scan_all(compiled=False)
    warm = scan_all(compiled=True)
    for c, w, g in zip(cold, want, ranks, strict=True):
        assert c == w, [n for n, _ in g]
    for c, w, g in zip(warm, want, ranks, strict=True):
        assert c == w, [n for n, _ in g]
    assert took[True] > len(ranks)  # the compiled call did most of the work on the warm pass
    assert took[False] > 0  # and sent some back (NaN losses, new blocks)
    assert any(rs.hits for rs in warm) and any(rs.cascade_counts for rs in warm)


def test_find_year_matches_python() -> None:
    rng = random.Random(11)
    texts = [*STAMPS, *_mutations(rng, 3000), "12026-11-24 11:46 2025-01-02T03:04", "2026-11-24 11:4", "x" * 20000 + "2026-11-24 11:46",
             "[Sun Nov 22 10:05:35 2026] x 2025-01-02 03:04", "[Sun Nov 22 10:05:35 2026] NVRM", "[Sun Nov 22 10:05:35 2026] é"]
    for text in texts:
        for limit in (16384, 10, 0, len(text)):
            got = fast.find_year(text, limit)
            assert got == (timestamps._py_find_year(text, limit, False) if text.isascii() else NotImplemented), (text, limit)
            for dmesg in (False, True):  # the public one, compiled search first, answers as the Python one
                assert timestamps.find_year(text, limit, dmesg) == timestamps._py_find_year(text, limit, dmesg)


def test_scan_files_matches_reading_each_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """diagnose's per-rank step in one compiled call gives what reading and scanning each file gives,
    on every scenario, the real logs, mutated logs, partly read files, and hands back what it cannot do."""
    from trainmedic.diagnose import scan as scanmod
    from trainmedic.diagnose.catalog_cache import cached_catalog
    from trainmedic.logs.layout import Kind, classify
    from trainmedic.sim.job import write_job
    from trainmedic.sim.plan import SimOptions

    root = tmp_path / "job"
    for i, fault in enumerate(("line_fault", "silent_hang", "nan", "user_exception", "double_fault", "crash_no_line")):
        write_job(SimOptions(nodes=2, cards_per_node=4, fault=fault, seed=i, rank_log_kb=4), root / fault, workers=1)
    rng = random.Random(3)
    groups = [[p.relative_to(root) for p in g] for g in _rank_files(root)]
    for k, g in enumerate(list(groups)):  # mutated copies, one of them too big to read whole
        for j in range(2):
            dst = Path(f"mutated/{k}/{j}/attempt_0/0")
            (root / dst).mkdir(parents=True)
            for p in g:
                text = _mutate((root / p).read_text(), rng)
                if j == 1 and p.name == "stdout.log" and k % 4 == 0:
                    text = "2026-11-24 11:46:30,206 INFO filler\n" * 9000 + text  # 320 KB: head and tail
                (root / dst / p.name).write_text(text)
            groups.append([dst / p.name for p in g])
    real = DATA / "diagnose" / "real"
    for g in _rank_files(real):
        dst = Path("real") / g[0].parent.relative_to(real)
        (root / dst).mkdir(parents=True)
        for p in g:
            (root / dst / p.name).write_bytes(p.read_bytes())
        groups.append([dst / p.name for p in g])
    odd = Path("odd/attempt_0/0")
    (root / odd).mkdir(parents=True)
    (root / odd / "stdout.log").write_text("2026-11-24 11:46:30,206 INFO step 1 loss 2.0\n")
    (root / odd / "stderr.log").write_bytes("caf\xe9 ist nicht ASCII\n".encode())
    (root / odd / "error.json").write_text('{"message": {"message": "RuntimeError: x", "extraInfo": {"timestamp": "1"}}}')
    catalog = cached_catalog()
    monkeypatch.setitem(scanmod._WORKER, "catalog", catalog)
    monkeypatch.setitem(scanmod._WORKER, "matcher", None)
    scanmod._WORKER.pop("matcher")
    units = [scanmod.RankUnit(str(g[0].parent), [classify(str(p)) for p in g]) for g in groups]
    units.append(scanmod.RankUnit("odd", [classify(str(odd / "stdout.log")), classify(str(odd / "stderr.log"))]))
    units.append(scanmod.RankUnit("odd2", [classify(str(odd / "stdout.log")), classify(str(odd / "error.json"))]))
    matcher = scanmod._matcher()
    took = {"compiled": 0, "declined": 0}
    real_scan_files = ranklog.scan_rank_files

    def counting(*args: object) -> object:
        got = real_scan_files(*args)  # type: ignore[arg-type]
        took["compiled" if got is not None else "declined"] += 1
        return got

    def scan_all(compiled: bool) -> list[object]:
        monkeypatch.setattr(scanmod, "scan_rank_files", counting if compiled else lambda *a: None)
        return [scanmod._scan_unit(str(root), u) for u in units]

    ranklog._BLOCKS.clear()
    cold = scan_all(compiled=True)  # blocks seen for the first time: scan_text declines, the Python tail scan runs
    want = scan_all(compiled=False)
    warm = scan_all(compiled=True)
    for c, w, u in zip(cold, want, units, strict=True):
        assert c == w, u.group
    for c, w, u in zip(warm, want, units, strict=True):
        assert c == w, u.group
    assert took["compiled"] > len(groups) and took["declined"] >= 4  # the non-ASCII and error.json ranks, twice
    assert any(r[0].scan.tail_offsets for r in warm)  # a partly read file was among them
    assert matcher is scanmod._matcher()
    assert ranklog.scan_rank_files(str(root), units[0].roles, Kind.ERROR_FILE, matcher) is None  # kind must match


def test_nccl_fields_match_the_pattern() -> None:
    base = (
        "node0000:1406880:1406917 [0] NCCL INFO comm 0xb530ea97550 rank 0 nranks 18432 cudaDev 0 nvmlDev 0 busId 18000"
        " commId 0xb14d9d4d7384ec4 - Init COMPLETE"
    )
    variants = [
        base, base.replace(" nvmlDev 0", ""), "[rank3]:" + base, "[rank3]: " + base, "[default0]:" + base, "[rank]:" + base,
        "[rank3]:\t" + base, "[rank3]:\x0b" + base, "[rank3]:\x1f" + base, "[rank3]:\r" + base, "[rank3]:  " + base, base.replace("node0000", "gpu-a.b_c"), base.replace("node0000", ""),
        base.replace("comm 0xb530ea97550 ", "comm 0x1 xrank 1 rank 2 nranks x "), base.replace("busId 18000", "busId 0000:1a:00.0"),
        base.replace("busId 18000", "busId g"), base.replace(" - Init COMPLETE", "\nInit COMPLETE"), base.replace("rank 0 nranks", "rank 0  nranks"),
        base.replace("[0] NCCL", "[x] NCCL"), base.replace("Init COMPLETE", "Init COMPLETEx"), "x " + base, base.replace("cudaDev 0", "cudaDev"),
        base.replace(":1406880:", "::"), base.replace("comm 0xb530ea97550 ", "rank 9 nranks 9 cudaDev 9 nvmlDev x busId 1 "),
        base.replace("nvmlDev 0 busId", "nvmlDev 0  busId"), base.replace("comm 0xb530ea97550 ", "comm xrank 5 nranks 6 cudaDev 7 busId 8 "), base.replace("busId 18000 commId 0xb14d9d4d7384ec4 - ", "busId abcDEF9"),
    ]
    rng = random.Random(13)
    for _ in range(4000):  # characters dropped, doubled or swapped for pattern characters
        chars = list(rng.choice(variants))
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(chars))
            op = rng.randrange(3)
            if op == 0:
                del chars[i]
            elif op == 1:
                chars.insert(i, chars[i])
            else:
                chars[i] = rng.choice(" :[]0123456789abcdefrnk\n.-_xI")
        variants.append("".join(chars))
    checked = 0
    for line in variants:
        for before in ("", "2026-11-22 09:47:04,773 INFO env RANK=0\n", "junk\nmore"):
            text = before + line + "\n2026-11-22 09:47:05 next line\n"
            at = text.find("Init COMPLETE")
            if at < 0:
                continue
            for end in (len(text), at + 13, at + 15, at + 30):
                end = min(end, len(text))
                for seed in ({}, {"world_size": "8"}):
                    want, got = dict(seed), dict(seed)
                    ranklog._nccl_init(want, text, at, end)
                    assert fast.nccl_fields(got, text, at, end) is None
                    assert list(got.items()) == list(want.items()), (text, end)
                    checked += 1
    assert checked > 10000
    assert fast.nccl_fields({}, "é Init COMPLETE", 2, 15) is NotImplemented


def test_cascade_lines_match_python(tmp_path: Path) -> None:
    from trainmedic.catalog import load_catalog
    from trainmedic.diagnose.evidence import _py_cascade_lines
    from trainmedic.model import Role

    catalog = load_catalog()
    faults = {r.id: r.fault for r in catalog.rules if r.role is Role.CASCADE}
    cascade = sorted(faults)[:6]
    rng = random.Random(17)
    waits = ("ran for 600052 milliseconds", "ran for 1 milliseconds", "ran for  5 milliseconds", "ran for x ran for 7 milliseconds",
             "ran for 000123 milliseconds", "ran for 999999999999999 milliseconds", "ran for 1234567890123456 milliseconds",
             "ran for 12 millisecond", "ran for ٣ milliseconds", "Ran for 3 milliseconds", "ran for 3 milliseconds ran for 4 milliseconds", "")
    lists = []
    for _ in range(3000):
        hits = []
        for _ in range(rng.randrange(7)):
            rule = rng.choice([*cascade, "user.python_exception", "not.a.rule"])
            at = rng.choice([None, 1795341935.2588205, 1795341935.0, 1e9 + rng.random(), 17])
            text = f"[rank{rng.randrange(99)}]: Watchdog {rng.choice(waits)} end"
            hits.append(ranklog.Hit(rule, Role.CASCADE, text, rng.randrange(100), rng.random() < 0.5, at, None, "f.log", {}))
        lists.append(hits)
    compiled = 0
    for hits in lists:
        for offset in (0.0, 2.7, -1e-9, 3):
            want = _py_cascade_lines(hits, faults, offset)
            got = fast.cascade_lines(hits, faults, offset)
            if got is NotImplemented:
                assert any(h.rule in faults and (not h.text.isascii() or isinstance(h.at, int) or "123456789012345" in h.text) for h in hits)
                continue
            compiled += 1
            assert list(got[0].items()) == list(want[0].items())
            assert got[1] == want[1] and got[2] == want[2], hits
    assert compiled > 5000


def test_step_offsets_match_python() -> None:
    from trainmedic.diagnose.clock import _py_step_offsets

    rng = random.Random(19)
    compiled = 0
    for _ in range(400):
        logs: dict[str, list[list[tuple[int, float | None]]]] = {}
        base = rng.choice([1795341935.2588205, 1e9, 0.5])
        for node in range(rng.randrange(1, 12)):
            skew = rng.choice([0.0, 2.7, -1.3, rng.random()])
            logs[f"node{node}"] = [
                [(s, None if rng.random() < 0.1 else base + s * 3.585 + skew + rng.random() * 0.01)
                 for s in sorted(rng.sample(range(20610, 20620), rng.randrange(5)))]
                for _ in range(rng.randrange(4))
            ]
        odd = rng.randrange(8)
        if odd == 0 and logs["node0"]:
            logs["node0"][0].append((2**70, 1.0))  # a step beyond 64 bits
        elif odd == 1 and logs["node0"]:
            logs["node0"][0].append((True, 1.0))  # type: ignore[arg-type]
        elif odd == 2 and logs["node0"]:
            logs["node0"][0].append((5, float("nan")))
        want = _py_step_offsets(logs)
        got = fast.step_offsets(logs)
        if got is NotImplemented:
            assert odd in (0, 1, 2)
            continue
        compiled += 1
        assert list(got.items()) == list(want.items()), logs
    assert compiled > 250


def test_torchrun_roles_match_classify() -> None:
    import itertools

    from trainmedic.logs.layout import FileRole, Kind, classify

    parts = ["attempt_0", "attempt_12", "attempt_", "attempt_x", "attempt_01", "3", "0", "007", "", "logs", "node01", "none_abc",
             "torchelastic_x", "attempt_3\n", "٣", "²", "run-0d3c2f1e-aaaa-bbbb-cccc-0123456789ab",
             "0D3C2F1E-AAAA-BBBB-CCCC-0123456789AB", "1234567890123456789", "123456789012345678"]
    rng = random.Random(23)
    combos = [*(c for k in (1, 2, 3) for c in itertools.product(parts, repeat=k)), *(rng.choices(parts, k=5) for _ in range(3000))]
    paths = [f"{lead}{'/'.join(c)}/{name}" for c in combos for name in ("stdout.log", "stderr.log", "error.json") for lead in ("", "/")]
    got = fast.torchrun_roles(paths, FileRole, Kind.RANK)
    compiled = 0
    for path, role in zip(paths, got, strict=True):
        want = classify(path)
        if role is None:  # not torchrun's per-rank log, or a case left to the Python code
            assert not (want.kind is Kind.RANK and want.attempt is not None and path.isascii() and path[0] != "/"
                        and "\n" not in path and "1234567890123456789" not in path), path
            continue
        compiled += 1
        assert type(role) is FileRole and role == want, (path, role, want)
    assert compiled > 500
