"""Host, storage and benign rules: real kernel lines, and no false roots on everyday logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.catalog.catalog_rules_support import classify, excerpts
from trainmedic.catalog import load_catalog
from trainmedic.model import Role

MY_FAMILIES = {"collectives", "framework", "ascend", "host", "storage", "benign", "launcher"}
BENIGN = [
    "loghub/Linux/Linux_2k.log",
    "loghub/Thunderbird/Thunderbird_2k.log",
    "gpud-testdata/pkg_kmsg_testdata_kmsg.1.log",
    "gpud-testdata/pkg_kmsg_testdata_kmsg.2.peermem.log",
    "gpud-testdata/components_accelerator_nvidia_fabric-manager_testdata_fabricmanager.log",
]


def test_oom_killer_lines_from_a_real_dmesg_name_the_process(shared_data: Path) -> None:
    text = (shared_data / "gpud-testdata/components_memory_testdata_dmesg.decode.iso.log").read_text()
    kills = [m for m in load_catalog().match_text(text) if m.rule.id == "host.oom_killer"]
    assert {m.fields.get("process") for m in kills} >= {"python", "httpd"}


def test_segfault_in_libnccl_is_software() -> None:
    _, verdict = classify(excerpts()["rfe-060"]["text"])
    assert verdict is not None and verdict.component == "software"


def test_nfs_not_responding_is_storage_and_names_the_server() -> None:
    matches, verdict = classify(excerpts()["rfe-048"]["text"])
    assert verdict is not None and verdict.component == "storage"
    assert matches[0].fields["host"] == "longhorn-test-nfs-svc.default"


def test_dev_shm_full_is_not_a_full_disk() -> None:
    matches, _ = classify("include/shm.h:28 NCCL WARN Call to posix_fallocate failed: No space left on device")
    assert "storage.no_space" not in {m.rule.id for m in matches}
    matches, verdict = classify("OSError: [Errno 28] No space left on device: '/ckpt/step_4000/model.pt'")
    assert verdict is not None and verdict.component == "storage"
    _, verdict = classify("RuntimeError: unable to write to file </torch_18692_1954506624_0>: No space left on device (28)")
    assert verdict is not None and verdict.fault == "user.dev_shm_too_small"


def test_kernel_panic_from_a_machine_check_is_one_fault_not_two() -> None:
    matches, verdict = classify("[ 1732.401120] Kernel panic - not syncing: Fatal machine check")
    assert [m.rule.id for m in matches if m.rule.role is Role.ROOT] == ["host.mce.fatal"]
    assert verdict is not None and verdict.component == "host"


@pytest.mark.parametrize("path", BENIGN)
def test_everyday_logs_raise_no_root_or_cascade_from_these_families(shared_data: Path, path: str) -> None:
    text = (shared_data / path).read_text(errors="replace")
    noisy = [m for m in load_catalog().match_text(text)
             if m.rule.family in MY_FAMILIES and m.rule.role is not Role.INFO]
    assert noisy == []


def test_alarming_boot_lines_are_explained_as_info() -> None:
    matches, verdict = classify("Jul 27 14:41:58 combo kernel: Intel machine check reporting enabled on CPU#0.")
    assert [m.rule.id for m in matches] == ["benign.kernel.mce_enabled"]
    assert verdict is None
