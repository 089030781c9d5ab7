"""Ascend rules: device loss and HBM errors are hardware; AI core timeouts follow the software."""

from __future__ import annotations

import pytest

from tests.catalog.catalog_rules_support import classify, excerpts
from trainmedic.model import Action, Role


def test_lost_heartbeat_is_the_npu_and_names_the_device() -> None:
    matches, verdict = classify(excerpts()["rfe-054"]["text"])
    assert verdict is not None and verdict.component == "accelerator" and verdict.action is Action.DRAIN_NODE
    assert any(m.fields.get("device") == "1" for m in matches if m.rule.id == "ascend.device.lost_heartbeat")


@pytest.mark.parametrize("rfe", ["rfe-063", "rfe-064"])
def test_core_timeouts_with_a_software_cause_are_software(rfe: str) -> None:
    _, verdict = classify(excerpts()[rfe]["text"])
    assert verdict is not None and verdict.role is Role.ROOT and verdict.component == "software"


def test_npu_oom_is_the_users_job_size() -> None:
    _, verdict = classify(excerpts()["rfe-072"]["text"])
    assert verdict is not None and verdict.component == "user" and verdict.action is Action.CHECK_USER_CODE


def test_stream_sync_timeout_alone_is_a_victim() -> None:
    _, verdict = classify(excerpts()["rfe-049"]["text"])
    assert verdict is not None and verdict.role is Role.CASCADE


def test_hbm_multi_bit_ecc_beats_the_generic_inner_error() -> None:
    log = "EZ9999: Inner Error!\nRuntimeError: NPU function error: HBM MULTI BIT ECC ERROR., error code is 507054"
    _, verdict = classify(log)
    assert verdict is not None and verdict.component == "memory" and verdict.action is Action.RESET_CARD


def test_device_event_ids_match_in_any_case() -> None:
    for line in ("[TsdEVENT] Event id=0x80E18008.", "event_id:  [0x80e18008]"):
        _, verdict = classify(line)
        assert verdict is not None and verdict.component == "memory", line
