"""What a file is, from its path: the launchers' and schedulers' real naming."""

from __future__ import annotations

import pytest

from trainmedic.logs.layout import Kind, classify


@pytest.mark.parametrize(
    ("path", "kind", "node", "rank", "local"),
    [
        ("logs/node0003/attempt_0/5/stdout.log", Kind.RANK, "node0003", None, 5),
        ("attempt_2/7/stdout.log", Kind.RANK, None, None, 7),
        ("/logs/attempt_0/1/stdout.log", Kind.RANK, None, None, 1),
        ("logs/node0003/attempt_0/5/notes.md", Kind.OTHER, "node0003", None, None),
        ("logs/node0003/attempt_x/5/stdout.log", Kind.OTHER, "5", None, None),
        ("8f3c2a1e-1b2c-4d5e-8f90-123456789abc_x7k2/attempt_1/2/stderr.log", Kind.RANK, None, None, 2),
        ("logs/node0003/attempt_0/5/error.json", Kind.ERROR_FILE, "node0003", None, 5),
        ("slurm-812345.17.out", Kind.RANK, None, 17, None),
        ("out/rank_12.log", Kind.RANK, None, 12, None),
        ("worker-3.txt", Kind.RANK, None, 3, None),
        ("kernel/node0007.dmesg", Kind.KERNEL, "node0007", None, None),
        ("kernel/node0007.journal", Kind.KERNEL, "node0007", None, None),
        ("node0002/dmesg.log", Kind.KERNEL, "node0002", None, None),
        ("meta/nvidia-smi/node0001.csv", Kind.NVIDIA_SMI, "node0001", None, None),
        ("logs/node0001/torchrun.log", Kind.OTHER, "node0001", None, None),
        ("default_llama-worker-3_0123abcd-0000-1111-2222-333344445555/pytorch/0.log", Kind.OTHER, "llama-worker-3", None, None),
        ("truth.json", Kind.SKIP, None, None, None),
        ("ckpt/model.pt", Kind.SKIP, None, None, None),
    ],
)
def test_classifies_real_layouts(path: str, kind: Kind, node: str | None, rank: int | None, local: int | None) -> None:
    role = classify(path)
    assert (role.kind, role.node, role.rank, role.local_rank) == (kind, node, rank, local)


def test_a_ranks_stdout_stderr_and_error_file_share_one_group() -> None:
    groups = {classify(f"logs/n1/attempt_0/3/{n}").group for n in ("stdout.log", "stderr.log", "error.json")}
    assert len(groups) == 1


def test_a_torchrun_group_is_the_folder_above_attempt_n() -> None:
    role = classify("job/logs/node0003/attempt_1/6/stderr.log")
    assert (role.group, role.attempt) == ("job/logs/node0003#6", 1)
    assert classify("attempt_0/4/stdout.log").group == "#4"


def test_a_folder_named_with_a_digit_that_is_not_a_number_is_no_crash() -> None:
    # "²".isdigit() is True but int("²") raises: it once ended the whole diagnosis
    role = classify("logs/node0003/attempt_0/²/stdout.log")
    assert role.kind is not Kind.SKIP and role.local_rank is None
