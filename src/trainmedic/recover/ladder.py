"""The recovery ladder for a supervised job: restart, restart without a card, or stop with a verdict.

Called by the launcher after each incident. Safety rails live here too: a dry-run flag the caller
honours, and a circuit breaker that refuses to exclude more than a set share of cards in a window.
"""

from __future__ import annotations

import collections
import enum
from dataclasses import dataclass, field

from trainmedic.model import Action, Component, Symptom, Verdict

HARDWARE = {Component.ACCELERATOR, Component.MEMORY, Component.INTERCONNECT, Component.PCIE, Component.DRIVER}
HARDWARE_ACTIONS = {
    Action.RESET_CARD,
    Action.REBOOT_NODE,
    Action.DRAIN_NODE,
    Action.REPLACE_CARD,
    Action.CONTACT_VENDOR,
}


class Step(enum.StrEnum):
    """What the launcher does next."""

    RESTART = "restart"
    RESTART_WITHOUT_CARD = "restart_without_card"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class Decision:
    step: Step
    action: Action
    reason: str
    exclude: tuple[str, int] | None = None
    """(node, local slot) to leave out of the next attempt."""


@dataclass(slots=True)
class CircuitBreaker:
    """Refuses to exclude more than `max_share` of all cards within `window_s` seconds."""

    max_share: float = 0.25
    window_s: float = 3600.0
    _events: collections.deque[float] = field(default_factory=collections.deque)

    def allows(self, total_cards: int, now: float) -> bool:
        while self._events and now - self._events[0] > self.window_s:
            self._events.popleft()
        return len(self._events) + 1 <= self.max_share * total_cards

    def record(self, now: float) -> None:
        self._events.append(now)


def is_hardware(verdict: Verdict | None) -> bool:
    """A verdict that blames a card (not software, user code or an unknown cause)."""
    return verdict is not None and verdict.component in HARDWARE and verdict.action in HARDWARE_ACTIONS


def decide(
    verdict: Verdict | None,
    symptom: Symptom,
    card: tuple[str, int] | None,
    restarts_used: int,
    max_restarts: int,
    allow_shrink: bool,
    repeats_on_card: int,
    breaker: CircuitBreaker,
    total_cards: int,
    now: float,
) -> Decision:
    """The next step for the job after an incident.

    Args:
        card: (node, local slot) of the culprit, when localized.
        repeats_on_card: earlier incidents in this run that named the same card.
    """
    if verdict is not None and verdict.action is Action.CHECK_USER_CODE:
        return Decision(
            Step.STOP,
            Action.CHECK_USER_CODE,
            "the fault is in the training code or its configuration: restarting cannot fix it",
        )
    hardware = is_hardware(verdict)
    repeat = card is not None and repeats_on_card >= 1
    if card is not None and (hardware or repeat):
        why = (
            f"hardware verdict ({verdict.fault if verdict else '?'}) on card {card[0]}:{card[1]}"
            if hardware
            else f"card {card[0]}:{card[1]} was the culprit of {repeats_on_card + 1} incidents in this run"
        )
        action = verdict.action if hardware and verdict is not None else Action.RESET_CARD
        if not allow_shrink:
            return Decision(
                Step.STOP,
                action,
                f"{why}; rerun with --allow-shrink to go on without it, or replace the card",
            )
        if not breaker.allows(total_cards, now):
            return Decision(
                Step.STOP,
                action,
                f"{why}; circuit breaker: excluding another card would pass {breaker.max_share:.0%} of cards",
            )
        if restarts_used >= max_restarts:
            return Decision(Step.STOP, action, f"{why}; restart budget ({max_restarts}) spent")
        return Decision(Step.RESTART_WITHOUT_CARD, action, f"{why}; restarting without it", exclude=card)
    if restarts_used >= max_restarts:
        return Decision(
            Step.STOP,
            Action.RESTART_JOB,
            f"restart budget spent ({restarts_used} of {max_restarts} restarts used)",
        )
    return Decision(
        Step.RESTART, Action.RESTART_JOB, "restarting all ranks from the newest complete checkpoint"
    )
