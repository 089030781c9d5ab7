"""Framework rules: what PyTorch/CUDA print in a rank's output."""

from __future__ import annotations

import pytest

from tests.catalog.catalog_rules_support import classify, excerpts
from trainmedic.model import Action, KnownFault, Role


def test_cuda_oom_is_the_users_job_size() -> None:
    line = ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 3; 79.15 GiB total "
            "capacity; 75.31 GiB already allocated)")
    matches, verdict = classify(line)
    assert verdict is not None and verdict.action is Action.CHECK_USER_CODE and verdict.component == "user"
    oom = next(m for m in matches if m.rule.id == "cuda.oom")
    assert oom.fields["size"] == "2.00 GiB" and oom.fields["device"] == "3"


@pytest.mark.parametrize("rfe", ["rfe-010", "rfe-011", "rfe-012", "rfe-014", "rfe-015"])
def test_uncorrectable_ecc_seen_by_cuda_is_the_cards_memory(rfe: str) -> None:
    _, verdict = classify(excerpts()[rfe]["text"])
    assert verdict is not None and verdict.role is Role.ROOT
    assert verdict.component == "memory" and verdict.action is Action.RESET_CARD


def test_injected_illegal_memory_access_is_a_software_root_with_escalation() -> None:
    matches, verdict = classify("[rank3]: RuntimeError: CUDA error: an illegal memory access was encountered")
    assert verdict is not None and verdict.component == "software"
    rule = next(m.rule for m in matches if m.rule.role is Role.ROOT)
    assert rule.escalation is not None and rule.escalation.action is Action.DRAIN_NODE


@pytest.mark.parametrize("line", [
    "[rank5] step 1204 | loss nan | grad_norm inf",
    "epoch 3 val_loss: inf",
    "FloatingPointError: Loss became infinite or NaN at iteration=1499!",
    "Rank 3: found NaN in local grad norm in backward pass before data-parallel communication collective.",
])
def test_nan_or_inf_loss_uses_the_shared_fault_id(line: str) -> None:
    _, verdict = classify(line)
    assert verdict is not None and verdict.fault == KnownFault.NAN


@pytest.mark.parametrize("line", [
    "step 10 | loss 2.3107 | grad_norm inf | lr 3e-4",
    "Financial report: nanoseconds per step 12",
    "loss scale 65536",
    "best_loss: inf (no validation yet)",
])
def test_finite_losses_are_not_nan(line: str) -> None:
    matches, _ = classify(line)
    assert "numeric.nan_loss" not in {m.rule.id for m in matches}


@pytest.mark.parametrize("line", [
    "[rank0]: ValueError: Expected input batch_size (32) to match target batch_size (16).",
    "ModuleNotFoundError: No module named 'flash_attn'",
    "RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x1024 and 512x256)",
])
def test_python_exceptions_are_user_exceptions(line: str) -> None:
    _, verdict = classify(line)
    assert verdict is not None and verdict.fault == KnownFault.USER_EXCEPTION
    assert verdict.action is Action.CHECK_USER_CODE


def test_exception_names_inside_a_sentence_are_not_tracebacks() -> None:
    matches, _ = classify("retrying after we caught ValueError: bad input in the reader")
    assert "user.python_exception" not in {m.rule.id for m in matches}


def test_bus_error_in_nccl_is_dev_shm() -> None:
    _, verdict = classify(excerpts()["rfe-070"]["text"])
    assert verdict is not None and verdict.component == "user" and verdict.fault == "user.dev_shm_too_small"


def test_dataloader_worker_killed_names_the_signal() -> None:
    matches, verdict = classify("RuntimeError: DataLoader worker (pid 2477) is killed by signal: Killed. ")
    assert verdict is not None and verdict.component == "user"
    assert next(m for m in matches if m.rule.id == "dataloader.worker_killed").fields["signal"] == "Killed"
