from __future__ import annotations

from trainmedic.model import Action, Component, Symptom, Verdict
from trainmedic.recover.ladder import CircuitBreaker, Step, decide

XID79 = Verdict(
    fault="nvidia.xid.79", component=Component.ACCELERATOR, action=Action.REPLACE_CARD, confidence=0.9
)
HANG = Verdict(fault="hang.silent", component=Component.UNKNOWN, action=Action.RESTART_JOB, confidence=0.6)
USER = Verdict(
    fault="user.exception", component=Component.USER, action=Action.CHECK_USER_CODE, confidence=0.8
)


def call(verdict: Verdict, **kw: object) -> Step:
    args: dict[str, object] = dict(
        symptom=Symptom.HANG,
        card=("n0", 2),
        restarts_used=0,
        max_restarts=3,
        allow_shrink=False,
        repeats_on_card=0,
        breaker=CircuitBreaker(),
        total_cards=8,
        now=0.0,
    )
    args.update(kw)
    return decide(verdict, **args).step  # type: ignore[arg-type]


def test_a_software_or_unknown_fault_restarts_the_job() -> None:
    assert call(HANG) is Step.RESTART


def test_the_restart_budget_stops_the_job() -> None:
    assert call(HANG, restarts_used=3) is Step.STOP


def test_a_hardware_verdict_stops_unless_shrinking_is_allowed() -> None:
    assert call(XID79) is Step.STOP
    assert call(XID79, allow_shrink=True) is Step.RESTART_WITHOUT_CARD


def test_the_same_card_twice_is_treated_as_hardware() -> None:
    assert call(HANG, repeats_on_card=1) is Step.STOP
    assert call(HANG, repeats_on_card=1, allow_shrink=True) is Step.RESTART_WITHOUT_CARD


def test_user_code_errors_are_not_restarted() -> None:
    assert call(USER) is Step.STOP


def test_the_circuit_breaker_refuses_to_exclude_too_many_cards() -> None:
    b = CircuitBreaker(max_share=0.25, window_s=100)
    b.record(0.0)
    b.record(1.0)
    assert call(XID79, allow_shrink=True, breaker=b, total_cards=8, now=2.0) is Step.STOP
    assert call(XID79, allow_shrink=True, breaker=b, total_cards=8, now=200.0) is Step.RESTART_WITHOUT_CARD
