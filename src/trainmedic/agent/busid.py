"""PCI bus id normalization for matching kernel-log lines to cards: the catalog's normalizer, keeping
the function number (a GPU's other PCI functions, .1 audio/.2 USB, are not the card itself)."""

from __future__ import annotations

from trainmedic.catalog.busid import normalize_bus_id as _normalize


def normalize_bus_id(text: str | None) -> str | None:
    """'0000:09:00', '00000000:09:00.0', 'PCI:0000:09:00' -> '0000:09:00.0'; None if not a bus id."""
    if not text:
        return None
    return _normalize(text, keep_function=True)
