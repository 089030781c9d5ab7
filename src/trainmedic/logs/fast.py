"""The compiled line readers (`trainmedic.logs._fastlog`, built from `csrc/` at install), or
None where they were not built (no C compiler) or `TRAINMEDIC_PURE_PYTHON=1` asks for the Python
code. Either way the answers are the same; the compiled ones are several times faster.
"""

from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("TRAINMEDIC_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from trainmedic.logs import _fastlog
    except ImportError:
        return None
    return _fastlog


FAST = _load()
