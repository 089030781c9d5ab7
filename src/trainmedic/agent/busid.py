"""PCI bus id normalization for matching kernel-log lines to cards.

Private to the agent until `trainmedic.catalog.busid.normalize_bus_id` lands on main (the catalog
engineer owns that one); then this module should delegate to it.
"""

from __future__ import annotations

import re

_BUS = re.compile(
    r"^(?:(?P<domain>[0-9a-fA-F]{1,8}):)?(?P<bus>[0-9a-fA-F]{1,2}):(?P<dev>[0-9a-fA-F]{1,2})(?:\.(?P<fn>[0-7]))?$"
)


def normalize_bus_id(text: str | None) -> str | None:
    """'0000:09:00', '00000000:09:00.0', 'PCI:0000:09:00', '09:00.0' -> '0000:09:00.0'; None if not a bus id.

    NVML prints an 8-digit domain, the kernel a 4-digit one, NVRM Xid lines omit the function: all of
    them name the same card, so they compare equal after this.
    """
    if not text:
        return None
    s = text.strip()
    if s.upper().startswith("PCI:"):
        s = s[4:]
    m = _BUS.match(s)
    if m is None:
        return None
    domain = int(m.group("domain") or "0", 16)
    if domain > 0xFFFF:
        return None
    return f"{domain:04x}:{int(m.group('bus'), 16):02x}:{int(m.group('dev'), 16):02x}.{m.group('fn') or '0'}"
