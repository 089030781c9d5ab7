"""Turn a catalog rule's example line into the line the culprit really logs: its own bus id (written
in the example's own form), pid, rank and clock, with the example's timestamp prefix removed.

The result is checked against the rule's own pattern; a variation that stops matching falls back to
the example as written, so an injected line always carries its rule. Used by `sim.plan`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from trainmedic.catalog import Example, Rule
from trainmedic.model import Card

# Prefixes real captures carry before the message: dmesg raw/-T, dmesg --decode iso, kmsg, syslog,
# journal short-iso, python logging asctime. The simulator writes its own prefix instead.
_KERNEL_PREFIXES = (
    re.compile(r"^\[\s*\d+\.\d+\]\s?"),
    re.compile(r"^\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\]\s?"),
    re.compile(r"^kern\s*:\s*\w+\s*:\s*\S+\s+"),
    re.compile(r"^\d+,\d+,\d+,[-c];"),
    re.compile(r"^\w{3}\s+\d+ \d\d:\d\d:\d\d \S+ kernel: (?:\[\s*\d+\.\d+\]\s?)?"),
    re.compile(r"^\d{4}-\d\d-\d\dT\S+ \S+ kernel: (?:\[\s*\d+\.\d+\]\s?)?"),
)
_RANK_PREFIX = re.compile(r"^\[rank\d+\]:")
_GLOG_TIME = re.compile(r"(?<=\[)[EWIF]\d{4} \d\d:\d\d:\d\d\.\d+")
_PYLOG_TIME = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[,.]\d+")
_PID = re.compile(r"(?<=pid[=: ])\d+|(?<=pid=')\d+|(?<=\[)\d+(?=\]: )")
_NCCL_PREFIX = re.compile(r"^[\w.-]+:\d+:\d+ \[\d+\] (?=NCCL )")
_ADDRESS = re.compile(r"(?<![\w-])(0x)?(?=[0-9]*[a-f])([0-9a-f]{8,16})(?![\w-])")
_RANK_WORDS = re.compile(r"(?<=\[rank)\d+(?=\])|(?<=\[Rank )\d+(?=\])|(?<=\brank )\d+\b|(?<=\brank=)\d+")


@dataclass(frozen=True, slots=True)
class Rendered:
    """An injected line, where it goes and whether the variation held."""

    text: str
    where: str
    bus_id: str | None
    varied: bool


def bus_id_like(example: str, bus_id: str) -> str:
    """`bus_id` ("00000000:18:00.0") written the way `example` writes its bus id.

    Handles domain width (none, 4 or 8 digits), the function suffix, letter case and NCCL's packed
    form ("18000", as in `busId 18000`).
    """
    domain, bus, rest = bus_id.split(":")
    dev, _, fn = rest.partition(".")
    upper = any(c.isupper() for c in example if c.isalpha())
    lower = any(c.islower() for c in example if c.isalpha())
    if ":" not in example:
        out = f"{int(domain + bus + dev + (fn or '0'), 16):x}"
        return out.upper() if upper and not lower else out.lower()
    parts = example.split(":")
    if len(parts) == 3:
        width = len(parts[0])
        dom = f"{int(domain, 16):0{width}x}"
        out = f"{dom}:{bus}:{dev}"
    else:
        out = f"{bus}:{dev}"
    if "." in example.rsplit(":", 1)[-1]:
        out += f".{fn or '0'}"
    if not upper and not lower:  # digits only: nvidia-smi writes 8-digit domains in upper case
        upper = len(parts) == 3 and len(parts[0]) == 8
    return out.upper() if upper and not lower else out.lower()


def _hex_like(old: str, rng: random.Random) -> str:
    """A random hex number shaped like `old`: same length, leading zeros and first two digits (so a
    user-space address still reads 00007f...), the rest random."""
    keep = len(old) - len(old.lstrip("0")) + 2
    return old[:keep] + "".join(rng.choice("0123456789abcdef") for _ in range(len(old) - keep))


def strip_kernel_prefix(text: str) -> str:
    """The message of a kernel line, without whatever timestamp or syslog prefix it was captured with."""
    for pat in _KERNEL_PREFIXES:
        m = pat.match(text)
        if m:
            return text[m.end() :]
    return text


def _substitute_group(rule: Rule, text: str, group: str, value_for: dict[str, str]) -> str | None:
    """Replace the span of named group `group` (found with the rule's own pattern) by value_for(text)."""
    for pattern in rule.patterns:
        m = pattern.search(text)
        if m is None or group not in pattern.groupindex or m.group(group) is None:
            continue
        old = m.group(group)
        new = value_for.get(old)
        if new is None:
            return None
        start, end = m.span(group)
        # The same id often appears again on the line (e.g. "GPU 0000:b3:00.0" twice): change all copies.
        return (text[:start] + new + text[end:]).replace(old, new)
    return None


def render(rule: Rule, example: Example, *, where: str, card: Card, rank: int, pid: int, t_glog: str,
           t_pylog: str, rng: random.Random) -> Rendered:
    """The culprit's version of `example`.

    Args:
        where: "kernel" (the message only; the writer adds the node's prefix) or "job" (a rank's line).
        card: the culprit card; its bus id replaces the example's.
        rank, pid: the culprit rank and its process id.
        t_glog, t_pylog: the culprit's clock at injection, in glog and python-logging form.
    """
    original = example.text.splitlines()[0] if example.text else example.text
    text = strip_kernel_prefix(original) if where == "kernel" else original
    if where == "kernel" and not rule.search(text):
        text = original
    varied = text
    bus = None
    if card.bus_id:
        for pattern in rule.patterns:
            m = pattern.search(varied)
            if m is not None and "bus_id" in pattern.groupindex and m.group("bus_id"):
                old = m.group("bus_id")
                bus = bus_id_like(old, card.bus_id)
                sub = _substitute_group(rule, varied, "bus_id", {old: bus})
                if sub is not None:
                    varied = sub
                break
    varied = _PID.sub(lambda m: m.group(0) if m.group(0) == "0" else str(pid), varied)
    addresses = _ADDRESS.sub(lambda m: (m.group(1) or "") + _hex_like(m.group(2), rng), varied)
    if rule.search(addresses) is not None and (bus is None or bus in addresses):
        varied = addresses
    if where == "job":
        varied = _RANK_WORDS.sub(str(rank), varied)
        varied = _NCCL_PREFIX.sub(f"{card.node}:{pid}:{pid + 41 + card.index} [{card.index}] ", varied)
        varied = _GLOG_TIME.sub(lambda m: m.group(0)[0] + t_glog[1:], varied)
        varied = _PYLOG_TIME.sub(t_pylog, varied)
        if not _RANK_PREFIX.match(varied) and not _PYLOG_TIME.match(varied):
            prefixed = f"[rank{rank}]: {varied}"
            if rule.search(prefixed) is not None:
                varied = prefixed
    if rule.search(varied) is not None:
        return Rendered(varied, where, bus, True)
    return Rendered(text, where, None, False)
