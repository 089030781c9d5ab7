"""Collectives and launcher rules: timeouts, aborts, closed peers and exits are victims; local causes are roots."""

from __future__ import annotations

import pytest

from tests.catalog.catalog_rules_support import classify, excerpts
from trainmedic.model import Role


@pytest.mark.parametrize("rfe", ["rfe-062", "rfe-074", "rfe-076", "rfe-077", "rfe-078", "rfe-080", "rfe-081",
                                 "rfe-050", "rfe-051", "rfe-052", "rfe-053"])
def test_collective_timeouts_and_aborts_alone_point_elsewhere(rfe: str) -> None:
    matches, verdict = classify(excerpts()[rfe]["text"])
    assert matches, "the excerpt should be recognised at all"
    assert verdict is not None and verdict.role is Role.CASCADE
    assert verdict.fault == "root_cause_elsewhere"


def test_gloo_and_torchrun_lines_of_a_killed_rank_are_all_victims() -> None:
    log = "\n".join([
        "[rank0]: RuntimeError: [/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553] Connection "
        "closed by peer [127.0.0.1]:55686. This is typically caused by a remote worker crashing.",
        "W1127 11:57:10.656000 15022 torch/distributed/elastic/multiprocessing/api.py:1028] Sending process 15071 "
        "closing signal SIGTERM",
        "E1127 11:57:10.693000 15022 torch/distributed/elastic/multiprocessing/api.py:1002] failed (exitcode: -9) "
        "local_rank: 3 (pid: 15074) of binary: <venv>/bin/python3",
    ])
    matches, verdict = classify(log)
    assert verdict is not None and verdict.role is Role.CASCADE
    failed = next(m for m in matches if m.rule.id == "torchelastic.worker_failed")
    assert failed.fields == {"exitcode": "-9", "local_rank": "3", "pid": "15074"}


def test_ecc_error_behind_an_nccl_watchdog_termination_is_the_root() -> None:
    _, verdict = classify(excerpts()["rfe-013"]["text"])
    assert verdict is not None and verdict.role is Role.ROOT
    assert verdict.component == "memory"


@pytest.mark.parametrize("rfe", ["rfe-066", "rfe-068"])
def test_nccl_shared_memory_failures_are_a_container_setting(rfe: str) -> None:
    _, verdict = classify(excerpts()[rfe]["text"])
    assert verdict is not None and verdict.component == "user" and verdict.action == "check_user_code"
    assert verdict.fault == "user.dev_shm_too_small"


def test_unhandled_cuda_error_in_nccl_blames_the_local_card() -> None:
    _, verdict = classify(excerpts()["rfe-007"]["text"])
    assert verdict is not None and verdict.role is Role.ROOT and verdict.component == "accelerator"


def test_nccl_cuda_failure_leaves_known_cuda_errors_to_their_own_rules() -> None:
    matches, verdict = classify("node1:11:22 [0] NCCL WARN Cuda failure 'an illegal memory access was encountered'")
    assert "nccl.cuda_failure" not in {m.rule.id for m in matches}
    assert verdict is not None and verdict.fault == "gpu.illegal_address"


def test_hccl_argument_mismatch_is_the_users_code() -> None:
    line = ("EI0005: 2024-04-24-06:32:27.781.599 The arguments for collective communication are inconsistent "
            "between ranks:parameter count, local end 16512, remote end 8320")
    _, verdict = classify(line)
    assert verdict is not None and verdict.component == "user"


def test_slurm_node_failure_names_the_lost_node() -> None:
    matches, verdict = classify("srun: error: Node failure on jean-zay-iam37")
    assert verdict is not None and verdict.fault == "node.lost" and verdict.component == "host"
    assert matches[0].fields["host"] == "jean-zay-iam37"


def test_srun_task_exit_is_a_victim_line_with_node_and_task() -> None:
    matches, verdict = classify("srun: error: gpu-node-12: task 3: Killed")
    assert verdict is not None and verdict.role is Role.CASCADE
    assert matches[0].fields == {"host": "gpu-node-12", "task": "3", "reason": "Killed"}
