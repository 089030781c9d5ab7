"""Which faults the simulator can inject, and how one is drawn: scenarios, catalog rules chosen
dynamically (the catalog grows on its own), and the default mix from the Llama 3 interruption table.

Used by `sim.plan` (to decide a job's fault) and by `trainmedic sim logs --list-faults`.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from trainmedic.catalog import Catalog, Rule
from trainmedic.model import Component, KnownFault


class Scenario(enum.StrEnum):
    """How an incident shows in the logs (SIM_FORMAT.md's `scenario`)."""

    LINE_FAULT = "line_fault"
    SILENT_HANG = "silent_hang"
    NODE_LOST = "node_lost"
    STRAGGLER = "straggler"
    NAN = "nan"
    USER_EXCEPTION = "user_exception"
    DOUBLE_FAULT = "double_fault"
    CRASH_NO_LINE = "crash_no_line"


# Faults that no single line names: scenario -> (fault id, component).
LINELESS: dict[Scenario, tuple[KnownFault, Component]] = {
    Scenario.SILENT_HANG: (KnownFault.HANG, Component.UNKNOWN),
    Scenario.NODE_LOST: (KnownFault.NODE_LOST, Component.HOST),
    Scenario.STRAGGLER: (KnownFault.STRAGGLER, Component.ACCELERATOR),
    Scenario.NAN: (KnownFault.NAN, Component.ACCELERATOR),
    Scenario.USER_EXCEPTION: (KnownFault.USER_EXCEPTION, Component.USER),
    Scenario.CRASH_NO_LINE: (KnownFault.CRASH, Component.UNKNOWN),
}
BY_KNOWN_FAULT = {str(f): s for s, (f, _) in LINELESS.items()}

# Families of other vendors' accelerators: their lines cannot appear on an NVIDIA job.
_FOREIGN = {"nvidia": ("ascend", "npu", "hccl", "amd", "rocm", "habana", "gaudi")}


@dataclass(frozen=True, slots=True)
class MixEntry:
    """One row of the Llama 3 table (Grattafiori et al. 2024, Table 5) and how the simulator plays it."""

    category: str
    count: int
    scenario: Scenario
    components: tuple[Component, ...] = ()
    keywords: tuple[str, ...] = ()
    prefer: tuple[str, ...] = ()


# The 419 unexpected interruptions of Llama 3 405B pre-training (published-results.md §1.1), by count.
# Rows with a hardware culprit that logs a line become line faults on rules of the given components
# (keywords narrow the choice when such rules exist); the others become the line-less scenarios.
LLAMA3_MIX: tuple[MixEntry, ...] = (
    MixEntry("Faulty GPU", 118, Scenario.LINE_FAULT, (Component.ACCELERATOR,), (), ("nvidia.xid.79",)),
    MixEntry("Faulty GPU (no line: process killed)", 15, Scenario.CRASH_NO_LINE),
    MixEntry("Faulty GPU (stuck, no line)", 15, Scenario.SILENT_HANG),
    MixEntry("GPU HBM3 Memory", 72, Scenario.LINE_FAULT, (Component.MEMORY,), ("hbm", "ecc", "remap", "dbe")),
    MixEntry("Software Bug (library)", 27, Scenario.LINE_FAULT, (Component.SOFTWARE,)),
    MixEntry("Software Bug (on every rank)", 27, Scenario.USER_EXCEPTION),
    MixEntry("Network Switch/Cable", 35, Scenario.LINE_FAULT, (Component.NETWORK,)),
    MixEntry("Host Maintenance", 32, Scenario.NODE_LOST),
    MixEntry("GPU SRAM Memory", 19, Scenario.LINE_FAULT, (Component.MEMORY, Component.ACCELERATOR), ("sram",)),
    MixEntry("GPU System Processor", 17, Scenario.LINE_FAULT, (Component.DRIVER,), ("gsp",)),
    MixEntry("NIC", 7, Scenario.LINE_FAULT, (Component.NIC,)),
    MixEntry("NCCL Watchdog Timeouts", 7, Scenario.SILENT_HANG),
    MixEntry("Silent Data Corruption", 6, Scenario.NAN),
    MixEntry("GPU Thermal Interface + Sensor", 6, Scenario.STRAGGLER),
    MixEntry("SSD", 3, Scenario.LINE_FAULT, (Component.STORAGE,)),
    MixEntry("Power Supply", 3, Scenario.NODE_LOST),
    MixEntry("Server Chassis", 2, Scenario.NODE_LOST),
    MixEntry("IO Expansion Board", 2, Scenario.LINE_FAULT, (Component.PCIE,)),
    MixEntry("Dependency", 2, Scenario.LINE_FAULT, (Component.SOFTWARE,)),
    MixEntry("CPU", 2, Scenario.LINE_FAULT, (Component.HOST,), ("mce", "cpu", "machine check")),
    MixEntry("System Memory", 2, Scenario.LINE_FAULT, (Component.HOST,), ("edac", "dimm", "memory")),
)
assert sum(e.count for e in LLAMA3_MIX) == 419


class UnknownFaultError(ValueError):
    """`--fault` named nothing the simulator knows; the message lists what it does know."""


def injectable(rule: Rule, vendor: str = "nvidia") -> bool:
    """A root rule whose line can appear in a job's logs (kernel or rank output) on this vendor's cards."""
    if rule.role != "root" or not ({"kernel", "job"} & set(rule.seen_in)) or not rule.examples:
        return False
    name = f"{rule.family} {rule.id}".lower()
    return not any(word in name for word in _FOREIGN.get(vendor, ()))


def injectable_rules(catalog: Catalog, vendor: str = "nvidia") -> list[Rule]:
    """Every catalog root rule the simulator can inject, sorted by id (deterministic draws)."""
    return sorted((r for r in catalog.roots() if injectable(r, vendor)), key=lambda r: r.id)


def _text_of(rule: Rule) -> str:
    return f"{rule.id} {rule.title} {rule.fault}".lower()


def rules_for(entry: MixEntry, rules: Sequence[Rule]) -> list[Rule]:
    """The rules that can play a mix row: its components, narrowed by keywords where any match."""
    pool = [r for r in rules if r.component in entry.components] if entry.components else list(rules)
    if entry.keywords:
        narrowed = [r for r in pool if any(k in _text_of(r) for k in entry.keywords)]
        if narrowed:
            pool = narrowed
    return pool


def pick_rule(entry: MixEntry, rules: Sequence[Rule], rng: random.Random) -> Rule:
    """A rule for a line-fault row: a preferred well-known id half the time when present, else any
    matching rule; when the catalog has none for the row, any injectable rule."""
    pool = rules_for(entry, rules) or list(rules)
    if not pool:
        raise UnknownFaultError("the fault catalog has no injectable root rule")
    preferred = [r for r in pool if r.id in entry.prefer]
    if preferred and rng.random() < 0.5:
        return rng.choice(preferred)
    return rng.choice(pool)


def draw_mix_entry(rng: random.Random, mix: Sequence[MixEntry] = LLAMA3_MIX) -> MixEntry:
    """One row of the mix, with probability proportional to its count."""
    return rng.choices(list(mix), weights=[e.count for e in mix], k=1)[0]


@dataclass(frozen=True, slots=True)
class FaultChoice:
    """What to inject: a scenario, and for line faults the rule (and for double faults the second)."""

    scenario: Scenario
    rule: Rule | None = None
    second: Rule | None = None
    category: str = ""


def resolve(
    spec: str, catalog: Catalog, rng: random.Random, vendor: str = "nvidia",
    draw: Callable[[random.Random], MixEntry] = draw_mix_entry,
) -> FaultChoice:
    """Turn `--fault` (a rule id, a fault id, a scenario name, a KnownFault id or `random`) into a choice.

    Raises:
        UnknownFaultError: nothing matches `spec`; the message lists the valid names.
    """
    rules = injectable_rules(catalog, vendor)
    spec = spec.strip()
    if spec == "random":
        entry = draw(rng)
        if entry.scenario is Scenario.LINE_FAULT:
            return FaultChoice(Scenario.LINE_FAULT, pick_rule(entry, rules, rng), category=entry.category)
        return FaultChoice(entry.scenario, category=entry.category)
    if spec in Scenario.__members__.values():
        scenario = Scenario(spec)
        if scenario is Scenario.LINE_FAULT:
            entry = draw_line_entry(rng)
            return FaultChoice(scenario, pick_rule(entry, rules, rng), category=entry.category)
        if scenario is Scenario.DOUBLE_FAULT:
            first = pick_rule(draw_line_entry(rng), rules, rng)
            return FaultChoice(scenario, first, pick_rule(draw_line_entry(rng), rules, rng), "two at once")
        return FaultChoice(scenario)
    if spec in BY_KNOWN_FAULT:
        return FaultChoice(BY_KNOWN_FAULT[spec])
    rule = catalog.get(spec)
    if rule is not None:
        if rule.role != "root" or not ({"kernel", "job"} & set(rule.seen_in)) or not rule.examples:
            raise UnknownFaultError(
                f"rule {spec} cannot start an incident in a job (role {rule.role}, seen in "
                f"{', '.join(rule.seen_in)}); pick a root rule seen in kernel or job logs (`--list-faults`)"
            )
        return FaultChoice(Scenario.LINE_FAULT, rule)
    by_fault = [r for r in rules if r.fault == spec]
    if by_fault:
        return FaultChoice(Scenario.LINE_FAULT, rng.choice(by_fault))
    close = sorted(r.id for r in rules if spec.lower() in r.id.lower())[:8]
    names = ", ".join([*[str(s) for s in Scenario], *BY_KNOWN_FAULT])
    hint = f" Rules with similar ids: {', '.join(close)}." if close else ""
    raise UnknownFaultError(
        f"unknown fault {spec!r}. Valid: random, a scenario or known fault ({names}), or one of "
        f"{len(rules)} catalog rule ids (see `trainmedic sim logs --list-faults`).{hint}"
    )


def draw_line_entry(rng: random.Random) -> MixEntry:
    """A mix row restricted to line faults (used for line_fault and double_fault draws)."""
    rows = [e for e in LLAMA3_MIX if e.scenario is Scenario.LINE_FAULT]
    return draw_mix_entry(rng, rows)


def list_faults(catalog: Catalog, vendor: str = "nvidia") -> dict[str, object]:
    """Everything `--fault` accepts, for `--list-faults`."""
    rules = injectable_rules(catalog, vendor)
    return {
        "scenarios": [str(s) for s in Scenario],
        "known_faults": {f: str(s) for f, s in BY_KNOWN_FAULT.items()},
        "rules": [
            {"id": r.id, "fault": r.fault, "component": str(r.component), "seen_in": list(r.seen_in), "title": r.title}
            for r in rules
        ],
        "mix": [
            {"category": e.category, "count": e.count, "scenario": str(e.scenario),
             "rules": len(rules_for(e, rules)) if e.scenario is Scenario.LINE_FAULT else 0}
            for e in LLAMA3_MIX
        ],
    }
