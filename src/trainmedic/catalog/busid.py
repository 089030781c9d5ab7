"""PCI bus ids as logs write them, and one canonical form to compare them.

Kernel and driver lines spell the same card several ways (`0000:09:00`, `0000:09:00.0`,
`00000000:09:00.0`, `PCI:0000:09:00`); rules capture the id as written, and everyone who compares
ids (diagnose, the agent, the simulator) goes through `normalize_bus_id()`.
"""

from __future__ import annotations

import re

_BUS_ID = re.compile(
    r"^(?:PCI:)?(?:(?P<domain>[0-9a-fA-F]{1,8}):)?(?P<bus>[0-9a-fA-F]{2}):(?P<dev>[0-9a-fA-F]{2})"
    r"(?:\.(?P<fn>[0-7]))?$"
)


def normalize_bus_id(bus_id: str, keep_function: bool = False) -> str | None:
    """The canonical form `dddd:bb:dd` (lower case, 4-digit domain), or None if `bus_id` is not one.

    The function number is dropped unless `keep_function` (then `dddd:bb:dd.f`, `.0` if absent),
    because NVIDIA's Xid lines omit it while `lspci` and NVML include it: both name the same card.

    >>> normalize_bus_id("PCI:0000:09:00") == normalize_bus_id("00000000:09:00.0") == "0000:09:00"
    True
    """
    m = _BUS_ID.match(bus_id.strip())
    if m is None:
        return None
    domain = int(m.group("domain") or "0", 16)
    if domain > 0xFFFF:
        return None
    out = f"{domain:04x}:{m.group('bus').lower()}:{m.group('dev').lower()}"
    if keep_function:
        out += f".{m.group('fn') or '0'}"
    return out


def same_card(a: str, b: str) -> bool:
    """True when two bus ids, in any of the written forms, name the same PCI device."""
    na, nb = normalize_bus_id(a), normalize_bus_id(b)
    return na is not None and na == nb
